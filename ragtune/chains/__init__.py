"""ragtune.chains"""
