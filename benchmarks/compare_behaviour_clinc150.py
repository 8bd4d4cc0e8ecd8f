"""RAG vs fine-tuned vs hybrid on behaviour: CLINC150 intent labels through ``ragtune compare``.

Issue 21, task (b). ``--intents`` intents spread evenly over the 150 (every 15th name for 10).
Each arm must answer with exactly one of them: every evaluation line carries
``"expect": {"labels": [...]}``, and label accuracy is scored against the line's ``answer``.

* rag: the base SmolLM2-135M, the labels stated in its prompt, and retrieval over a corpus of
  labelled examples (one file per train utterance: ``Request: ...`` / ``Intent: ...``);
* finetuned: local LoRA on the same labelled utterances, given as ``--train`` (question/answer
  records); never on an evaluation utterance (CLINC's train and test splits are disjoint: checked);
* hybrid: that fine-tuned model with the same retrieval.

The evaluation lines are ``--eval-per-intent`` utterances of each intent from CLINC's ``test``
split, intents interleaved. The issue asks to report which arm wins, whatever the result, with
intervals and the cost of each.

    RAGTUNE_SHARED_DATA=../shared/data python benchmarks/compare_behaviour_clinc150.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _compare_data import clinc_task, print_report, run_compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intents", type=int, default=10)
    parser.add_argument("--train-per-intent", type=int, default=20, help="Labelled train utterances per intent.")
    parser.add_argument("--eval-per-intent", type=int, default=8, help="Test utterances per intent.")
    parser.add_argument("--epochs", type=int, default=None, help="LoRA epochs (default: compare's own).")
    parser.add_argument("--work", type=Path, default=None, help="Keep the task, store and report here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="compare-clinc-") as tmp:
        work = args.work or Path(tmp)
        task = clinc_task(
            work / "task",
            intents=args.intents,
            train_per_intent=args.train_per_intent,
            eval_per_intent=args.eval_per_intent,
        )
        results, seconds, _ = run_compare(
            task["corpus"], task["eval"], work / "run", train=task["train"], epochs=args.epochs
        )
        print(f"intents: {', '.join(task['labels'])}; evaluation utterances also in train: {task['excluded_overlap']}")
        print_report(
            "(b) behaviour, CLINC150 labels",
            results,
            seconds,
            behaviour=True,
            rules=("labels",),
            pairs=[
                (a, b, m)
                for m in ("compliance", "correct")
                for a, b in (("finetuned", "rag"), ("hybrid", "rag"), ("hybrid", "finetuned"))
            ],
        )


if __name__ == "__main__":
    main()
