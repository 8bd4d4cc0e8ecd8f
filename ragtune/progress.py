"""Progress reporting without printing: library code calls a callback.

The CLI passes one that drives a ``rich`` progress bar on stderr; notebooks
can pass one that drives ``tqdm``; tests can collect the events.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel


class ProgressEvent(BaseModel):
    """``done`` of ``total`` units of ``phase`` finished (``total`` is None when unknown)."""

    phase: str
    done: int
    total: int | None = None
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


def report(
    callback: ProgressCallback | None, phase: str, done: int, total: int | None = None, message: str = ""
) -> None:
    """Send one event if a callback was given."""
    if callback is not None:
        callback(ProgressEvent(phase=phase, done=done, total=total, message=message))


__all__ = ["ProgressCallback", "ProgressEvent", "report"]
