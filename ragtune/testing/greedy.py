"""The fixed greedy prompt set that local engines are compared on.

One list for the equality tests (float32 decoder against transformers), the block engine's
tests and ``benchmarks/generation_speed.py``, so every figure about "the fixed greedy set" means
the same five prompts.
"""

from __future__ import annotations

GREEDY_PROMPTS = (
    "What is the capital of France?",
    "Write a haiku about autumn.",
    "Explain what a vector database is in two sentences.",
    "List three uses of a hammer.",
    "Who wrote Romeo and Juliet?",
)

__all__ = ["GREEDY_PROMPTS"]
