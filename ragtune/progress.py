"""Progress reporting without printing: library code calls a callback.

The CLI passes one that drives a ``rich`` progress bar on stderr; notebooks
can pass one that drives ``tqdm``; tests can collect the events.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field


class ProgressEvent(BaseModel):
    """``done`` of ``total`` units of ``phase`` finished (``total`` is None when unknown).

    ``metrics`` carries a step's numbers where there are any (training loss, validation loss, epoch).
    """

    phase: str
    done: int
    total: int | None = None
    message: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)

    @property
    def completed(self) -> int:
        """Alias of ``done``."""
        return self.done

    @property
    def stage(self) -> str:
        """Alias of ``phase``."""
        return self.phase


ProgressCallback = Callable[[ProgressEvent], None]


def report(
    callback: ProgressCallback | None,
    phase: str,
    done: int = 0,
    total: int | None = None,
    message: str = "",
    **metrics: float,
) -> None:
    """Send one event if a callback was given (a no-op otherwise)."""
    if callback is not None:
        callback(ProgressEvent(phase=phase, done=done, total=total, message=message, metrics=metrics))


__all__ = ["ProgressCallback", "ProgressEvent", "report"]
