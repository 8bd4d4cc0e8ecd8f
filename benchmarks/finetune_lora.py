"""Local LoRA on SmolLM2-135M: seconds per epoch per 100 examples, and base vs tuned on a format task.

The task: label a one-line review as ``{"label": "positive"}`` or
``{"label": "negative"}``. Training reviews and held-out reviews use different
nouns and adjectives, so the held-out score measures generalisation, not
recall. Reported for both models: exact match (= accuracy), format compliance
against the JSON schema, and consistency over samples at temperature 0.7.

    python benchmarks/finetune_lora.py --train 100 --epochs 2 --held-out 20 --threads 1
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from _common import print_table

POSITIVE = [
    "great",
    "wonderful",
    "excellent",
    "delightful",
    "fantastic",
    "lovely",
    "superb",
    "brilliant",
    "pleasant",
    "perfect",
    "enjoyable",
    "impressive",
]
NEGATIVE = [
    "awful",
    "terrible",
    "horrible",
    "dreadful",
    "boring",
    "disappointing",
    "poor",
    "bad",
    "annoying",
    "useless",
    "unpleasant",
    "broken",
]
THINGS = [
    "film",
    "meal",
    "hotel",
    "book",
    "concert",
    "phone",
    "game",
    "service",
    "museum",
    "train",
    "laptop",
    "course",
    "album",
    "flight",
    "restaurant",
    "app",
    "show",
    "camera",
    "tour",
    "podcast",
]
HELD_POSITIVE = ["marvellous", "beautiful", "charming", "outstanding", "amazing", "splendid", "terrific", "cozy"]
HELD_NEGATIVE = ["disgusting", "filthy", "miserable", "awful beyond words", "rude", "noisy", "overpriced", "dull"]
HELD_THINGS = ["bicycle", "pizza", "garden", "taxi", "sofa", "bakery", "ferry", "jacket", "theatre", "library"]
SYSTEM = "Label the review."
SCHEMA = {
    "type": "object",
    "properties": {"label": {"enum": ["positive", "negative"]}},
    "required": ["label"],
    "additionalProperties": False,
}


def rows(n: int, things: list[str], pos: list[str], neg: list[str], seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        positive = i % 2 == 0
        word = rng.choice(pos if positive else neg)
        out.append(
            {
                "question": f"Review: The {rng.choice(things)} was {word}.",
                "answer": json.dumps({"label": "positive" if positive else "negative"}),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100, help="training examples (10%% more are held for validation)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--samples", type=int, default=3, help="samples per prompt for consistency")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1 is fastest on a busy machine)")
    args = parser.parse_args()

    import torch

    from ragtune.finetune.dataset import load_training_data, read_examples
    from ragtune.finetune.evaluate import EvalConfig, evaluate_models
    from ragtune.finetune.local_lora import LocalLoRAJob, LoraTrainConfig
    from ragtune.finetune.prepare import PrepareConfig, prepare
    from ragtune.llm.factory import make_chat_model
    from ragtune.llm.registry import LOCAL_MODEL_ID, ModelRegistry

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train_rows = rows(int(args.train * 1.1), THINGS, POSITIVE, NEGATIVE, seed=0)
        (work / "train.jsonl").write_text("\n".join(json.dumps(r) for r in train_rows) + "\n")
        config = PrepareConfig(model=LOCAL_MODEL_ID, provider="local", system_prompt=SYSTEM, val_fraction=0.1)
        prepare([work / "train.jsonl"], work / "prepared", config)
        held = [
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": r["question"]},
                    {"role": "assistant", "content": r["answer"]},
                ]
            }
            for r in rows(args.held_out, HELD_THINGS, HELD_POSITIVE, HELD_NEGATIVE, seed=1)
        ]
        (work / "held.jsonl").write_text("\n".join(json.dumps(h) for h in held) + "\n")

        data = load_training_data(work / "prepared")
        registry = ModelRegistry(work / "models.json")
        lora = LoraTrainConfig(
            epochs=args.epochs, learning_rate=3e-3, batch_size=4, max_length=96, threads=args.threads, patience=1
        )
        started = time.perf_counter()
        entry = LocalLoRAJob(data, registry=registry, output_dir=work / "adapter", name="reviews", config=lora).run()
        wall = time.perf_counter() - started
        m = entry.metrics
        print_table(
            "local LoRA training (SmolLM2-135M, CPU)",
            [
                "train examples",
                "val examples",
                "epochs run",
                "steps",
                "train s",
                "s/epoch/100 examples",
                "job wall s (incl. model load)",
                "val loss",
            ],
            [
                [
                    len(data.train),
                    len(data.val),
                    int(m["epochs"]),
                    int(m["steps"]),
                    m["train_seconds"],
                    m["seconds_per_epoch_per_100"],
                    wall,
                    m.get("val_loss", float("nan")),
                ]
            ],
        )
        started = time.perf_counter()
        report = evaluate_models(
            make_chat_model(registry.get("base"), max_new_tokens=16),
            make_chat_model(entry, max_new_tokens=16),
            read_examples(work / "held.jsonl"),
            EvalConfig(json_schema=SCHEMA, samples=args.samples, max_new_tokens=16),
            base_name="base",
            tuned_name="tuned",
        )
        seconds = time.perf_counter() - started
        table = []
        for metric in ("exact_match", "format_compliance", "consistency"):
            base, tuned = report.base.values().get(metric), report.tuned.values().get(metric)
            table.append([metric, base if base is not None else "-", tuned if tuned is not None else "-"])
        print_table(
            f"base vs tuned on {report.examples} held-out reviews ({seconds:.0f}s)", ["metric", "base", "tuned"], table
        )
        for row in report.rows[:3]:
            print(f"\n{row.prompt}\n  base:  {row.base!r}\n  tuned: {row.tuned!r}")


if __name__ == "__main__":
    main()
