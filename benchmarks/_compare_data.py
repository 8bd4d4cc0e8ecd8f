"""Shared pieces of the ``compare_*`` benchmarks: public data as ``ragtune compare`` inputs, the run, the tables.

The data is read from the shared folder (``RAGTUNE_SHARED_DATA``) and written to a temporary task
folder per run, never into the repository:

* SQuAD v1.1 dev: one Markdown file per paragraph (its article title as a heading), one question
  per paragraph (its first), the first reference answer, the paragraph's file as ``sources``;
* CLINC150: a few intents spread over the 150, their ``train`` utterances as labelled examples
  (the same ones in the corpus and in the ``--train`` file, so retrieval and fine-tuning get the
  same labelled data) and their ``test`` utterances as evaluation lines with ``expect.labels``.

:func:`run_compare` runs the CLI (``python -m ragtune compare``, the flags spelled as in issue 21)
in a fresh store and returns ``results.json``; :func:`arm_rows` and :func:`paired_rows` turn it
into the README tables.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import SHARED_DATA

from ragtune.evaluation.bootstrap import Interval, interval, paired_difference

SQUAD = SHARED_DATA / "squad" / "dev-v1.1.json.gz"
CLINC = SHARED_DATA / "clinc150" / "data_full.json"
ARMS = ("rag", "finetuned", "hybrid")

JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "minLength": 1}, "source": {"type": "string", "minLength": 1}},
    "required": ["answer", "source"],
}
"""The (c) requirement: an answer object with the answer and the document it comes from."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "doc"


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


# -- SQuAD ---------------------------------------------------------------------------------------


