"""RAG vs fine-tuned vs hybrid on knowledge and behaviour together: SQuAD answered as JSON.

Issue 21, task (c). The corpus and questions are those of ``compare_knowledge_squad.py`` (one
Markdown file per SQuAD dev paragraph, its first question), and ``--expect`` applies one
requirement to every line: the answer must be a JSON object ``{"answer": ..., "source": ...}``
(``format: json`` with a JSON Schema requiring both strings). Knowledge is scored on the
``answer`` field. The fine-tuned arm is what ``ragtune compare`` trains by default: local LoRA on
questions generated from the corpus, their answers rendered to the requirement; the hybrid arm is
that model plus retrieval.

What the issue expects the data to show: hybrid beats rag on compliance and finetuned on
correctness, each beyond the noise (paired bootstrap interval excluding 0). The script prints
whatever the data gives; nothing here was chosen to produce that verdict.

    RAGTUNE_SHARED_DATA=../shared/data python benchmarks/compare_json_squad.py --paragraphs 40
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _compare_data import JSON_SCHEMA, print_report, run_compare, squad_arguments, squad_task


def main() -> None:
    args = squad_arguments(__doc__.split("\n\n")[0])
    with tempfile.TemporaryDirectory(prefix="compare-json-") as tmp:
        work = args.work or Path(tmp)
        task = squad_task(
            work / "task",
            paragraphs=args.paragraphs,
            articles=args.articles,
            first_article=args.first_article,
            expect={"format": "json", "schema": JSON_SCHEMA},
        )
        results, seconds, _ = run_compare(
            task["corpus"], task["eval"], work / "run", expect=task["expect"], epochs=args.epochs
        )
        print(f"articles: {', '.join(task['articles'])}")
        print_report(
            "(c) knowledge + JSON, SQuAD",
            results,
            seconds,
            behaviour=True,
            rules=("format", "schema"),
            pairs=[
                ("hybrid", "rag", "compliance"),
                ("hybrid", "finetuned", "correct"),
                ("hybrid", "rag", "correct"),
                ("hybrid", "finetuned", "compliance"),
                ("finetuned", "rag", "compliance"),
            ],
        )


if __name__ == "__main__":
    main()
