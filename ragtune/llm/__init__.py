"""ragtune.llm"""
