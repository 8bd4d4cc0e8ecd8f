"""Do the GGUF blocks with int8 products answer as well as float32? Paired, on SQuAD reading comprehension.

Issue 23 asks to adopt smaller weights or cheaper products only if answers do not get worse beyond
the noise. Each of ``--questions`` SQuAD v1.1 dev questions (spread over the first articles, the
same selection as ``local_repetition.py``) is asked of the packaged model with its gold paragraph
in the prompt, greedily, once per engine:

* ``float32``: the numpy decoder on the de-quantized weights (``RAGTUNE_LOCAL_WEIGHTS=float32``);
* ``blocks``: the same weights as the GGUF's Q4_1/Q8_0 blocks, products in int8
  (``RAGTUNE_LOCAL_WEIGHTS=blocks``).

Reported: contains-answer and token F1 per engine (95% bootstrap intervals), their paired
differences (blocks - float32), identical answers, and generated tokens/s. The data is read from
``../shared/data/squad`` and never copied.

    python benchmarks/local_weights_squad.py --questions 60
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table
from local_repetition import _f1, _normalize, squad_questions

from ragtune.evaluation.bootstrap import interval, paired_difference
from ragtune.llm import numpy_chat
from ragtune.llm.local import LocalChatModel

ENGINES = ("float32", "blocks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    questions = squad_questions(args.questions)
    scores: dict[str, dict[str, list[float | None]]] = {}
    answers: dict[str, list[str]] = {}
    speed: dict[str, float] = {}
    for engine in ENGINES:
        os.environ[numpy_chat.WEIGHTS_ENV] = engine
        numpy_chat.clear()
        model = LocalChatModel(max_new_tokens=args.max_new_tokens)
        model.invoke("Hello")  # load (and, for blocks, build the graphs once) outside the timing
        contains: list[float | None] = []
        f1: list[float | None] = []
        texts, tokens, started = [], 0, time.perf_counter()
        for q in questions:
            prompt = [
                ("system", "Answer the question from the context in a few words."),
                ("user", f"Context: {q['context']}\n\nQuestion: {q['question']}"),
            ]
            reply = model.invoke(prompt)
            text = str(reply.content)
            texts.append(text)
            tokens += int((reply.usage_metadata or {}).get("output_tokens", 0))
            contains.append(float(any(_normalize(a) in _normalize(text) for a in q["answers"])))
            f1.append(max(_f1(text, a) for a in q["answers"]))
        speed[engine] = tokens / (time.perf_counter() - started)
        scores[engine] = {"contains": contains, "f1": f1}
        answers[engine] = texts
        print(f"{engine}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    n = len(questions)
    rows = [
        [
            engine,
            interval(scores[engine]["contains"]).describe("{:.2f}"),
            interval(scores[engine]["f1"]).describe("{:.3f}"),
            f"{speed[engine]:.1f}",
        ]
        for engine in ENGINES
    ]
    print_table(
        f"Packaged SmolLM2, {n} SQuAD questions with their paragraph, greedy, {args.max_new_tokens} tokens at most",
        ["weights", "contains-answer", "token F1", "tokens/s (prompt included)"],
        rows,
    )
    same = sum(a == b for a, b in zip(answers["float32"], answers["blocks"], strict=True))
    diffs = []
    for measure in ("contains", "f1"):
        diff = paired_difference(scores["blocks"][measure], scores["float32"][measure])
        inside = diff.ci_low is not None and diff.ci_high is not None and diff.ci_low <= 0 <= diff.ci_high
        verdict = "inside the noise" if inside else ("blocks worse" if (diff.ci_high or 0) < 0 else "blocks better")
        diffs.append([measure, diff.describe("{:+.3f}"), verdict])
    print_table(
        f"blocks - float32, paired (95% bootstrap); identical answers: {same} of {n}",
        ["measure", "difference", "verdict"],
        diffs,
    )


if __name__ == "__main__":
    main()
