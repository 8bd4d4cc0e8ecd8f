"""Prepare fine-tuning data: normalise, fix, validate, dedupe, count, split, write.

``prepare(paths, out_dir)`` reads every record, and writes to ``out_dir``:

- ``train.jsonl`` / ``val.jsonl``: OpenAI chat fine-tuning JSONL;
- ``train.sources.jsonl`` / ``val.sources.jsonl``: provenance of each line
  (file, line, shape, source document and chunk, label, tokens), line for line;
- ``rejects.jsonl``: one object per rejected record (``file``, ``line``,
  ``code``, ``reason``, ``record`` as read);
- ``report.json``: the :class:`PrepareReport`.

Bad records never stop the run and are never dropped silently: every record
read is either kept (train or validation) or rejected with a reason, so
``report.read == report.kept + report.rejected``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from ragtune.embeddings.base import Embedder
from ragtune.finetune.budget import TokenStats, count_chat_tokens
from ragtune.finetune.collect import expand_paths, read_records, records_at
from ragtune.finetune.dedupe import find_conflicts, find_duplicates, find_embedding_duplicates
from ragtune.finetune.fixes import fix_chat
from ragtune.finetune.formats import FormatProblem, detect_shape, to_chat
from ragtune.finetune.records import ChatFixes, Example, RawRecord, Rejection
from ragtune.finetune.split import group_key, split_by_source
from ragtune.finetune.validate import Problem, record_label, validate_chat
from ragtune.llm.pricing import PriceTable
from ragtune.progress import ProgressCallback, report

DEFAULT_OPENAI_BASE = "gpt-4o-mini-2024-07-18"
"""Default target model for token limits and cost."""
TRAIN_FILE = "train.jsonl"
VAL_FILE = "val.jsonl"
REJECTS_FILE = "rejects.jsonl"
REPORT_FILE = "report.json"
PROGRESS_EVERY = 1000


def sources_file(data_file: str) -> str:
    """``train.jsonl`` -> ``train.sources.jsonl``: the provenance sidecar of a data file."""
    return data_file.removesuffix(".jsonl") + ".sources.jsonl"


class PrepareConfig(BaseModel):
    """How to prepare a data set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = DEFAULT_OPENAI_BASE
    """Target model: its tokenizer counts tokens, its context window limits examples, its price sets the cost."""
    provider: Literal["openai", "local"] = "openai"
    """``openai`` or ``local`` (the local SmolLM2 for LoRA)."""
    labels: tuple[str, ...] | None = None
    """Declared label set: a record whose label or final assistant answer is another is rejected (every shape)."""
    val_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    """Share of source groups (documents) held out for validation."""
    seed: int = 0
    """Seed of the deterministic split."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Per-example token limit; default: the target model's fine-tuning example limit (else its context window)."""
    epochs: int = Field(default=3, ge=1)
    """Epochs assumed for the cost estimate."""
    near_duplicate_threshold: float = Field(default=0.95, gt=0.0, le=1.0)
    """Cosine similarity at or above which two examples are near duplicates (with an embedder)."""
    system_prompt: str | None = None
    """System message prepended to records converted from non-chat shapes."""


class PrepareReport(BaseModel):
    """What prepare read, kept, fixed and rejected, and what training will cost."""

    out_dir: str
    files: list[str]
    model: str
    read: int = 0
    """Records read (every non-blank line or row)."""
    train: int = 0
    val: int = 0
    rejected: int = 0
    rejected_by_code: dict[str, int] = Field(default_factory=dict)
    shapes: dict[str, int] = Field(default_factory=dict)
    """Records read per recognised shape."""
    duplicates: int = 0
    near_duplicates: int = 0
    conflicting: int = 0
    """Records rejected as members of conflicting-duplicate groups."""
    fixes: ChatFixes = Field(default_factory=ChatFixes)
    tokens: TokenStats = Field(default_factory=TokenStats)
    estimated_cost_usd: float = 0.0
    """Training cost of ``tokens.billed`` at the price table's fine-tuning price."""
    price_as_of: str = ""
    train_groups: int = 0
    """Distinct source groups (documents, else records) on the training side."""
    val_groups: int = 0
    dataset_sha256: str = ""
    """sha256 of train.jsonl followed by val.jsonl."""
    seconds: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kept(self) -> int:
        return self.train + self.val


