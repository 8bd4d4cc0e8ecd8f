"""ragtune's own models for training data: what flows from collect to prepare to train.

A :class:`RawRecord` is one line (JSONL) or row (CSV) exactly as read, with
where it came from. Prepare turns it into an :class:`Example`: OpenAI chat
messages plus the provenance (source document, chunk, label) that the
freshness and evaluation steps need but OpenAI must not see.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict


class Shape(str, Enum):
    """The shape a record was recognised as."""

    CHAT = "chat"
    """OpenAI chat: ``{"messages": [{"role": ..., "content": ...}, ...]}`` (or ShareGPT ``conversations``)."""
    QA = "qa"
    """Question and answer: ``question``/``answer``, ``prompt``/``completion``, ``query``/``response``."""
    CLASSIFICATION = "classification"
    """A text and its label: ``text``/``label``."""
    INSTRUCTION = "instruction"
    """Alpaca style: ``instruction``, optional ``input``, ``output``."""
    UNKNOWN = "unknown"
    """None of the above; rejected with the keys found."""


class RawRecord(BaseModel):
    """One record exactly as read, or the reason it could not be parsed."""

    model_config = ConfigDict(extra="forbid")

    file: str
    """The file it was read from, as given."""
    line: int
    """1-based line where the record starts (for CSV: the row's first physical line)."""
    data: Any = None
    """The parsed value (a dict for well-formed records); ``None`` when parsing failed."""
    text: str | None = None
    """The raw line when it was not valid JSON, so rejects keep the record as read."""
    error: str | None = None
    """Why the line could not be parsed (invalid JSON, ...)."""

    @property
    def as_read(self) -> Any:
        """What a reject file shows: the parsed value, else the raw text."""
        return self.data if self.error is None else self.text


class Provenance(BaseModel):
    """Where an example came from: kept beside the OpenAI JSONL, line for line."""

    model_config = ConfigDict(extra="forbid")

    file: str
    line: int
    shape: Shape
    doc_id: str | None = None
    """Source document in the index (generated examples, or records that name one)."""
    chunk_id: str | None = None
    """Source chunk in the index, for examples generated from the corpus."""
    doc_hash: str | None = None
    """Content hash of the source document when the example was made."""
    label: str | None = None
    """The class label, for classification records."""
    tokens: int = 0
    """Tokens of the example as billed for fine-tuning."""


class Example(BaseModel):
    """One training example: OpenAI chat fine-tuning JSON plus provenance."""

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any]]
    """OpenAI chat messages (role, content, and optionally weight, tool_calls, name, tool_call_id)."""
    tools: list[dict[str, Any]] | None = None
    """Tool definitions for tool-calling examples."""
    parallel_tool_calls: bool | None = None
    source: Provenance

    def openai_json(self) -> dict[str, Any]:
        """The record as OpenAI's fine-tuning API reads it (no provenance)."""
        out: dict[str, Any] = {"messages": self.messages}
        if self.tools is not None:
            out["tools"] = self.tools
        if self.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = self.parallel_tool_calls
        return out

    @property
    def prompt_messages(self) -> list[dict[str, Any]]:
        """Every message before the last assistant turn: what a model is asked."""
        last = last_assistant_index(self.messages)
        return self.messages[:last] if last is not None else list(self.messages)

    @property
    def completion(self) -> str:
        """Content of the last assistant turn: the expected answer."""
        last = last_assistant_index(self.messages)
        if last is None:
            return ""
        content = self.messages[last].get("content")
        return content if isinstance(content, str) else ""


class Rejection(BaseModel):
    """One rejected record, as written to ``rejects.jsonl``."""

    model_config = ConfigDict(extra="forbid")

    file: str
    line: int
    """1-based line of the record in ``file``."""
    code: str
    """Stable machine-readable reason (``invalid_json``, ``missing_content``, ``duplicate`` ...)."""
    reason: str
    """What was wrong and how to fix it."""
    record: Any = None
    """The record as read."""


class ChatFixes(BaseModel):
    """How many formatting fixes of each kind were applied."""

    whitespace: int = 0
    markup: int = 0
    roles: int = 0
    keys: int = 0
    """ShareGPT ``from``/``value`` keys renamed to ``role``/``content``."""

    @property
    def total(self) -> int:
        return self.whitespace + self.markup + self.roles + self.keys


def last_assistant_index(messages: list[dict[str, Any]]) -> int | None:
    """Index of the last assistant message, or ``None``."""
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], dict) and messages[i].get("role") == "assistant":
            return i
    return None


__all__ = [
    "ChatFixes",
    "Example",
    "Provenance",
    "RawRecord",
    "Rejection",
    "Shape",
    "last_assistant_index",
]
