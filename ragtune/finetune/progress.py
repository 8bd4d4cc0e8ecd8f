"""Progress events of the fine-tuning steps: :mod:`ragtune.progress` plus metrics.

Library functions take ``progress: ProgressCallback | None`` and call it with
a :class:`ProgressEvent`; they never print. The CLI passes
:func:`ragtune.cli.common.progress_bar`, which draws one rich bar per phase on
stderr; a notebook can pass anything callable.
"""

from __future__ import annotations

from pydantic import Field

from ragtune.progress import ProgressCallback
from ragtune.progress import ProgressEvent as _ProgressEvent


class ProgressEvent(_ProgressEvent):
    """``done`` of ``total`` units of ``phase``, with the step's metrics (loss, validation loss, epoch)."""

    metrics: dict[str, float] = Field(default_factory=dict)

    @property
    def completed(self) -> int:
        """Alias of ``done``."""
        return self.done

    @property
    def stage(self) -> str:
        """Alias of ``phase``."""
        return self.phase


def report(
    progress: ProgressCallback | None,
    phase: str,
    done: int = 0,
    total: int | None = None,
    message: str = "",
    **metrics: float,
) -> None:
    """Call ``progress`` if there is one (a no-op otherwise)."""
    if progress is not None:
        progress(ProgressEvent(phase=phase, done=done, total=total, message=message, metrics=metrics))


__all__ = ["ProgressCallback", "ProgressEvent", "report"]
