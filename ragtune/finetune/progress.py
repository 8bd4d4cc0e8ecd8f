"""One progress protocol for every long fine-tuning step.

Library functions take ``progress: ProgressCallback | None`` and call it with
a :class:`ProgressEvent`; they never print. The CLI passes a callback that
drives a rich progress bar on stderr; a notebook can pass anything callable.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field


class ProgressEvent(BaseModel):
    """Where a long step stands."""

    model_config = ConfigDict(frozen=True)

    stage: str
    """``read``, ``dedupe``, ``write``, ``train``, ``eval``, ``poll``, ``generate`` ..."""
    completed: int = 0
    total: int | None = None
    """``None`` when the total is not known (a remote job's steps before it starts)."""
    message: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    """Loss, validation loss, epoch ... where the step has them."""


ProgressCallback = Callable[[ProgressEvent], None]


def report(
    progress: ProgressCallback | None,
    stage: str,
    completed: int = 0,
    total: int | None = None,
    message: str = "",
    **metrics: float,
) -> None:
    """Call ``progress`` if there is one (a no-op otherwise)."""
    if progress is not None:
        progress(ProgressEvent(stage=stage, completed=completed, total=total, message=message, metrics=metrics))


__all__ = ["ProgressCallback", "ProgressEvent", "report"]
