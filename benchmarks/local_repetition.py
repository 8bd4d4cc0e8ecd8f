"""Repetition control on the local model: degenerate prompts end cleanly, factual answers stay right.

Two measurements under several decoding settings (``repetition_penalty`` 1.0 = the old
greedy decoding, the default 1.05, and 1.1, applied to the answer's tokens only), with loop
stopping on and off:

* degeneration: prompts that loop today ("Write a haiku about autumn." ...), answered with
  up to 256 new tokens. Reported: finish reason, output tokens, the most any word 4-gram
  repeats in the answer;
* factual answers: ``--questions`` SQuAD v1.1 dev questions spread over the first articles,
  each asked with its gold paragraph in the prompt (reading comprehension, so the answer is in
  the context). Reported: "contains" (a gold answer appears in the reply) and token F1.

The data is read from ``../shared/data/squad`` and never copied.

    python benchmarks/local_repetition.py --questions 20
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import string
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, print_table

from ragtune.llm.local import LocalChatModel

SQUAD = SHARED_DATA / "squad" / "dev-v1.1.json.gz"
DEGENERATE = [
    "Write a haiku about autumn.",
    "Write a short poem about the sea.",
    "Write a limerick about a cat.",
]
SETTINGS: dict[str, dict[str, Any]] = {
    "penalty 1.0, no loop stop (before)": {"repetition_penalty": 1.0, "stop_loops": False},
    "penalty 1.0 + loop stop": {"repetition_penalty": 1.0},
    "penalty 1.05 + loop stop (default)": {},
    "penalty 1.1 + loop stop": {"repetition_penalty": 1.1},
}
SAME_QA_AS = {"penalty 1.0 + loop stop"}


def max_ngram_repeats(text: str, n: int = 4) -> int:
    words = re.findall(r"\w+", text.lower())
    counts = collections.Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return max(counts.values(), default=0)


def _normalize(text: str) -> str:
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def _f1(prediction: str, gold: str) -> float:
    pred, ref = _normalize(prediction).split(), _normalize(gold).split()
    common = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def squad_questions(count: int, articles: int = 5) -> list[dict[str, Any]]:
    with gzip.open(SQUAD, "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"][:articles]
    pool = [
        {"context": p["context"], "question": qa["question"], "answers": [a["text"] for a in qa["answers"]]}
        for article in data
        for p in article["paragraphs"]
        for qa in p["qas"]
    ]
    step = max(1, len(pool) // count)
    return pool[::step][:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--skip-degenerate", action="store_true")
    parser.add_argument("--only", choices=sorted(SETTINGS), help="Run one decoding setting.")
    args = parser.parse_args()
    questions = squad_questions(args.questions)
    n = len(questions)
    rows = []
    for name, overrides in SETTINGS.items():
        if args.only and name != args.only:
            continue
        loops = []
        if not args.skip_degenerate:
            model = LocalChatModel(max_new_tokens=256, **overrides)
            for prompt in DEGENERATE:
                reply = model.invoke(prompt)
                loops.append(
                    f"{reply.response_metadata['finish_reason']}/{reply.usage_metadata['output_tokens']}"
                    f"/x{max_ngram_repeats(str(reply.content))}"
                )
        if name in SAME_QA_AS:  # identical decoding on short answers: loop stop never triggers there
            rows.append([name, " ".join(loops) or "-", "as above", "as above"])
            continue
        qa_model = LocalChatModel(max_new_tokens=args.max_new_tokens, **overrides)
        contains, f1 = 0, 0.0
        for q in questions:
            prompt = [
                ("system", "Answer the question from the context in a few words."),
                ("user", f"Context: {q['context']}\n\nQuestion: {q['question']}"),
            ]
            text = str(qa_model.invoke(prompt).content)
            contains += any(_normalize(a) in _normalize(text) for a in q["answers"])
            f1 += max(_f1(text, a) for a in q["answers"])
        rows.append([name, " ".join(loops) or "-", f"{contains / n:.2f}", f"{f1 / n:.3f}"])
    print_table(
        f"Local SmolLM2 repetition control ({n} SQuAD questions, greedy)",
        ["decoding", "degenerate prompts finish/tokens/max 4-gram repeats", "SQuAD contains", "SQuAD F1"],
        rows,
    )


if __name__ == "__main__":
    main()
