"""Write a comparison out: ``results.json``, ``report.md``, ``report.html`` and the PNG charts they link.

Charts are drawn with matplotlib's object API on an Agg canvas, so writing a
report never changes the process-wide backend (no ``matplotlib.use``).

Example:
    >>> paths = write_report(results, "out/")
    >>> paths["report.md"].read_text()[:40]
    '# RAG vs fine-tuning: comparison report'
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from ragtune.evaluation.results import ApproachResult, ComparisonResults, QuestionResult

COLORS = {"rag": "#1f77b4", "finetuned": "#ff7f0e", "hybrid": "#2ca02c"}


def _color(name: str) -> str:
    return COLORS.get(name, "#7f7f7f")


def _figure(width: float = 7.0, height: float = 3.6):  # type: ignore[no-untyped-def]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _grouped_bars(ax, groups: list[str], series: dict[str, list[float | None]], fmt: str = "{:.2f}") -> None:  # type: ignore[no-untyped-def]
    count = max(len(series), 1)
    width = 0.8 / count
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (count - 1) / 2) * width for g in range(len(groups))]
        heights = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(xs, heights, width, label=name, color=_color(name))
        for bar, value in zip(bars, values, strict=True):
            label = "n/a" if value is None else fmt.format(value)
            ax.annotate(
                label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=7
            )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)


def chart_quality(results: dict[str, ApproachResult], path: Path) -> Path:
    metrics: list[tuple[str, Callable[[ApproachResult], float | None]]] = [
        ("exact match", lambda r: r.quality.exact_match),
        ("token F1", lambda r: r.quality.token_f1),
        ("correct", lambda r: r.quality.correct),
        ("faithfulness", lambda r: r.quality.faithfulness),
        ("context support", lambda r: r.quality.context_support),
        ("citation prec.", lambda r: r.quality.citation_precision),
    ]
    figure = _figure(9.0)
    ax = figure.add_subplot()
    _grouped_bars(ax, [m for m, _ in metrics], {n: [f(r) for _, f in metrics] for n, r in results.items()})
    ax.set_ylim(0, 1.1)
    ax.set_title("Answer quality (higher is better)")
    figure.tight_layout()
    figure.savefig(path)
    return path


def chart_axes(results: dict[str, ApproachResult], path: Path) -> Path | None:
    """Knowledge (share correct) against behaviour (share compliant) per arm, with 95% intervals as error bars."""
    measured = {n: r for n, r in results.items() if r.behaviour is not None}
    if not measured:
        return None
    figure = _figure(5.6, 4.6)
    ax = figure.add_subplot()
    for name, result in measured.items():
        know = result.quality.intervals.get("correct")
        comp = result.behaviour.intervals.get("compliance")  # type: ignore[union-attr]
        x, y = result.quality.correct, result.behaviour.compliance  # type: ignore[union-attr]

        def err(found: object, centre: float) -> list[list[float]]:
            low = getattr(found, "ci_low", None)
            high = getattr(found, "ci_high", None)
            if low is None or high is None:
                return [[0.0], [0.0]]
            return [[max(centre - low, 0.0)], [max(high - centre, 0.0)]]

        ax.errorbar([x], [y], xerr=err(know, x), yerr=err(comp, y), fmt="o", color=_color(name), capsize=4, label=name)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("knowledge: share correct")
    ax.set_ylabel("behaviour: share meeting every requirement")
    ax.set_title("Knowledge vs behaviour (95% intervals)")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    figure.savefig(path)
    return path


def chart_retrieval(results: dict[str, ApproachResult], path: Path) -> Path | None:
    with_retrieval = {n: r for n, r in results.items() if r.retrieval is not None}
    if not with_retrieval:
        return None
    k = next(iter(with_retrieval.values())).retrieval.k  # type: ignore[union-attr]
    metrics = [f"hit@{k}", "MRR", "nDCG@10"]
    series = {
        n: [r.retrieval.hit_at_k, r.retrieval.mrr, r.retrieval.ndcg_at_10]  # type: ignore[union-attr]
        for n, r in with_retrieval.items()
    }
    figure = _figure(6.0)
    ax = figure.add_subplot()
    _grouped_bars(ax, metrics, series)  # type: ignore[arg-type]
    ax.set_ylim(0, 1.1)
    ax.set_title("Retrieval of the relevant sources")
    figure.tight_layout()
    figure.savefig(path)
    return path


def chart_latency(results: dict[str, ApproachResult], path: Path) -> Path:
    figure = _figure(6.0)
    ax = figure.add_subplot()
    series = {n: [r.latency.p50_ms / 1000, r.latency.p95_ms / 1000] for n, r in results.items()}
    _grouped_bars(ax, ["p50", "p95"], series, fmt="{:.2f}s")  # type: ignore[arg-type]
    ax.set_ylabel("seconds per question")
    ax.set_title("Latency (lower is better)")
    figure.tight_layout()
    figure.savefig(path)
    return path


def chart_cost(results: dict[str, ApproachResult], path: Path) -> Path:
    figure = _figure(6.0)
    ax = figure.add_subplot()
    names = list(results)
    projected = [r.cost.projected_per_1k_queries_usd for r in results.values()]
    actual = [r.cost.per_1k_queries_usd for r in results.values()]
    values = [p if p is not None else a for p, a in zip(projected, actual, strict=True)]
    bars = ax.bar(names, values, color=[_color(n) for n in names])
    for bar, r in zip(bars, results.values(), strict=True):
        label = f"${bar.get_height():.4f}\n{r.cost.projected_model or r.cost.model}"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, max(values, default=0.0) * 1.3 or 1.0)
    ax.set_ylabel("USD per 1,000 queries")
    ax.set_title("Cost per 1,000 queries at API prices (lower is better)")
    ax.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    figure.savefig(path)
    return path


def chart_update(results: dict[str, ApproachResult], path: Path) -> Path | None:
    updated = {n: r.update for n, r in results.items() if r.update is not None}
    if not updated:
        return None
    figure = _figure(8.0)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    names = list(updated)
    seconds = [u.seconds for u in updated.values()]  # type: ignore[union-attr]
    bars = left.bar(names, seconds, color=[_color(n) for n in names])
    for bar, u in zip(bars, updated.values(), strict=True):
        left.annotate(
            f"{bar.get_height():.1f}s\n{u.method}",  # type: ignore[union-attr]
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    left.set_ylim(0, max(seconds, default=1.0) * 1.25 or 1.0)
    left.set_title("Time to learn new facts (lower is better)", fontsize=9)
    left.set_ylabel("seconds")
    left.spines[["top", "right"]].set_visible(False)
    series = {
        "before": [u.answered_before for u in updated.values()],  # type: ignore[union-attr]
        "after": [u.answered_after for u in updated.values()],  # type: ignore[union-attr]
    }
    count = 2
    width = 0.38
    for i, (label, values) in enumerate(series.items()):
        xs = [g + (i - (count - 1) / 2) * width for g in range(len(names))]
        right.bar(xs, values, width, label=label, color="#bbbbbb" if label == "before" else "#555555")
    total = max((u.new_facts for u in updated.values()), default=1)  # type: ignore[union-attr]
    right.set_ylim(0, total + 0.5)
    right.set_yticks(range(total + 1))
    right.set_xticks(range(len(names)))
    right.set_xticklabels(names)
    right.set_title(f"New facts answered (of {total})", fontsize=9)
    right.legend(fontsize=8, frameon=False)
    right.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    figure.savefig(path)
    return path


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _ci(result: ApproachResult, measure: str, fmt: str = "{:.2f}") -> str:
    """A quality mean with its 95% interval where one was computed: ``0.60 [0.40, 0.80]``."""
    found = result.quality.intervals.get(measure)
    if found is not None and found.value is not None:
        return found.describe(fmt)
    return _num(getattr(result.quality, measure), fmt)


def summary_rows(results: dict[str, ApproachResult]) -> list[tuple[str, list[str]]]:
    """The report's table: one row per measure, one column per approach (quality with 95% intervals)."""

    def row(label: str, get: Callable[[ApproachResult], str]) -> tuple[str, list[str]]:
        return label, [get(r) for r in results.values()]

    def update(get: Callable[[ApproachResult], str]) -> Callable[[ApproachResult], str]:
        return lambda r: get(r) if r.update is not None else "n/a"

    def behaviour(r: ApproachResult) -> str:
        if r.behaviour is None:
            return "n/a"
        return r.behaviour.intervals["compliance"].describe("{:.0%}")

    rules = sorted({rule for r in results.values() if r.behaviour is not None for rule in r.behaviour.rules})

    def rule_row(rule: str) -> tuple[str, list[str]]:
        def cell(r: ApproachResult) -> str:
            if r.behaviour is None or rule not in r.behaviour.intervals:
                return "n/a"
            return r.behaviour.intervals[rule].describe("{:.0%}")

        return row(f"Behaviour: {rule}", cell)

    def training(r: ApproachResult) -> str:
        if r.cost.training_usd is None and r.cost.training_seconds is None:
            return "n/a"
        usd = f"${r.cost.training_usd:.4f}" if r.cost.training_usd is not None else "-"
        secs = f"{r.cost.training_seconds:.0f} s local" if r.cost.training_seconds is not None else ""
        return f"{usd} ({secs})" if secs else usd

    axes = [row("Knowledge: correct", lambda r: _ci(r, "correct", "{:.0%}"))]
    if any(r.behaviour is not None for r in results.values()):
        axes.append(row("Behaviour: meets every requirement", behaviour))
        axes.extend(rule_row(rule) for rule in rules)
    return [
        *axes,
        row("Exact match", lambda r: _ci(r, "exact_match")),
        row("Token F1", lambda r: _ci(r, "token_f1")),
        row("Correct", lambda r: _ci(r, "correct", "{:.0%}")),
        row("Faithfulness (cited context)", lambda r: _ci(r, "faithfulness")),
        row("Supported by shown context", lambda r: _ci(r, "context_support")),
        row("Claims verified as supported", lambda r: _ci(r, "supported_share")),
        row("Citation precision", lambda r: _ci(r, "citation_precision")),
        row("Citation recall", lambda r: _ci(r, "citation_recall")),
        row("Retrieval hit@k", lambda r: _num(r.retrieval.hit_at_k if r.retrieval else None)),
        row("Retrieval MRR", lambda r: _num(r.retrieval.mrr if r.retrieval else None)),
        row("Retrieval nDCG@10", lambda r: _num(r.retrieval.ndcg_at_10 if r.retrieval else None)),
        row("Latency p50", lambda r: f"{r.latency.p50_ms:.0f} ms"),
        row("Latency p95", lambda r: f"{r.latency.p95_ms:.0f} ms"),
        row("Input tokens / query", lambda r: f"{r.cost.input_tokens_per_query:.0f}"),
        row("Cost / 1k queries (as run)", lambda r: f"${r.cost.per_1k_queries_usd:.4f}"),
        row(
            "Cost / 1k queries (API)",
            lambda r: f"${_num(r.cost.projected_per_1k_queries_usd, '{:.4f}')} ({r.cost.projected_model or '-'})",
        ),
        row("Training (API price; local time)", training),
        row("Update method", update(lambda r: r.update.method)),  # type: ignore[union-attr]
        row("Update time", update(lambda r: f"{r.update.seconds:.1f} s")),  # type: ignore[union-attr]
        row("Update cost (API price)", update(lambda r: _num(r.update.usd, "${:.4f}"))),  # type: ignore[union-attr]
        row(
            "New facts answered",
            update(lambda r: f"{r.update.answered_before} -> {r.update.answered_after} of {r.update.new_facts}"),  # type: ignore[union-attr]
        ),
    ]


