"""Time and peak memory of ``ragtune finetune prepare`` at 10k and 100k records: is it linear?

The data is synthetic but shaped like real fine-tuning sets: question-answer
pairs with a context sentence (60%), two-turn chats (20%), classification
records (10%), and 10% trouble (exact and near duplicates, conflicting
answers, invalid JSON, a missing assistant turn, wrong roles). Each size runs
in a fresh subprocess, so its peak RSS is its own; the peak Python heap comes
from ``tracemalloc`` in a second, separate run (it slows the run down, so its
time is not reported).

    python benchmarks/finetune_prepare.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import print_table

WORDS = [
    "account",
    "refund",
    "invoice",
    "plan",
    "upgrade",
    "password",
    "login",
    "device",
    "network",
    "storage",
    "backup",
    "export",
    "import",
    "report",
    "dashboard",
    "billing",
    "support",
    "ticket",
    "latency",
    "region",
    "cluster",
    "server",
    "token",
    "limit",
    "quota",
    "project",
    "team",
    "member",
    "policy",
    "contract",
    "renewal",
    "discount",
    "trial",
    "feature",
    "release",
    "version",
    "update",
    "error",
    "timeout",
    "retry",
    "webhook",
]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_records(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lines: list[str] = []
    for i in range(n):
        roll = rng.random()
        doc = f"doc-{i // 20}"
        if roll < 0.03:
            lines.append('{"question": "broken line ' + str(i))
        elif roll < 0.05 and lines:
            lines.append(lines[rng.randrange(len(lines))])  # exact duplicate
        elif roll < 0.07:
            lines.append(json.dumps({"messages": [{"role": "user", "content": sentence(rng, 12)}]}))
        elif roll < 0.08:
            lines.append(
                json.dumps(
                    {
                        "messages": [
                            {"role": "human", "content": sentence(rng, 10)},
                            {"role": "gpt", "content": sentence(rng, 14)},
                        ]
                    }
                )
            )
        elif roll < 0.10:
            q = f"What is the {rng.choice(WORDS)} limit for plan {i % 50}?"
            lines.append(json.dumps({"question": q, "answer": sentence(rng, 8), "doc_id": doc}))
        elif roll < 0.70:
            q = f"Q{i}: how do I {rng.choice(WORDS)} my {rng.choice(WORDS)} {rng.choice(WORDS)}?"
            answer = sentence(rng, rng.randint(15, 45))
            lines.append(
                json.dumps(
                    {
                        "question": q,
                        "answer": answer,
                        "doc_id": doc,
                        "chunk_id": f"{doc}#{i % 20}",
                        "doc_hash": f"h{i // 20}",
                    }
                )
            )
        elif roll < 0.90:
            lines.append(
                json.dumps(
                    {
                        "messages": [
                            {"role": "system", "content": "You are the support assistant."},
                            {"role": "user", "content": f"Ticket {i}: " + sentence(rng, rng.randint(10, 30))},
                            {"role": "assistant", "content": sentence(rng, rng.randint(10, 40))},
                        ]
                    }
                )
            )
        else:
            lines.append(
                json.dumps(
                    {
                        "text": f"Ticket {i}: " + sentence(rng, 20),
                        "label": rng.choice(["billing", "bug", "account", "other"]),
                    }
                )
            )
    return lines


def child(data: Path, out: Path, trace: bool) -> None:
    from ragtune.finetune.prepare import PrepareConfig, prepare

    if trace:
        import tracemalloc

        tracemalloc.start()
    config = PrepareConfig(labels=("billing", "bug", "account", "other"), val_fraction=0.1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = prepare([data], out, config)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "seconds": seconds,
        "rss_before_mb": before / 1024,
        "rss_peak_mb": peak / 1024,
        "read": report.read,
        "kept": report.kept,
        "rejected": report.rejected,
        "by_code": report.rejected_by_code,
    }
    if trace:
        result["heap_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps(result))


def run_size(n: int, work: Path, trace: bool) -> dict[str, float]:
    data = work / f"data-{n}.jsonl"
    if not data.exists():
        data.write_text("\n".join(make_records(n)) + "\n", encoding="utf-8")
    cmd = [sys.executable, __file__, "--child", str(data), str(work / f"out-{n}-{int(trace)}")]
    if trace:
        cmd.append("--trace")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.trace)
        return
    rows = []
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            timed = run_size(n, Path(tmp), trace=False)
            traced = run_size(n, Path(tmp), trace=True)
            results[n] = timed
            rows.append(
                [
                    n,
                    timed["seconds"],
                    n / timed["seconds"],
                    timed["rss_peak_mb"] - timed["rss_before_mb"],
                    traced["heap_peak_mb"],
                    timed["kept"],
                    timed["rejected"],
                ]
            )
    print_table(
        "finetune prepare: time and memory",
        ["records", "seconds", "records/s", "RSS growth MB", "heap peak MB", "kept", "rejected"],
        rows,
    )
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        time_ratio = results[large]["seconds"] / results[small]["seconds"]
        print(
            f"\n{large // small}x the records took {time_ratio:.2f}x the time "
            f"(linear = {large / small:.0f}x); largest run {results[large]['seconds']:.1f}s (target < 60s)"
        )
    print("\nrejects by code at the largest size:", json.dumps(results[sizes[-1]]["by_code"]))


if __name__ == "__main__":
    main()
