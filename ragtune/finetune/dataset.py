"""Read prepared training data back: examples with their provenance.

Training and evaluation take either a prepare output folder (``train.jsonl``,
``val.jsonl`` and their ``.sources.jsonl`` sidecars) or one OpenAI chat JSONL
file. Unlike prepare, this reader is strict: prepared data is expected to be
valid, so a bad line raises :class:`~ragtune.errors.InputError` naming it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ragtune.errors import InputError
from ragtune.finetune.prepare import TRAIN_FILE, VAL_FILE, sources_file
from ragtune.finetune.records import Example, Provenance, Shape


class TrainingData(BaseModel):
    """Training and validation examples, and where they were read from."""

    model_config = ConfigDict(extra="forbid")

    train: list[Example]
    val: list[Example]
    train_path: str
    val_path: str | None = None
    sha256: str
    """sha256 of the training file followed by the validation file: the dataset's identity."""

    @property
    def examples(self) -> list[Example]:
        return [*self.train, *self.val]


def load_training_data(path: str | Path, *, val_path: str | Path | None = None) -> TrainingData:
    """Read a prepare output folder, or a single train JSONL (plus an optional validation file).

    Raises:
        InputError: the path is missing, or a line is not a valid chat record.

    Example:
        >>> data = load_training_data("prepared")  # doctest: +SKIP
        >>> len(data.train), len(data.val)  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        train_file = path / TRAIN_FILE
        val_candidate = path / VAL_FILE
        val_file = Path(val_path) if val_path else (val_candidate if val_candidate.is_file() else None)
    else:
        train_file, val_file = path, Path(val_path) if val_path else None
    if not train_file.is_file():
        msg = f"{train_file}: no training file. Run `ragtune finetune prepare DATA --out DIR` and pass DIR."
        raise InputError(msg, path=str(train_file))
    digest = hashlib.sha256()
    train = read_examples(train_file, digest)
    val = read_examples(val_file, digest) if val_file is not None else []
    return TrainingData(
        train=train,
        val=val,
        train_path=str(train_file),
        val_path=str(val_file) if val_file is not None else None,
        sha256=digest.hexdigest(),
    )


def read_examples(path: Path, digest: hashlib._Hash | None = None) -> list[Example]:
    """Examples of one chat JSONL file, with provenance from its sidecar when present."""
    sidecar = path.with_name(sources_file(path.name))
    sources = _read_sources(sidecar) if sidecar.is_file() else []
    examples: list[Example] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if digest is not None:
                digest.update(raw)
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
                messages = data["messages"]
                index = len(examples)
                source = (
                    sources[index]
                    if index < len(sources)
                    else Provenance(file=str(path), line=number, shape=Shape.CHAT)
                )
                examples.append(
                    Example(
                        messages=messages,
                        tools=data.get("tools"),
                        parallel_tool_calls=data.get("parallel_tool_calls"),
                        source=source,
                    )
                )
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                msg = f"{path} line {number}: not a chat fine-tuning record ({exc}). Run `ragtune finetune prepare`."
                raise InputError(msg, path=str(path), line=number) from exc
    return examples


def _read_sources(path: Path) -> list[Provenance]:
    with path.open("r", encoding="utf-8") as handle:
        return [Provenance.model_validate_json(line) for line in handle if line.strip()]


__all__ = ["TrainingData", "load_training_data", "read_examples"]