def _difference_lines(results: ComparisonResults) -> list[str]:
    if results.recommendation is None:
        return []
    lines = []
    for d in results.recommendation.differences:
        what = "within the noise" if d.within_noise else "beyond the noise"
        lines.append(f"{d.approach} - {d.other}, {d.metric}: {d.difference.describe('{:+.2f}')} ({what})")
    return lines


def _criteria_lines(results: ComparisonResults) -> list[str]:
    """Failed requirements per arm, the paired statements, and the break-even."""
    rec = results.recommendation
    if rec is None:
        return []
    lines = [f"{name} fails: {', '.join(failed) if failed else 'nothing'}" for name, failed in rec.failures.items()]
    if rec.behaviour is not None:
        lines.append(f"behaviour: {rec.behaviour.reason}")
    lines.extend(rec.statements)
    return lines


def _verdict_mark(verdict: str) -> str:
    return "supported" if verdict == "supported" else "UNSUPPORTED"


def _citation_line(q: QuestionResult) -> str:
    if not q.citations:
        return "no citation"

    def judged(relevant: bool | None) -> str:
        return "" if relevant is None else (" (relevant)" if relevant else " (not relevant)")

    return ", ".join(f"[{c.number}] {c.source}{judged(c.relevant)}" for c in q.citations)


