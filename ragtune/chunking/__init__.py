"""ragtune.chunking"""
