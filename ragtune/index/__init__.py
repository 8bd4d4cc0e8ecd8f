"""ragtune.index"""
