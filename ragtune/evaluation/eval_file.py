"""The evaluation file of ``ragtune compare``: one JSON object per line.

``{"question": ..., "answer": ..., "sources": ["file name", ...], "update": false, "expect": {...}}``;
``sources`` (the documents that hold the answer) and ``expect`` (behaviour requirements, see
:mod:`ragtune.evaluation.expect`) are optional. Lines with ``"update": true`` ask about *new
facts*: they are left out of the main evaluation and used to measure update cost once those facts
are added.

A bad line (not JSON, a missing field, an unknown ``expect`` key, an invalid schema, a label list
without the line's answer) is reported with its line number and key, and the rest of the file is
still evaluated (:func:`read_eval`); :func:`load_eval` is the strict form that raises on the first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragtune.errors import InputError
from ragtune.evaluation.expect import Expect, ExpectError, label_correct, parse_expect
from ragtune.jsonl import numbered_lines


class EvalItem(BaseModel):
    """One evaluation question with its reference answer."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    """Reference answer (short: exact match and token F1 compare against it)."""
    sources: list[str] = Field(default_factory=list)
    """File names (or trailing paths) of the documents that hold the answer."""
    update: bool = False
    """True for questions about new facts, used only by the update-cost phase."""
    expect: Expect | None = None
    """Behaviour requirements of this line (its own, or the ``--expect`` file's)."""


class EvalLineError(BaseModel):
    """One line that could not be used, and why (``key``: the offending key, when one is to blame)."""

    path: str
    line: int
    key: str | None = None
    message: str

    def describe(self) -> str:
        return self.message


class EvalFile(BaseModel):
    """The usable lines of an evaluation file and the errors of the others."""

    items: list[EvalItem] = Field(default_factory=list)
    errors: list[EvalLineError] = Field(default_factory=list)


def load_expect(path: str | Path) -> Expect:
    """Read an ``--expect`` file: one JSON ``expect`` object.

    Raises:
        InputError: the file is missing, not JSON, or not a valid ``expect`` (the message names the key).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"Expect file {path} not found.", path=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON ({exc}); write one expect object.", path=str(path)) from exc
    try:
        return parse_expect(data)
    except ExpectError as exc:
        raise InputError(f"{path}: {exc}. Fix the key.", path=str(path), code=exc.key) from exc


def _item(data: Any, default: Expect | None) -> EvalItem:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    raw = data.get("expect")
    expect = parse_expect(raw) if raw is not None else default
    item = EvalItem.model_validate({**{k: v for k, v in data.items() if k != "expect"}, "expect": None})
    if (
        expect is not None
        and expect.labels is not None
        and not any(label_correct(expect, label, item.answer) for label in expect.labels)
    ):
        raise ExpectError(
            "labels",
            f'"expect" key "labels" does not contain the line\'s answer "{item.answer}"; add it or fix the answer',
        )
    return item.model_copy(update={"expect": expect})


def read_eval(path: str | Path, expect: Expect | None = None) -> EvalFile:
    """Read an evaluation JSONL file, keeping every usable line and an error for each other one.

    Args:
        path: the file.
        expect: applied to every line that has no ``expect`` of its own (``--expect``).

    Raises:
        InputError: the file is missing, or no line is a usable evaluation question (the
            message lists the line errors).
    """
    path = Path(path)
    out = EvalFile()
    for number, line in numbered_lines(path, "Evaluation file"):
        try:
            out.items.append(_item(json.loads(line), expect))
        except ExpectError as exc:
            msg = f"{path} line {number}, key {exc.key!r}: {exc}. Fix the line; the other lines are evaluated."
            out.errors.append(EvalLineError(path=str(path), line=number, key=exc.key, message=msg))
        except (json.JSONDecodeError, ValidationError, ValueError) as exc:
            key = None
            if isinstance(exc, ValidationError) and exc.errors() and exc.errors()[0]["loc"]:
                key = str(exc.errors()[0]["loc"][0])
            msg = (
                f"{path} line {number}{f', key {key!r}' if key else ''}: expected a JSON object with question and "
                f"answer (and optional sources, update, expect): {exc}. Fix the line."
            )
            out.errors.append(EvalLineError(path=str(path), line=number, key=key, message=msg))
    if not any(not item.update for item in out.items):
        details = " ".join(e.message for e in out.errors[:5])
        msg = f'{details} {path}: no usable evaluation questions (lines without "update": true) are left.'.strip()
        raise InputError(msg, path=str(path), line=out.errors[0].line if out.errors else None)
    return out


def load_eval(path: str | Path, expect: Expect | None = None) -> list[EvalItem]:
    """Read an evaluation JSONL file, strictly.

    Raises:
        InputError: the file is missing or empty, or a line is not a valid item (the message names the line and key).
    """
    read = read_eval(path, expect)
    if read.errors:
        first = read.errors[0]
        raise InputError(first.message, path=first.path, line=first.line, code=first.key)
    return read.items


__all__ = ["EvalFile", "EvalItem", "EvalLineError", "load_eval", "load_expect", "read_eval"]
