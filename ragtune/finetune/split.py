"""Deterministic train/validation split by source document.

Every example is assigned a group: its source document id where one is known,
else a digest of its own content. A group goes wholly to one side, decided by
a hash of the group key and a seed, so the split is the same on every run and
adding examples never moves existing groups. No document leaks into both sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ragtune.finetune.dedupe import exact_key
from ragtune.finetune.records import Example


def group_key(example: Example) -> str:
    """``doc:<id>`` for examples with a source document, ``rec:<digest>`` otherwise."""
    if example.source.doc_id:
        return f"doc:{example.source.doc_id}"
    return f"rec:{exact_key(example)}"


def _position(key: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_source(
    examples: Sequence[Example], *, val_fraction: float, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """Split into (train, validation), keeping each source group on one side.

    When the hash puts no group on the validation side although there are at
    least two groups and ``val_fraction > 0``, the group with the lowest hash
    position goes there, so a small data set still gets a held-out split.
    """
    keys = [group_key(example) for example in examples]
    positions: dict[str, float] = {}
    for key in keys:
        if key not in positions:
            positions[key] = _position(key, seed)
    val_groups = {k for k, p in positions.items() if p < val_fraction}
    if not val_groups and val_fraction > 0 and len(positions) >= 2:
        val_groups = {min(positions, key=positions.__getitem__)}
    if len(val_groups) == len(positions) and len(positions) >= 2:
        val_groups.discard(max(positions, key=positions.__getitem__))
    train: list[Example] = []
    val: list[Example] = []
    for key, example in zip(keys, examples, strict=True):
        (val if key in val_groups else train).append(example)
    return train, val


__all__ = ["group_key", "split_by_source"]