def _behaviour_line(q: QuestionResult) -> str:
    rules = ", ".join(f"{rule} {'ok' if ok else 'FAILED'}" for rule, ok in (q.behaviour or {}).items())
    replaced = f"; replaced by the verified passage value: {', '.join(q.replaced_values)}" if q.replaced_values else ""
    return f"{'meets every requirement' if q.compliant else 'fails a requirement'} ({rules}){replaced}"


def _claim_lines(q: QuestionResult) -> list[str]:
    return [
        f"{_verdict_mark(c.verdict)} ({c.support:.2f}"
        + (f", cites {', '.join(f'[{n}]' for n in c.citations)}" if c.citations else "")
        + f"): {c.text}"
        for c in q.claims
    ]


def _answers_markdown(approaches: dict[str, ApproachResult]) -> list[str]:
    lines = ["", "## Answers, claims and citations", ""]
    for name, result in approaches.items():
        lines += [f"### {name}", ""]
        for q in result.questions:
            verdict = "correct" if q.correct else "not correct"
            lines.append(f"- **{q.question}** (reference: {q.reference}; F1 {q.token_f1:.2f}, {verdict})")
            lines.append(f"  - answer: {' '.join(q.answer.split())}")
            if q.behaviour is not None:
                lines.append(f"  - behaviour: {_behaviour_line(q)}")
            lines.append(f"  - citations: {_citation_line(q)}")
            lines.extend(f"  - claim {line}" for line in _claim_lines(q))
        lines.append("")
    return lines


