"""Progress events of the fine-tuning steps: the package-wide :mod:`ragtune.progress`.

Kept so that existing ``from ragtune.finetune.progress import ...`` lines work; the
event type (with its ``metrics``) and :func:`report` live in :mod:`ragtune.progress`.
"""

from __future__ import annotations

from ragtune.progress import ProgressCallback, ProgressEvent, report

__all__ = ["ProgressCallback", "ProgressEvent", "report"]
