"""ragtune.agents"""
