"""Token counts and training cost of a fine-tuning data set.

Counts follow OpenAI's chat accounting (3 tokens per message, 1 per name,
3 to prime the reply), with the target model's own tokenizer; limits come from
the target model's context window unless a smaller limit is configured.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


def count_chat_tokens(chat: dict[str, Any], count: Callable[[str], int]) -> int:
    """Tokens of one chat record (messages, tool calls and tool definitions)."""
    total = REPLY_PRIMING
    for message in chat.get("messages") or ():
        if not isinstance(message, dict):
            continue
        total += TOKENS_PER_MESSAGE
        for key in ("role", "content"):
            value = message.get(key)
            if isinstance(value, str):
                total += count(value)
        if isinstance(message.get("name"), str):
            total += TOKENS_PER_NAME + count(message["name"])
        for key in ("tool_calls", "function_call"):
            if message.get(key):
                total += count(json.dumps(message[key]))
    if chat.get("tools"):
        total += count(json.dumps(chat["tools"]))
    return total


class TokenStats(BaseModel):
    """Token totals of the kept examples."""

    total: int = 0
    """Tokens of every kept example (train and validation)."""
    train: int = 0
    """Tokens of the training split: what one epoch bills."""
    val: int = 0
    max_example: int = 0
    mean_example: float = 0.0
    limit: int = 0
    """Per-example limit used: the target model's context window or the configured maximum."""
    epochs: int = 1
    billed: int = 0
    """``train * epochs``: the tokens a fine-tuning job is charged for."""


__all__ = ["REPLY_PRIMING", "TOKENS_PER_MESSAGE", "TokenStats", "count_chat_tokens"]
