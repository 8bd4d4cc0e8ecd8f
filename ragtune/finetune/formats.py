"""Recognise a record's shape and turn it into OpenAI chat messages.

Shapes are detected per record, so one file may mix them::

    {"messages": [...]}                              chat (also ShareGPT "conversations")
    {"question": ..., "answer": ...}                 qa (also prompt/completion, query/response)
    {"text": ..., "label": ...}                      classification
    {"instruction": ..., "input": ..., "output": ...} instruction

Keys that only describe where a record came from (``doc_id``, ``chunk_id``,
``doc_hash``, ``id``, ``source``, ``metadata``) are kept as provenance and
never sent to a fine-tuning API.
"""

from __future__ import annotations

from typing import Any

from ragtune.finetune.records import Provenance, Shape

QA_KEYS: tuple[tuple[str, str], ...] = (
    ("question", "answer"),
    ("prompt", "completion"),
    ("query", "response"),
    ("input", "output"),
)
"""(input, output) key pairs recognised as question-answer records, first match wins."""
INSTRUCTION_OUTPUT_KEYS = ("output", "response")
PROVENANCE_KEYS = frozenset({"id", "doc_id", "chunk_id", "doc_hash", "source", "metadata"})
CHAT_TOP_LEVEL_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})


class FormatProblem(Exception):
    """A record whose shape is recognised but whose fields cannot be used (internal)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def detect_shape(data: dict[str, Any]) -> Shape:
    """The shape of one parsed record (``UNKNOWN`` when no known keys are present)."""
    if "messages" in data or "conversations" in data:
        return Shape.CHAT
    if "instruction" in data and any(k in data for k in INSTRUCTION_OUTPUT_KEYS):
        return Shape.INSTRUCTION
    if "text" in data and "label" in data:
        return Shape.CLASSIFICATION
    if any(q in data and a in data for q, a in QA_KEYS):
        return Shape.QA
    return Shape.UNKNOWN


def to_chat(
    data: dict[str, Any], shape: Shape, *, file: str, line: int, system_prompt: str | None = None
) -> tuple[dict[str, Any], Provenance]:
    """Convert a record of a known shape to an OpenAI chat record plus provenance.

    The chat record is returned as a plain dict (``messages`` and, for chat
    records, any other top-level keys as read) so validation can see exactly
    what the user wrote.

    Raises:
        FormatProblem: a field has the wrong type or the shape is unknown.
    """
    provenance = Provenance(file=file, line=line, shape=shape, **_provenance_fields(data))
    if shape is Shape.CHAT:
        chat = {k: v for k, v in data.items() if k not in PROVENANCE_KEYS and k != "label"}
        if "messages" not in chat and "conversations" in chat:
            chat["messages"] = chat.pop("conversations")
        if "label" in data:
            provenance.label = _label(data["label"])
        return chat, provenance
    if shape is Shape.CLASSIFICATION:
        text = _text_field(data, "text")
        label = _label(data["label"])
        provenance.label = label
        return {"messages": _turns(system_prompt, text, label)}, provenance
    if shape is Shape.INSTRUCTION:
        instruction = _text_field(data, "instruction")
        extra = data.get("input")
        if extra is not None and not isinstance(extra, str):
            raise FormatProblem("wrong_type", f'"input" must be a string, got {type(extra).__name__}')
        prompt = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
        out_key = next(k for k in INSTRUCTION_OUTPUT_KEYS if k in data)
        return {"messages": _turns(system_prompt, prompt, _text_field(data, out_key))}, provenance
    if shape is Shape.QA:
        q_key, a_key = next((q, a) for q, a in QA_KEYS if q in data and a in data)
        question, answer = _text_field(data, q_key), _text_field(data, a_key)
        return {"messages": _turns(system_prompt, question, answer)}, provenance
    keys = ", ".join(sorted(map(str, data))) or "none"
    expected = "messages | question,answer | prompt,completion | text,label | instruction,output"
    raise FormatProblem("unknown_shape", f"unrecognised record shape (keys: {keys}); expected one of: {expected}")


def _turns(system_prompt: str | None, user: str, assistant: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": user})
    messages.append({"role": "assistant", "content": assistant})
    return messages


def _text_field(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        kind = "missing" if value is None else type(value).__name__
        raise FormatProblem("wrong_type", f'"{key}" must be a string, got {kind}')
    return value


def _label(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FormatProblem("wrong_type", f'"label" must be a string or integer, got {type(value).__name__}')
    return str(value).strip()


def _provenance_fields(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    for key in ("doc_id", "chunk_id", "doc_hash"):
        value = data.get(key, meta.get(key) if meta else None)
        if isinstance(value, (str, int)) and str(value):
            out[key] = str(value)
    return out


__all__ = ["CHAT_TOP_LEVEL_KEYS", "FormatProblem", "PROVENANCE_KEYS", "QA_KEYS", "detect_shape", "to_chat"]
