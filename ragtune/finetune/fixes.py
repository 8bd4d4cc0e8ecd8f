"""Formatting fixes applied before validation, each one counted.

Fixes are the changes a person would make without asking: trimming and
collapsing whitespace, removing stray HTML tags and entities, standardising
role names (``human`` -> ``user``, ``bot``/``ai``/``gpt`` -> ``assistant``)
and renaming ShareGPT ``from``/``value`` keys. Anything that needs a decision
(an unknown role, empty content) is left for validation to reject.
"""

from __future__ import annotations

import html
import re
from typing import Any

from ragtune.finetune.records import ChatFixes

ROLE_ALIASES: dict[str, str] = {
    "human": "user",
    "user": "user",
    "customer": "user",
    "question": "user",
    "assistant": "assistant",
    "bot": "assistant",
    "ai": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "agent": "assistant",
    "chatgpt": "assistant",
    "system": "system",
    "sys": "system",
    "tool": "tool",
    "function": "function",
}
"""Lower-cased role names and the OpenAI role they stand for."""

_MARKUP_TAGS = "p|br|div|span|b|i|u|em|strong|font|small|big|center|html|body|head|li|ul|ol|hr|h[1-6]|a|sup|sub|tt"
_TAG_RE = re.compile(rf"</?(?:{_MARKUP_TAGS})(?:\s[^<>]*)?/?>", re.IGNORECASE)
_BLOCK_TAG_RE = re.compile(r"<(?:br|p|div|li|hr|h[1-6])(?:\s[^<>]*)?/?>", re.IGNORECASE)
_ENTITY_RE = re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{1,6}|#x[0-9a-fA-F]{1,6});")
_ODD_SPACE_RE = re.compile(r"[\u00a0\u200b\ufeff]")
_INNER_SPACES_RE = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")
_TRAILING_RE = re.compile(r"[ \t]+\n")
_MANY_NL_RE = re.compile(r"\n{3,}")


def fix_chat(chat: dict[str, Any], counts: ChatFixes) -> dict[str, Any]:
    """Return ``chat`` with its messages fixed; ``counts`` is incremented per fix.

    Non-dict messages and non-string contents are left untouched so that
    validation reports them as they were written.
    """
    messages = chat.get("messages")
    if not isinstance(messages, list):
        return chat
    fixed = []
    for message in messages:
        if not isinstance(message, dict):
            fixed.append(message)
            continue
        fixed.append(_fix_message(dict(message), counts))
    return {**chat, "messages": fixed}


def _fix_message(message: dict[str, Any], counts: ChatFixes) -> dict[str, Any]:
    if "role" not in message and "from" in message:
        message["role"] = message.pop("from")
        counts.keys += 1
    if "content" not in message and "value" in message:
        message["content"] = message.pop("value")
        counts.keys += 1
    role = message.get("role")
    if isinstance(role, str):
        standard = ROLE_ALIASES.get(role.strip().lower())
        if standard is not None and standard != role:
            message["role"] = standard
            counts.roles += 1
    content = message.get("content")
    if isinstance(content, str):
        message["content"] = fix_text(content, counts)
    return message


def fix_text(text: str, counts: ChatFixes) -> str:
    """Remove stray markup and normalise whitespace in one message content."""
    cleaned = text
    if "<" in cleaned or "&" in cleaned:
        unmarked = _BLOCK_TAG_RE.sub("\n", cleaned)
        unmarked = _TAG_RE.sub("", unmarked)
        if _ENTITY_RE.search(unmarked):
            unmarked = html.unescape(unmarked)
        if unmarked != cleaned:
            counts.markup += 1
            cleaned = unmarked
    spaced = cleaned.replace("\r\n", "\n").replace("\r", "\n")
    spaced = _ODD_SPACE_RE.sub(" ", spaced)
    if "```" not in spaced:  # leave code blocks' alignment alone; indentation is always kept
        spaced = _INNER_SPACES_RE.sub(" ", spaced)
    spaced = _TRAILING_RE.sub("\n", spaced)
    spaced = _MANY_NL_RE.sub("\n\n", spaced).strip()
    if spaced != cleaned:
        counts.whitespace += 1
    return spaced


__all__ = ["ROLE_ALIASES", "fix_chat", "fix_text"]