def render_markdown(results: ComparisonResults, charts: dict[str, str]) -> str:
    approaches = results.approaches
    setup = results.setup
    lines = ["# RAG vs fine-tuning: comparison report", ""]
    lines.append(
        f"{setup.questions} evaluation questions over {setup.documents} documents; "
        f"models: {', '.join(f'{n} = {r.model}' for n, r in approaches.items())}."
    )
    lines += ["", "## Recommendation", ""]
    if results.recommendation is not None:
        lines.append(results.recommendation.summary)
        lines.append("")
        criteria = _criteria_lines(results)
        if criteria:
            lines += ["", "Requirements (knowledge and behaviour: paired bootstrap, 95% interval):", ""]
            lines.extend(f"- {c}" for c in criteria)
            lines += ["", "Other axes:", ""]
        lines.extend(f"- **{v.axis}**: {v.reason}" for v in results.recommendation.verdicts)
        differences = _difference_lines(results)
        if differences:
            lines += ["", "Answer-quality differences (paired bootstrap, 95% interval):", ""]
            lines.extend(f"- {d}" for d in differences)
    lines += ["", "## Results", "", "Quality measures show the mean and its 95% bootstrap interval."]
    lines += ["", "| measure | " + " | ".join(approaches) + " |", "|---|" + "---|" * len(approaches)]
    lines.extend(f"| {label} | " + " | ".join(cells) + " |" for label, cells in summary_rows(approaches))
    lines += _answers_markdown(approaches)
    lines += ["", "## Charts", ""]
    lines.extend(f"![{title}]({name})" for title, name in charts.items())
    lines += ["", "## Setup", "", "```json", setup.model_dump_json(indent=2), "```", ""]
    return "\n".join(lines)


def _answers_html(approaches: dict[str, ApproachResult]) -> str:
    esc = html.escape
    parts = ["<h2>Answers, claims and citations</h2>"]
    for name, result in approaches.items():
        parts.append(f"<h3>{esc(name)}</h3><ul>")
        for q in result.questions:
            verdict = "correct" if q.correct else "not correct"
            claims = "".join(f"<li>claim {esc(line)}</li>" for line in _claim_lines(q))
            parts.append(
                f"<li><b>{esc(q.question)}</b> (reference: {esc(q.reference)}; F1 {q.token_f1:.2f}, {verdict})"
                f"<ul><li>answer: {esc(' '.join(q.answer.split()))}</li>"
                + (f"<li>behaviour: {esc(_behaviour_line(q))}</li>" if q.behaviour is not None else "")
                + f"<li>citations: {esc(_citation_line(q))}</li>{claims}</ul></li>"
            )
        parts.append("</ul>")
    return "".join(parts)