def prepare(
    paths: Iterable[str | Path],
    out_dir: str | Path,
    config: PrepareConfig | None = None,
    *,
    embedder: Embedder | None = None,
    prices: PriceTable | None = None,
    progress: ProgressCallback | None = None,
) -> PrepareReport:
    """Turn raw example files into validated OpenAI chat fine-tuning files.

    Args:
        paths: JSONL/CSV files or folders of them.
        out_dir: Folder for train/val/rejects/report (created).
        config: Target model, labels, split and limits.
        embedder: Enables embedding near-duplicate removal when given.
        prices: Price table for the cost estimate (default :meth:`PriceTable.default`).
        progress: Called with :class:`~ragtune.progress.ProgressEvent` as records are processed.

    Returns:
        The report, also written to ``out_dir/report.json``.

    Raises:
        InputError: a path does not exist or is not a supported file type.

    Example:
        >>> report = prepare(["faq.jsonl"], "prepared", PrepareConfig(labels=("yes", "no")))  # doctest: +SKIP
        >>> report.read == report.kept + report.rejected  # doctest: +SKIP
        True
    """
    config = config or PrepareConfig()
    prices = prices or PriceTable.default()
    started = time.perf_counter()
    files = expand_paths(paths)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    count, limit = _token_budget(config)
    with (out / REJECTS_FILE).open("w", encoding="utf-8") as handle:
        rejects = _Rejects(handle)
        read = _read_examples(files, config, count, limit, rejects, progress)
        kept = _drop_duplicates(read.examples, config, embedder, rejects, progress)
    train, val = split_by_source(kept, val_fraction=config.val_fraction, seed=config.seed)
    sha256 = _write_splits(out, train, val, progress)
    tokens = _token_stats(train, val, limit, config.epochs)
    result = PrepareReport(
        out_dir=str(out),
        files=[str(f) for f in files],
        model=config.model,
        read=read.count,
        train=len(train),
        val=len(val),
        **rejects.summary(),
        shapes=dict(sorted(read.shapes.items())),
        fixes=read.fixes,
        tokens=tokens,
        estimated_cost_usd=round(prices.training_cost(config.model, tokens.billed), 6),
        price_as_of=prices.as_of,
        train_groups=len({group_key(e) for e in train}),
        val_groups=len({group_key(e) for e in val}),
        dataset_sha256=sha256,
        seconds=round(time.perf_counter() - started, 3),
    )
    (out / REPORT_FILE).write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return result


class _Rejects:
    """Writes ``rejects.jsonl`` as records are rejected, and counts them by code."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.codes: Counter[str] = Counter()

    def add(self, file: str, line: int, problem: Problem, record: Any) -> None:
        self.codes[problem.code] += 1
        item = Rejection(file=file, line=line, code=problem.code, reason=problem.reason, record=record)
        self.handle.write(item.model_dump_json() + "\n")

    def summary(self) -> dict[str, Any]:
        """The report's rejection fields."""
        return {
            "rejected": sum(self.codes.values()),
            "rejected_by_code": dict(sorted(self.codes.items())),
            "duplicates": self.codes.get("duplicate", 0),
            "near_duplicates": self.codes.get("near_duplicate", 0),
            "conflicting": self.codes.get("conflicting_duplicate", 0),
        }


@dataclass
class _ReadResult:
    """What reading and validating every record gave: the candidates and the counts."""

    examples: list[Example] = field(default_factory=list)
    count: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    fixes: ChatFixes = field(default_factory=ChatFixes)


def _read_examples(
    files: list[Path],
    config: PrepareConfig,
    count: Callable[[str], int],
    limit: int,
    rejects: _Rejects,
    progress: ProgressCallback | None,
) -> _ReadResult:
    """Step 1: read, convert, fix and validate every record; the bad ones go to ``rejects``."""
    labels = frozenset(config.labels) if config.labels is not None else None
    read = _ReadResult()
    for raw in read_records(files):
        read.count += 1
        if read.count % PROGRESS_EVERY == 0:
            report(progress, "read", read.count, message=f"{raw.file}:{raw.line}")
        outcome = _to_example(raw, config, labels, read.fixes, count, limit, read.shapes)
        if isinstance(outcome, Problem):
            rejects.add(raw.file, raw.line, outcome, raw.as_read)
        else:
            read.examples.append(outcome)
    report(progress, "read", read.count, read.count)
    return read


def _drop_duplicates(
    examples: list[Example],
    config: PrepareConfig,
    embedder: Embedder | None,
    rejects: _Rejects,
    progress: ProgressCallback | None,
) -> list[Example]:
    """Step 2: reject conflicting, exact and (with an embedder) near duplicates; returns the rest."""
    report(progress, "dedupe", 0, len(examples))
    dropped = _find_duplicates(examples, config, embedder)
    as_read = _records_as_read([examples[i] for i in dropped])
    for i, problem in sorted(dropped.items()):
        source = examples[i].source
        rejects.add(source.file, source.line, problem, as_read.get((source.file, source.line)))
    kept = [e for i, e in enumerate(examples) if i not in dropped]
    examples.clear()  # the caller's list: free it before the split copies
    report(progress, "dedupe", len(kept), len(kept))
    return kept


