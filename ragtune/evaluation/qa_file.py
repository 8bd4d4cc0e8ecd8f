"""The question file of ``ragtune eval answers``: one JSON object per line.

``{"question": ..., "answers": ["gold", ...], "sources": ["file name", ...]}``;
``answers`` and ``sources`` are optional each (metrics that need them are then
skipped); a single ``"answer": "..."``, as in ``ragtune compare`` eval files,
counts as one gold answer. A broken line is reported with its file and line number and left
out; the other lines are still scored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragtune.errors import InputError
from ragtune.jsonl import numbered_lines


class QAItem(BaseModel):
    """One question, with gold answers and relevant sources when known."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    question: str = Field(min_length=1)
    answers: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    line: int = 0
    """Line of the file the item was read from (1-based)."""

    @model_validator(mode="before")
    @classmethod
    def _single_answer(cls, data: Any) -> Any:
        """Accept ``"answer": "..."`` (the ``ragtune compare`` eval format) as one gold answer."""
        if isinstance(data, dict) and "answers" not in data and isinstance(data.get("answer"), str):
            return {**data, "answers": [data["answer"]]}
        return data


class LineError(BaseModel):
    """A line that could not be read, and how to fix it."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path} line {self.line}: {self.reason}"


class QAFile(BaseModel):
    """The readable questions of a file and the lines that were not."""

    items: list[QAItem]
    errors: list[LineError] = Field(default_factory=list)


_EXPECTED = 'expected {"question": "...", "answers": ["..."], "sources": ["..."]} (answers, sources optional)'


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "line"
    return f"{where}: {first['msg']}; {_EXPECTED}"


def _parse(path: Path, number: int, line: str) -> QAItem | LineError:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return LineError(path=str(path), line=number, reason=f"not valid JSON ({exc.msg}); {_EXPECTED}")
    if not isinstance(data, dict):
        return LineError(path=str(path), line=number, reason=f"not a JSON object; {_EXPECTED}")
    try:
        return QAItem.model_validate({**data, "line": number})
    except ValidationError as exc:
        return LineError(path=str(path), line=number, reason=_reason(exc))


def load_qa(path: str | Path) -> QAFile:
    """Read a question file; broken lines are collected in ``errors``, not raised.

    Raises:
        InputError: the file is missing, or holds no readable question (empty, or every line broken).
    """
    path = Path(path)
    items: list[QAItem] = []
    errors: list[LineError] = []
    for number, line in numbered_lines(path, "Question file"):
        parsed = _parse(path, number, line)
        (items if isinstance(parsed, QAItem) else errors).append(parsed)  # type: ignore[arg-type]
    if not items:
        detail = "; ".join(str(e) for e in errors[:3]) if errors else "the file is empty"
        msg = f"{path}: no question to evaluate ({detail}). Add one JSON object per line: {_EXPECTED}."
        raise InputError(msg, path=str(path))
    return QAFile(items=items, errors=errors)


__all__ = ["LineError", "QAFile", "QAItem", "load_qa"]
