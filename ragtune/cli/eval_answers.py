"""``ragtune eval answers``: answer a question file through the chain, score it with confidence intervals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragtune.cli.common import (
    EXIT_USAGE,
    JsonFlag,
    RerankFlag,
    chain_config,
    console,
    emit_json,
    fail,
    progress_bar,
    show_table,
    with_settings,
)
from ragtune.cli.index import eval_app

if TYPE_CHECKING:
    from ragtune.config import Settings
    from ragtune.evaluation.answer_eval import AnswerEvalReport

ROUTES = ("auto", "rag", "finetuned", "hybrid", "direct")

_LABELS = {
    "exact_match": "exact match",
    "token_f1": "token F1",
    "contains_answer": "contains answer",
    "supported_share": "supported claims",
    "citation_precision": "citation precision",
    "cited": "answers citing",
    "abstained": "abstentions",
    "unsourced": "said not from documents",
    "latency_ms": "latency (ms)",
    "cost_usd": "cost (USD)",
}


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    if name == "latency_ms":
        return f"{value:.0f}"
    if name == "cost_usd":
        return f"{value:.6f}"
    return f"{value:.2f}"


def _show(report: AnswerEvalReport) -> None:
    from rich.table import Table

    table = Table(title=f"Answer quality on {report.n} questions (95% bootstrap intervals)")
    for column in ("metric", "value", "95% CI", "judged"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, label in _LABELS.items():
        m = report.metrics[name]
        ci = "-" if m.ci_low is None else f"{_fmt(name, m.ci_low)} .. {_fmt(name, m.ci_high)}"
        table.add_row(label, _fmt(name, m.value), ci, str(m.n))
    rows = Table(title="Per question")
    rows.add_column("line")
    rows.add_column("question", no_wrap=True, overflow="ellipsis", max_width=36)
    for column in ("EM", "F1", "contains", "supported", "cit. prec.", "cited", "abst.", "ms"):
        rows.add_column(column, justify="right")
    for q in report.questions:
        if q.error is not None:
            rows.add_row(str(q.line), q.question, f"error: {q.error}")
            continue
        values = [q.exact_match, q.token_f1, q.contains_answer, q.supported_share, q.citation_precision]
        rows.add_row(
            str(q.line),
            q.question,
            *(_fmt("", v) for v in values),
            "yes" if q.cited else "no",
            "yes" if q.abstained else "no",
            _fmt("latency_ms", q.latency_ms),
        )
    show_table(rows)
    show_table(table)


@eval_app.command("answers")
@with_settings
def eval_answers(
    qa: Annotated[Path, typer.Option("--qa", help='JSONL: {"question": ..., "answers": [...], "sources": [...]}.')],
    route: Annotated[str, typer.Option("--route", help="Force a route (rag, finetuned, hybrid, direct) or auto.")] = (
        "auto"
    ),
    mode: Annotated[
        str, typer.Option("--mode", help="Synthesis mode: auto (as ragtune ask), stuff, refine, map_reduce, extract.")
    ] = "auto",
    grounding: Annotated[
        str | None, typer.Option("--grounding", help="Grounding policy: off, annotate or strict.")
    ] = None,
    routes: Annotated[Path | None, typer.Option("--routes", help="Routes JSON file (default: packaged).")] = None,
    rerank: RerankFlag = True,
    k: Annotated[int, typer.Option("--k", min=1, help="Chunks to retrieve.")] = 4,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="Longest reply.")] = 256,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Answer every question of --qa through the chain and report answer quality with 95% intervals."""
    from ragtune.chains.build import build_chain
    from ragtune.chains.options import ChainOptions
    from ragtune.errors import InputError
    from ragtune.evaluation.answer_eval import evaluate_answers, passage_texts
    from ragtune.evaluation.qa_file import load_qa
    from ragtune.retrievers.search import SearchOptions
    from ragtune.workspace import Workspace

    if route not in ROUTES:
        fail(f"unknown route {route!r}; use one of {', '.join(ROUTES)}", code=EXIT_USAGE)
    config = chain_config(mode, grounding, rerank=rerank)
    try:
        qa_file = load_qa(qa)
    except InputError as exc:
        fail(str(exc), code=EXIT_USAGE)
    for error in qa_file.errors:
        console.print(f"[yellow]skipped[/] {error}", highlight=False)
    with Workspace(settings) as ws:
        options = ChainOptions(config=config, search=SearchOptions(k=k), max_new_tokens=max_new_tokens)
        chain = build_chain(ws, routes, options=options)

        def answer(question: str) -> Any:
            return chain.invoke({"question": question, "route": route})

        with progress_bar("eval answers") as bar:
            report = evaluate_answers(answer, qa_file.items, passage_texts(ws), errors=qa_file.errors, progress=bar)
    if json_out:
        emit_json(report)
        return
    _show(report)


__all__ = ["chain_config", "eval_answers"]
