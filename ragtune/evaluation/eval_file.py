"""The evaluation file of ``ragtune compare``: one JSON object per line.

``{"question": ..., "answer": ..., "sources": ["file name", ...], "update": false}``;
``sources`` (the documents that hold the answer) is optional. Lines with
``"update": true`` ask about *new facts*: they are left out of the main
evaluation and used to measure update cost once those facts are added.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragtune.errors import InputError


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


def load_eval(path: str | Path) -> list[EvalItem]:
    """Read an evaluation JSONL file.

    Raises:
        InputError: the file is missing or empty, or a line is not a valid item (the message names the line).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InputError(f"Evaluation file {path} not found.", path=str(path)) from exc
    items: list[EvalItem] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(EvalItem.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            msg = (
                f"{path} line {number}: expected a JSON object with question and answer "
                f"(and optional sources, update): {exc}. Fix the line."
            )
            raise InputError(msg, path=str(path), line=number) from exc
    if not any(not item.update for item in items):
        raise InputError(f'{path}: no evaluation questions (lines without "update": true).', path=str(path))
    return items


__all__ = ["EvalItem", "load_eval"]
