"""Training records for the fine-tuned arm: answers that already meet the requirement, never an evaluation question.

Each example becomes chat records the chain will later see in the same form:

* **without context**: the bare question, as the ``finetuned`` route asks it;
* **with context** (RAFT-style): the rag/hybrid prompt with the passages retrieved for the
  question (the passage the answer comes from always among them), so the same model, served
  with retrieval as the hybrid arm, has learned to answer *from passages* in the required form.

Generated pairs are *rendered* to the ``expect``: for ``format: json`` the answer fills the schema's
answer field and a source-like field gets the document's file name; a rendered answer that still
breaks a rule (a label outside the list, too many words, ...) is dropped and counted. The user's
own examples (``--train``) are taken as written and dropped the same way when they break a rule.
Any example whose question normalises to an evaluation question is dropped and counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragtune.errors import InputError
from ragtune.evaluation.answer_metrics import normalize_answer
from ragtune.evaluation.expect import Expect, check, example_object
from ragtune.jsonl import numbered_lines

if TYPE_CHECKING:
    from ragtune.chains.context import ContextBlock
    from ragtune.chains.prompt import Prompts

SOURCE_FIELDS = ("source", "sources", "document", "doc", "file", "filename")
"""Schema properties filled with the answer's document file name when rendering a JSON answer."""


@dataclass(frozen=True)
class Example:
    """One question with its answer (already in its final form) and the document it comes from."""

    question: str
    answer: str
    source: str = ""
    chunk_id: str | None = None


@dataclass
class Counts:
    """What was kept and dropped on the way to the training records."""

    read: int = 0
    excluded_eval_overlap: int = 0
    not_meeting_expect: int = 0
    with_context: int = 0
    without_context: int = 0
    no_context: int = 0
    """Examples whose passage could not be placed in a retrieved context (trained without context only)."""
    problems: list[str] = field(default_factory=list)


def render(expect: Expect | None, answer: str, source: str = "") -> str | None:
    """A generated answer in the required form, or ``None`` when it cannot meet every rule."""
    text = answer.strip()
    if expect is None:
        return text or None
    if expect.format == "json":
        name = expect.answer_field() or "answer"
        values: dict[str, Any] = {name: text}
        base = Path(source).name if source else ""
        for key in SOURCE_FIELDS:
            values[key] = [base] if key == "sources" else base
        obj = example_object(expect.json_schema or {}, values)
        if obj is None:
            obj = {name: text}
        text = json.dumps(obj, ensure_ascii=False)
    return text if all(check(expect, text).values()) else None


def read_train_file(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``--train`` JSONL file (question/answer, prompt/completion, instruction/output or chat).

    Raises:
        InputError: the file is missing, or a line is not a JSON object (the message names the line).
    """
    path = Path(path)
    records = []
    for number, line in numbered_lines(path, "Training file"):
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = f"{path} line {number}: not JSON ({exc}). Fix the line."
            raise InputError(msg, path=str(path), line=number) from exc
        if not isinstance(data, dict):
            raise InputError(f"{path} line {number}: expected a JSON object.", path=str(path), line=number)
        records.append(data)
    return records


def record_question(record: dict[str, Any]) -> str | None:
    """The question a training record asks: its question/prompt/instruction/text, or its last user message."""
    for key in ("question", "prompt", "instruction", "text", "input"):
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value
    messages = record.get("messages") or record.get("conversations")
    if isinstance(messages, list):
        users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        if users and isinstance(users[-1], str):
            return users[-1]
    return None


def record_answer(record: dict[str, Any]) -> str | None:
    """The answer a training record teaches: answer/completion/output/label, or its last assistant message."""
    for key in ("answer", "completion", "output", "response", "label"):
        value = record.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value)
    messages = record.get("messages") or record.get("conversations")
    if isinstance(messages, list):
        replies = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
        if replies and isinstance(replies[-1], str):
            return replies[-1]
    return None


def filter_examples(
    examples: Iterable[Example], exclude: Iterable[str], expect: Expect | None, counts: Counts
) -> list[Example]:
    """Drop examples that ask an evaluation question or whose answer breaks a rule; count both."""
    banned = {normalize_answer(q) for q in exclude}
    kept = []
    for example in examples:
        counts.read += 1
        if normalize_answer(example.question) in banned:
            counts.excluded_eval_overlap += 1
            continue
        if expect is not None and not all(check(expect, example.answer).values()):
            counts.not_meeting_expect += 1
            continue
        kept.append(example)
    return kept


def _messages(prompts: Prompts | None, question: str, blocks: Sequence[ContextBlock] | None) -> list[dict[str, str]]:
    if blocks is None or prompts is None:
        return [{"role": "user", "content": question}]
    from ragtune.chains.context import render_context

    roles = {"system": "system", "human": "user", "ai": "assistant"}
    formatted = prompts.answer.format_messages(context=render_context(blocks), question=question)
    return [{"role": roles.get(m.type, m.type), "content": str(m.content)} for m in formatted]


def chat_records(
    examples: Sequence[Example],
    prompts: Prompts | None,
    contexts: Sequence[tuple[Sequence[ContextBlock], str] | None],
    counts: Counts,
) -> list[dict[str, Any]]:
    """Chat records for ``finetune prepare``: each example without context, and with its context where it has one.

    ``contexts``: per example, the blocks to show and the answer to teach with them (the same
    answer, or with the citation marker of the block it comes from), or ``None``.
    """
    records: list[dict[str, Any]] = []
    for example, context in zip(examples, contexts, strict=True):
        reply = {"role": "assistant", "content": example.answer}
        records.append({"messages": [*_messages(None, example.question, None), reply]})
        counts.without_context += 1
        if context is not None and context[0]:
            blocks, answer = context
            cited = {"role": "assistant", "content": answer}
            records.append({"messages": [*_messages(prompts, example.question, blocks), cited]})
            counts.with_context += 1
        elif prompts is not None:
            counts.no_context += 1
    return records


__all__ = [
    "SOURCE_FIELDS",
    "Counts",
    "Example",
    "chat_records",
    "filter_examples",
    "read_train_file",
    "record_answer",
    "record_question",
    "render",
]