def squad_arguments(description: str) -> argparse.Namespace:
    """The command line shared by the SQuAD comparison benchmarks (a) and (c)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--paragraphs", type=int, default=40, help="Corpus paragraphs = questions.")
    parser.add_argument("--articles", type=int, default=4, help="SQuAD dev articles the paragraphs come from.")
    parser.add_argument("--first-article", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="LoRA epochs (default: compare's own).")
    parser.add_argument("--work", type=Path, default=None, help="Keep the task, store and report here.")
    return parser.parse_args()


def squad_task(
    folder: Path,
    *,
    paragraphs: int,
    articles: int,
    first_article: int = 0,
    expect: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``corpus/`` and ``eval.jsonl`` (and ``expect.json`` when ``expect`` is given) under ``folder``.

    ``paragraphs`` paragraphs are taken in order from each of ``articles`` dev articles starting at
    ``first_article`` (as evenly as the articles allow); each gives one file and one question.
    """
    if not SQUAD.is_file():
        raise SystemExit(f"SQuAD not found at {SQUAD}; set RAGTUNE_SHARED_DATA")
    with gzip.open(SQUAD, "rt", encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    if not 0 <= first_article < len(data) or articles < 1 or first_article + articles > len(data):
        raise SystemExit(
            f"articles {first_article}..{first_article + articles - 1}: SQuAD dev has 0 to {len(data) - 1}"
        )
    chosen = data[first_article : first_article + articles]
    per_article = -(-paragraphs // articles)
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for article in chosen:
        for i, paragraph in enumerate(article["paragraphs"][:per_article]):
            if len(rows) >= paragraphs:
                break
            name = f"{_slug(article['title'])}-{i:02d}.md"
            title = article["title"].replace("_", " ")
            (corpus / name).write_text(f"# {title}\n\n{paragraph['context'].strip()}\n", encoding="utf-8")
            qa = paragraph["qas"][0]
            row: dict[str, Any] = {"question": qa["question"], "answer": qa["answers"][0]["text"], "sources": [name]}
            rows.append(row)
    _write_jsonl(folder / "eval.jsonl", rows)
    if expect is not None:
        (folder / "expect.json").write_text(json.dumps(expect, indent=1), encoding="utf-8")
    return {
        "corpus": corpus,
        "eval": folder / "eval.jsonl",
        "expect": folder / "expect.json" if expect is not None else None,
        "documents": len(rows),
        "questions": len(rows),
        "articles": [a["title"] for a in chosen],
    }


# -- CLINC150 ------------------------------------------------------------------------------------


def clinc_intents(count: int) -> list[str]:
    """``count`` intents spread evenly over the 150 (sorted by name), so several domains are mixed."""
    data = _clinc()
    labels = sorted({label for _, label in data["train"]})
    step = max(1, len(labels) // count)
    return labels[::step][:count]


def _clinc() -> dict[str, list[list[str]]]:
    if not CLINC.is_file():
        raise SystemExit(f"CLINC150 not found at {CLINC}; set RAGTUNE_SHARED_DATA")
    return json.loads(CLINC.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def clinc_question(utterance: str) -> str:
    """The question every arm is asked (and the fine-tuned one trained on) for one utterance."""
    return f'Which intent is this request: "{utterance}"?'


def clinc_task(folder: Path, *, intents: int, train_per_intent: int, eval_per_intent: int) -> dict[str, Any]:
    """Write ``corpus/`` (one labelled train utterance per file), ``train.jsonl`` (the same utterances as
    question/answer records) and ``eval.jsonl`` (test utterances, ``expect: {"labels": [...]}`` on every line).

    The first ``train_per_intent`` train and ``eval_per_intent`` test utterances of each intent are used:
    no evaluation utterance is ever a training one (the splits are disjoint; checked).
    """
    data = _clinc()
    labels = clinc_intents(intents)
    train: dict[str, list[str]] = {label: [] for label in labels}
    test: dict[str, list[str]] = {label: [] for label in labels}
    for text, label in data["train"]:
        if label in train and len(train[label]) < train_per_intent:
            train[label].append(text)
    for text, label in data["test"]:
        if label in test and len(test[label]) < eval_per_intent:
            test[label].append(text)
    seen = {t for texts in train.values() for t in texts}
    overlap = [t for texts in test.values() for t in texts if t in seen]
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    train_rows = []
    for label, texts in train.items():
        for i, text in enumerate(texts):
            (corpus / f"{label}-{i:03d}.md").write_text(f"Request: {text}\nIntent: {label}\n", encoding="utf-8")
            train_rows.append({"question": clinc_question(text), "answer": label})
    expect = {"labels": labels}
    eval_rows = [  # intents interleaved, so a shorter prefix of the file is still balanced
        {"question": clinc_question(test[label][i]), "answer": label, "expect": expect}
        for i in range(eval_per_intent)
        for label in labels
        if i < len(test[label]) and test[label][i] not in seen
    ]
    _write_jsonl(folder / "train.jsonl", train_rows)
    _write_jsonl(folder / "eval.jsonl", eval_rows)
    return {
        "corpus": corpus,
        "eval": folder / "eval.jsonl",
        "train": folder / "train.jsonl",
        "labels": labels,
        "train_examples": len(train_rows),
        "questions": len(eval_rows),
        "excluded_overlap": len(overlap),
    }


# -- the run -------------------------------------------------------------------------------------


def run_compare(
    corpus: Path,
    eval_file: Path,
    work: Path,
    *,
    expect: Path | None = None,
    train: Path | None = None,
    epochs: int | None = None,
    k: int | None = None,
    extra: Sequence[str] = (),
) -> tuple[dict[str, Any], float, list[str]]:
    """Run ``ragtune compare`` in a fresh store under ``work``; ``(results.json, wall seconds, command)``."""
    out, store = work / "out", work / "store"
    command = [sys.executable, "-m", "ragtune", "compare", str(corpus), "--eval", str(eval_file)]
    command += ["--out", str(out), "--store", str(store)]
    if expect is not None:
        command += ["--expect", str(expect)]
    if train is not None:
        command += ["--train", str(train)]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    if k is not None:
        command += ["--k", str(k)]
    command += list(extra)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, env=env, check=False, stdout=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    print(f"ragtune compare: {seconds:.0f} s wall, {cpu_seconds:.0f} s CPU (user + system)", file=sys.stderr)
    if done.returncode != 0:
        raise SystemExit(f"ragtune compare failed with exit code {done.returncode}: {done.stdout[-2000:]}")
    print(done.stdout, file=sys.stderr)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    results["_benchmark"] = {"wall_seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1)}
    return results, seconds, command


# -- reading results.json ------------------------------------------------------------------------


def arms(results: dict[str, Any]) -> list[str]:
    return [a for a in ARMS if a in results]


def question_values(results: dict[str, Any], arm: str, measure: str) -> list[float | None]:
    """Per-question values of one arm: a quality field (``correct``, ``token_f1``), ``compliance``
    (every rule of the line's ``expect`` met) or ``rule:<name>`` (that rule met); ``None`` where not judged."""
    values: list[float | None] = []
    for question in results[arm].get("questions", []):
        if measure == "compliance":
            value = question.get("compliant")
        elif measure.startswith("rule:"):
            value = (question.get("behaviour") or {}).get(measure[5:])
        else:
            value = question.get(measure)
        values.append(None if value is None else float(value))
    return values


def replaced_share(results: dict[str, Any], arm: str) -> str:
    """How many answers had a JSON value replaced by the verified extractive one (``replaced_values``)."""
    questions = results[arm].get("questions", [])
    replaced = sum(1 for q in questions if q.get("replaced_values"))
    return f"{replaced} of {len(questions)}"


def _cell(value: Interval, fmt: str = "{:.2f}") -> str:
    return value.describe(fmt)


def arm_rows(
    results: dict[str, Any], *, behaviour: bool, rules: Sequence[str] = ()
) -> tuple[list[str], list[list[Any]]]:
    """The per-arm table: quality and behaviour with 95% intervals, latency, cost, training."""
    header = ["arm", "correct", "token F1"]
    if behaviour:
        header += ["compliance", *(f"rule `{r}`" for r in rules), "answers with a value replaced"]
    header += ["p50 / p95 latency", "projected $ / 1k queries", "training (local wall time; projected $)"]
    finetune = (results.get("setup") or {}).get("finetune") or {}
    rows = []
    for arm in arms(results):
        result = results[arm]
        row: list[Any] = [f"**{arm}**"]
        row.append(_cell(interval(question_values(results, arm, "correct"))))
        row.append(_cell(interval(question_values(results, arm, "token_f1"))))
        if behaviour:
            row.append(_cell(interval(question_values(results, arm, "compliance"))))
            row += [_cell(interval(question_values(results, arm, f"rule:{r}"))) for r in rules]
            row.append(replaced_share(results, arm))
        latency = result["latency"]
        row.append(f"{latency['p50_ms'] / 1000:.2f} s / {latency['p95_ms'] / 1000:.2f} s")
        cost = result["cost"]
        projected = cost.get("projected_per_1k_queries_usd")
        row.append(f"${projected:.3f} ({cost.get('projected_model')})" if projected is not None else "n/a")
        if arm == "rag":
            row.append("none")
        else:
            training = cost.get("training_usd")
            seconds = cost.get("training_seconds") or finetune.get("seconds") or float("nan")
            row.append(
                f"{seconds:.0f} s on {finetune.get('examples', '?')} examples; "
                + (f"${training:.4f}" if training is not None else "n/a")
            )
        rows.append(row)
    return header, rows


def paired_rows(results: dict[str, Any], pairs: Sequence[tuple[str, str, str]]) -> list[list[Any]]:
    """``(a, b, measure)`` -> the paired difference a - b over the same questions, and whether it is beyond noise."""
    rows = []
    for first, second, measure in pairs:
        if first not in results or second not in results:
            continue
        diff = paired_difference(question_values(results, first, measure), question_values(results, second, measure))
        if diff.value is None:
            verdict = "not measured"
        elif diff.ci_low is not None and diff.ci_low > 0:
            verdict = f"{first} better, beyond the noise"
        elif diff.ci_high is not None and diff.ci_high < 0:
            verdict = f"{second} better, beyond the noise"
        else:
            verdict = "inside the noise"
        rows.append([f"{first} - {second}", measure, _cell(diff, "{:+.2f}"), diff.n, verdict])
    return rows


def recommendation_lines(results: dict[str, Any]) -> list[str]:
    """The recommendation's summary, behaviour verdict and break-even as ragtune wrote them."""
    rec = results.get("recommendation") or {}
    lines = [f"recommendation: {rec.get('overall')}", f"summary: {rec.get('summary', '')}"]
    lines += [f"- {statement}" for statement in rec.get("statements") or []]
    for key in ("behaviour", "break_even", "failures"):
        value = rec.get(key)
        if isinstance(value, dict) and ("statement" in value or "reason" in value):
            value = value.get("statement") or value.get("reason")
        if value is not None:
            lines.append(f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}")
    return lines


def print_report(
    title: str,
    results: dict[str, Any],
    seconds: float,
    *,
    behaviour: bool,
    pairs: Sequence[tuple[str, str, str]],
    rules: Sequence[str] = (),
) -> None:
    """Print the README tables of one benchmark: per arm, the paired differences, ragtune's own verdict."""
    from _common import print_table

    print(setup_line(results, seconds))
    header, rows = arm_rows(results, behaviour=behaviour, rules=rules)
    print_table(f"{title}: per arm (95% bootstrap intervals)", header, rows)
    print_table(
        f"{title}: paired differences (95% paired bootstrap)",
        ["pair", "measure", "difference", "n", "verdict"],
        paired_rows(results, pairs),
    )
    print()
    for line in recommendation_lines(results):
        print(line)
    for arm in arms(results):
        examples = [q for q in results[arm].get("questions", [])][:3]
        for q in examples:
            print(f"  {arm}: {q.get('question')!r} -> {q.get('answer')!r} (reference {q.get('reference')!r})")


def setup_line(results: dict[str, Any], seconds: float) -> str:
    setup = results.get("setup") or {}
    finetune = setup.get("finetune") or {}
    return (
        f"{setup.get('questions')} questions, {setup.get('documents')} documents ({setup.get('chunks')} chunks), "
        f"k={setup.get('k')}; fine-tuning: {finetune.get('examples')} examples, "
        f"{finetune.get('excluded_eval_overlap')} excluded as evaluation questions, "
        f"{finetune.get('seconds')} s; whole run {seconds:.0f} s wall, "
        f"{(results.get('_benchmark') or {}).get('cpu_seconds')} s CPU (compare's own figure {setup.get('seconds')} s)"
    )
