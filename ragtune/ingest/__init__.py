"""ragtune.ingest"""
