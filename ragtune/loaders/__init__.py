"""ragtune.loaders"""
