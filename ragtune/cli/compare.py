"""``ragtune compare``: RAG vs fine-tuned vs hybrid on your corpus, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ragtune.cli.common import JsonFlag, console, emit_json, progress_bar, with_settings
from ragtune.cli.common import out as stdout
from ragtune.cli.main import app

if TYPE_CHECKING:
    from ragtune.config import Settings


@app.command()
@with_settings
def compare(
    corpus: Annotated[list[str], typer.Argument(help="Corpus files and folders.")],
    eval_file: Annotated[Path, typer.Option("--eval", help="JSONL of question, answer, optional sources, update.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for results.json, report.md, report.html, charts.")],
    approaches: Annotated[
        str, typer.Option("--approaches", help="Comma-separated: rag, finetuned, hybrid.")
    ] = "rag,finetuned,hybrid",
    model: Annotated[
        str | None, typer.Option("--model", help="Registered fine-tuned model to use instead of training one.")
    ] = None,
    new_facts: Annotated[
        list[str] | None,
        typer.Option("--new-facts", help="Documents with the facts of the update questions (repeat)."),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Passages retrieved per question.")] = 4,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="LoRA epochs when training the local model.")] = 4,
    expect: Annotated[
        Path | None,
        typer.Option(
            "--expect",
            help="JSON file with one expect object (format, schema, labels, max_words, "
            "pattern, must_include, must_not_include) for every line without its own.",
        ),
    ] = None,
    train: Annotated[
        Path | None,
        typer.Option(
            "--train",
            help="Your own training examples (JSONL of question/answer or chat records) "
            "instead of questions generated from the corpus; evaluation questions are dropped.",
        ),
    ] = None,
    updates_per_month: Annotated[
        float, typer.Option("--updates-per-month", min=0.0, help="Fact updates a month, for the break-even.")
    ] = 4.0,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Ingest CORPUS, fine-tune the local model on generated questions, and compare the three approaches.

    The store (``--store``) should be a fresh folder: the comparison ingests, adds new facts and retrains there.
    """
    from ragtune.evaluation.compare import CompareConfig
    from ragtune.evaluation.compare import compare as run_compare
    from ragtune.evaluation.eval_file import load_expect, read_eval
    from ragtune.evaluation.report import write_report
    from ragtune.workspace import Workspace

    names = tuple(a.strip() for a in approaches.split(",") if a.strip())
    config = CompareConfig(
        approaches=names,
        model=model,
        k=k,
        train_epochs=epochs,
        train_file=str(train) if train is not None else None,
        updates_per_month=updates_per_month,
    )
    read = read_eval(eval_file, load_expect(expect) if expect is not None else None)
    for error in read.errors:
        console.print(f"skipped: {error.message}", highlight=False, markup=False)
    with Workspace(settings) as ws, progress_bar("compare") as bar:
        results = run_compare(ws, corpus, read.items, new_facts=new_facts or [], config=config, progress=bar)
    results.setup.eval_errors = [e.model_dump() for e in read.errors]
    paths = write_report(results, out)
    if json_out:
        emit_json(results)
        return
    if results.recommendation is not None:
        stdout.print(results.recommendation.summary, highlight=False)
    stdout.print("(answer quality: mean [95% bootstrap interval])", highlight=False)
    for name, result in results.approaches.items():
        quality = result.quality
        f1 = quality.intervals["token_f1"].describe() if "token_f1" in quality.intervals else f"{quality.token_f1:.2f}"
        correct = quality.intervals.get("correct")
        correct_text = correct.describe("{:.0%}") if correct is not None else f"{quality.correct:.0%}"
        behaviour = result.behaviour
        compliance = (
            f", compliant {behaviour.intervals['compliance'].describe('{:.0%}')}" if behaviour is not None else ""
        )
        stdout.print(
            f"{name:>9}: F1 {f1}, correct {correct_text}{compliance}, "
            f"p50 {result.latency.p50_ms:.0f} ms"
            + (
                f", update {result.update.seconds:.1f}s -> {result.update.answered_after}/{result.update.new_facts}"
                if result.update
                else ""
            ),
            highlight=False,
        )
    stdout.print(f"Report: {paths['report.html']} (and report.md, results.json)", highlight=False)
    if read.errors:
        console.print(
            f"{len(read.errors)} line(s) of {eval_file} were not evaluated (see above); the others were.",
            highlight=False,
        )
