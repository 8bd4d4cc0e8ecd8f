"""ragtune.retrievers"""
