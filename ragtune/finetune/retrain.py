"""What to change in a fine-tuned model's training data after the corpus changed.

``retrain_diff`` compares the model's snapshot with the index and writes:

- ``drop.jsonl``: the training examples that came from documents that changed
  or were removed (chat records, with their provenance under ``metadata``);
- ``add.jsonl``: question-answer pairs generated afresh from the current
  chunks of changed and new documents (records ``prepare`` reads directly).

Example:
    >>> diff = retrain_diff(entry, ws.index, load_training_data(entry.extra["data"]),
    ...                     TemplateQAGenerator(), "retrain")  # doctest: +SKIP
    >>> diff.drop, diff.add  # doctest: +SKIP
    (12, 9)
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from ragtune.finetune.dataset import TrainingData
from ragtune.finetune.freshness import TENANT_KEY, new_documents, stale_documents
from ragtune.finetune.generate import QAGenerator, generate_pairs, write_pairs
from ragtune.finetune.progress import ProgressCallback
from ragtune.index.base import Index
from ragtune.llm.registry import ModelEntry

ADD_FILE = "add.jsonl"
DROP_FILE = "drop.jsonl"


class RetrainDiff(BaseModel):
    """Counts and files of a retrain diff."""

    model: str
    changed: list[str]
    removed: list[str]
    new: list[str]
    drop: int
    """Examples to drop (from changed or removed documents)."""
    add: int
    """Examples generated for changed and new documents."""
    drop_path: str
    add_path: str


def retrain_diff(
    entry: ModelEntry,
    index: Index,
    data: TrainingData,
    generator: QAGenerator,
    out_dir: str | Path,
    *,
    per_chunk: int = 2,
    progress: ProgressCallback | None = None,
) -> RetrainDiff:
    """Write ``drop.jsonl`` and ``add.jsonl`` for retraining ``entry`` on the current corpus.

    Args:
        entry: The fine-tuned model (its snapshot says what it learned from).
        index: The current index.
        data: The model's training data (train and validation examples).
        generator: Makes the new examples.
        out_dir: Folder for the two files (created).
        per_chunk: Pairs generated per chunk.
    """
    stale = stale_documents(entry, index)
    fresh = new_documents(entry, index)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    drop_path, add_path = out / DROP_FILE, out / ADD_FILE
    dropped = 0
    with drop_path.open("w", encoding="utf-8") as handle:
        for example in data.examples:
            doc_id = example.source.doc_id
            if doc_id is None or doc_id not in stale:
                continue
            record = example.openai_json()
            record["doc_id"] = doc_id
            if example.source.chunk_id:
                record["chunk_id"] = example.source.chunk_id
            record["metadata"] = {
                "reason": stale[doc_id],
                "file": example.source.file,
                "line": example.source.line,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            dropped += 1
    regenerate = sorted(d for d, why in stale.items() if why == "changed") + fresh
    tenant = entry.extra.get(TENANT_KEY)
    pairs = generate_pairs(
        index,
        generator,
        doc_ids=regenerate,
        per_chunk=per_chunk,
        tenant=tenant if isinstance(tenant, str) else None,
        progress=progress,
    )
    added = write_pairs(pairs, add_path)
    return RetrainDiff(
        model=entry.name,
        changed=sorted(d for d, why in stale.items() if why == "changed"),
        removed=sorted(d for d, why in stale.items() if why == "removed"),
        new=fresh,
        drop=dropped,
        add=added,
        drop_path=str(drop_path),
        add_path=str(add_path),
    )


__all__ = ["ADD_FILE", "DROP_FILE", "RetrainDiff", "retrain_diff"]
