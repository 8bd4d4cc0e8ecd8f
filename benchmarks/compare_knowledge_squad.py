"""RAG vs fine-tuned vs hybrid on knowledge: SQuAD v1.1 dev questions through ``ragtune compare``.

Issue 21, task (a). The corpus is ``--paragraphs`` paragraphs of ``--articles`` dev articles (one
Markdown file each, the article title as its heading); every paragraph gives one question (its
first) with its first reference answer and the paragraph's file as ``sources``. The fine-tuned arm
is what ``ragtune compare`` trains by default: local LoRA on the packaged SmolLM2-135M, on
questions it generates from the corpus (never on an evaluation question: those are excluded and
counted). No behaviour requirement: this task measures knowledge only.

What the issue expects the data to show: rag and hybrid beat finetuned on correctness beyond the
noise (the paired bootstrap interval of the per-question difference excludes 0). The script prints
whatever the data gives; nothing here was chosen to produce that verdict.

    RAGTUNE_SHARED_DATA=../shared/data python benchmarks/compare_knowledge_squad.py --paragraphs 40
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _compare_data import print_report, run_compare, squad_arguments, squad_task


def main() -> None:
    args = squad_arguments(__doc__.split("\n\n")[0])
    with tempfile.TemporaryDirectory(prefix="compare-squad-") as tmp:
        work = args.work or Path(tmp)
        task = squad_task(
            work / "task", paragraphs=args.paragraphs, articles=args.articles, first_article=args.first_article
        )
        results, seconds, _ = run_compare(task["corpus"], task["eval"], work / "run", epochs=args.epochs)
        print(f"articles: {', '.join(task['articles'])}")
        print_report(
            "(a) knowledge, SQuAD",
            results,
            seconds,
            behaviour=False,
            pairs=[(a, "finetuned", m) for m in ("correct", "token_f1") for a in ("rag", "hybrid")]
            + [("hybrid", "rag", "correct")],
        )


if __name__ == "__main__":
    main()
