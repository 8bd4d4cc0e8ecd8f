"""ragtune.cli"""
