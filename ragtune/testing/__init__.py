"""ragtune.testing"""