def _write_splits(out: Path, train: list[Example], val: list[Example], progress: ProgressCallback | None) -> str:
    """Step 3: write train/val and their provenance sidecars; returns the data set's sha256."""
    digest = hashlib.sha256()
    total = len(train) + len(val)
    report(progress, "write", 0, total)
    for name, part in ((TRAIN_FILE, train), (VAL_FILE, val)):
        _write_split(out, name, part, digest)
    report(progress, "write", total, total)
    return digest.hexdigest()


def _to_example(
    raw: RawRecord,
    config: PrepareConfig,
    labels: frozenset[str] | None,
    fixes: ChatFixes,
    count: Callable[[str], int],
    limit: int,
    shapes: Counter[str],
) -> Example | Problem:
    if raw.error is not None:
        shapes["invalid"] += 1
        code = "invalid_json" if raw.error.startswith("invalid JSON") else "invalid_csv"
        return Problem(code, raw.error)
    if not isinstance(raw.data, dict):
        shapes["invalid"] += 1
        return Problem("data_type", f"each line must be a JSON object, got {type(raw.data).__name__}")
    shape = detect_shape(raw.data)
    shapes[shape.value] += 1
    try:
        chat, source = to_chat(raw.data, shape, file=raw.file, line=raw.line, system_prompt=config.system_prompt)
    except FormatProblem as exc:
        return Problem(exc.code, exc.reason)
    chat = fix_chat(chat, fixes)
    if labels is not None:
        source.label = record_label(shape, chat, source.label)
    problems = validate_chat(chat, labels=labels, label=source.label)
    if not problems:
        source.tokens = count_chat_tokens(chat, count)
        if source.tokens > limit:
            problems.append(
                Problem(
                    "too_many_tokens",
                    f"{source.tokens} tokens, over the {limit}-token limit of "
                    f"{config.model}; shorten the example or split it",
                )
            )
    if problems:
        return Problem(problems[0].code, "; ".join(p.reason for p in problems))
    return Example.model_construct(  # validated above; skipping pydantic's copy halves memory at 100k records
        messages=chat["messages"],
        tools=chat.get("tools"),
        parallel_tool_calls=chat.get("parallel_tool_calls"),
        source=source,
    )


def _find_duplicates(examples: list[Example], config: PrepareConfig, embedder: Embedder | None) -> dict[int, Problem]:
    dropped = find_conflicts(examples)
    dropped.update(find_duplicates(examples, dropped.__contains__))
    if embedder is not None:
        threshold = config.near_duplicate_threshold
        dropped.update(
            find_embedding_duplicates(examples, dropped.__contains__, embedder.embed_documents, threshold=threshold)
        )
    return dropped


def _records_as_read(examples: list[Example]) -> dict[tuple[str, int], Any]:
    """Re-read the given examples' records from their files (only line numbers are kept in memory)."""
    by_file: dict[str, set[int]] = {}
    for example in examples:
        by_file.setdefault(example.source.file, set()).add(example.source.line)
    found: dict[tuple[str, int], Any] = {}
    for file, lines in by_file.items():
        found.update({(file, line): record for line, record in records_at(file, lines).items()})
    return found


def _write_split(out: Path, name: str, examples: list[Example], digest: Any) -> None:
    with (
        (out / name).open("w", encoding="utf-8") as data,
        (out / sources_file(name)).open("w", encoding="utf-8") as src,
    ):
        for example in examples:
            line = json.dumps(example.openai_json(), ensure_ascii=False) + "\n"
            digest.update(line.encode("utf-8"))
            data.write(line)
            src.write(example.source.model_dump_json(exclude_none=True) + "\n")


def _token_stats(train: list[Example], val: list[Example], limit: int, epochs: int) -> TokenStats:
    counts = [e.source.tokens for e in train] + [e.source.tokens for e in val]
    train_tokens = sum(e.source.tokens for e in train)
    return TokenStats(
        total=sum(counts),
        train=train_tokens,
        val=sum(counts) - train_tokens,
        max_example=max(counts, default=0),
        mean_example=round(sum(counts) / len(counts), 2) if counts else 0.0,
        limit=limit,
        epochs=epochs,
        billed=train_tokens * epochs,
    )


def _token_budget(config: PrepareConfig) -> tuple[Callable[[str], int], int]:
    from ragtune.llm.tokens import context_window, token_counter, training_token_limit

    count = token_counter(config.model, config.provider)
    window = training_token_limit(config.model) or context_window(config.model)
    limit = min(config.max_tokens, window) if config.max_tokens else window
    return count, limit


def write_jsonl(handle: IO[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON lines; returns how many were written."""
    n = 0
    for row in rows:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


__all__ = [
    "DEFAULT_OPENAI_BASE",
    "PrepareConfig",
    "PrepareReport",
    "REJECTS_FILE",
    "REPORT_FILE",
    "TRAIN_FILE",
    "VAL_FILE",
    "prepare",
    "sources_file",
    "write_jsonl",
]