def render_html(results: ComparisonResults, charts: dict[str, str]) -> str:
    approaches = results.approaches
    esc = html.escape
    head = "".join(f"<th>{esc(n)}</th>" for n in approaches)
    body = "".join(
        f"<tr><td>{esc(label)}</td>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
        for label, cells in summary_rows(approaches)
    )
    verdicts = ""
    summary = ""
    if results.recommendation is not None:
        summary = f"<p>{esc(results.recommendation.summary)}</p>"
        criteria = _criteria_lines(results)
        verdicts = (
            (
                "<p>Requirements (knowledge and behaviour: paired bootstrap, 95% interval):</p><ul>"
                + "".join(f"<li>{esc(c)}</li>" for c in criteria)
                + "</ul><p>Other axes:</p>"
                if criteria
                else ""
            )
            + "<ul>"
            + "".join(f"<li><b>{esc(v.axis)}</b>: {esc(v.reason)}</li>" for v in results.recommendation.verdicts)
            + "</ul>"
        )
        differences = _difference_lines(results)
        if differences:
            verdicts += (
                "<p>Answer-quality differences (paired bootstrap, 95% interval):</p><ul>"
                + "".join(f"<li>{esc(d)}</li>" for d in differences)
                + "</ul>"
            )
    images = "".join(f'<figure><img src="{esc(name)}" alt="{esc(title)}"></figure>' for title, name in charts.items())
    setup = esc(results.setup.model_dump_json(indent=2))
    style = (
        "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
        "td:first-child{text-align:left}img{max-width:100%}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>RAG vs fine-tuning</title>"
        f"<style>{style}</style></head><body><h1>RAG vs fine-tuning: comparison report</h1>"
        f"<h2>Recommendation</h2>{summary}{verdicts}"
        f"<h2>Results</h2><p>Quality measures show the mean and its 95% bootstrap interval.</p>"
        f"<table><tr><th>measure</th>{head}</tr>{body}</table>{_answers_html(approaches)}"
        f"<h2>Charts</h2>{images}<h2>Setup</h2><pre>{setup}</pre></body></html>"
    )


def write_charts(results: ComparisonResults, out: Path) -> dict[str, str]:
    """Draw every chart that has data; returns title -> file name (relative to ``out``)."""
    approaches = results.approaches
    charts: dict[str, str] = {}
    for title, name, draw in (
        ("Knowledge vs behaviour", "axes.png", chart_axes),
        ("Answer quality", "quality.png", chart_quality),
        ("Retrieval", "retrieval.png", chart_retrieval),
        ("Latency", "latency.png", chart_latency),
        ("Cost per 1,000 queries", "cost.png", chart_cost),
        ("Update cost", "update.png", chart_update),
    ):
        if draw(approaches, out / name) is not None:  # type: ignore[operator]
            charts[title] = name
    return charts


def write_report(results: ComparisonResults, out: str | Path) -> dict[str, Path]:
    """Write ``results.json``, the charts, ``report.md`` and ``report.html`` into ``out``; returns their paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    charts = write_charts(results, folder)
    paths = {
        "results.json": folder / "results.json",
        "report.md": folder / "report.md",
        "report.html": folder / "report.html",
    }
    paths["results.json"].write_text(results.model_dump_json(indent=2), encoding="utf-8")
    paths["report.md"].write_text(render_markdown(results, charts), encoding="utf-8")
    paths["report.html"].write_text(render_html(results, charts), encoding="utf-8")
    paths.update({name: folder / name for name in charts.values()})
    return paths


__all__ = [
    "chart_axes",
    "chart_cost",
    "chart_latency",
    "chart_quality",
    "chart_retrieval",
    "chart_update",
    "render_html",
    "render_markdown",
    "summary_rows",
    "write_charts",
    "write_report",
]
