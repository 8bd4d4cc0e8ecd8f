"""Helpers shared by the benchmark scripts: data paths, timing, table printing."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("RAGTUNE_SHARED_DATA", REPO.parent / "shared" / "data"))
SCIFACT = SHARED_DATA / "scifact"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def require_shared_data() -> None:
    if not SCIFACT.is_dir():
        raise SystemExit(f"shared evaluation data not found at {SHARED_DATA}; set RAGTUNE_SHARED_DATA")


def scifact_records(limit: int | None = None) -> list[dict[str, Any]]:
    records = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            records.append(json.loads(line))
            if limit is not None and len(records) >= limit:
                break
    return records


@contextmanager
def timer(results: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[name] = time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_ms(func: Callable[[Any], Any], inputs: list[Any]) -> tuple[float, float]:
    """p50 and p95 in milliseconds of ``func`` over ``inputs`` (one warm-up call first)."""
    func(inputs[0])
    samples = []
    for item in inputs:
        start = time.perf_counter()
        func(item)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), percentile(samples, 95)


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        cells = [f"{c:.4g}" if isinstance(c, float) else str(c) for c in row]
        print("| " + " | ".join(cells) + " |")
