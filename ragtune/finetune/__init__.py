"""ragtune.finetune"""
