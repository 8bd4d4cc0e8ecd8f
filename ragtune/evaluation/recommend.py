"""A recommendation computed from a comparison's numbers, never written in advance.

Each axis names its winner (or a tie within the axis tolerance), the values
behind it and a reason assembled from the measurements (token counts, context,
update times). Answer quality gates the overall pick: among the approaches
that tie for the best token F1, the one winning most other axes is
recommended (then the fresher one); an approach that is faster or cheaper but
answers worse is named with what it trades away.

Point figures on a dozen questions are noisy (one answer moves a share by 8
points), so the pick is checked against every other approach with a paired
bootstrap of the per-question token F1 and correctness differences
(:func:`~ragtune.evaluation.bootstrap.paired_difference`); the summary says
whether each quality lead is beyond the noise or within it.

Axes and tolerances:

===========  ==========================================  =====================
axis         measure                                     tie when within
===========  ==========================================  =====================
quality      token F1 (then share correct)               0.02 absolute
grounding    answer sentences supported by the passages  0.05 absolute
             the model was shown
citations    citation precision                          0.05 absolute
latency      p50 latency (lower wins)                    10% relative
cost         projected USD per 1,000 queries (lower)     5% relative
freshness    new facts answered after the update,        same count and 10%
             then update seconds (lower)                 relative seconds
===========  ==========================================  =====================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ragtune.evaluation.bootstrap import paired_difference
from ragtune.evaluation.results import (
    ApproachResult,
    AxisVerdict,
    QualityDifference,
    Recommendation,
    per_question,
)

NOISE_METRICS = ("token_f1", "correct")
"""Per-question quality measures the pick is tested on against each other approach."""


@dataclass(frozen=True)
class _Axis:
    name: str
    label: str
    value: Callable[[ApproachResult], float | None]
    higher_is_better: bool
    absolute: float = 0.0
    relative: float = 0.0

    def tie(self, best: float, other: float) -> bool:
        gap = abs(best - other)
        if gap <= self.absolute + 1e-9:
            return True
        scale = max(abs(best), abs(other))
        return scale > 0 and gap / scale <= self.relative


def _cost(result: ApproachResult) -> float:
    cost = result.cost
    return (
        cost.projected_per_1k_queries_usd if cost.projected_per_1k_queries_usd is not None else cost.per_1k_queries_usd
    )


def _fresh(result: ApproachResult) -> float | None:
    update = result.update
    if update is None or update.new_facts == 0:
        return None
    return update.answered_after / update.new_facts


AXES = (
    _Axis("quality", "Answer quality", lambda r: r.quality.token_f1, True, absolute=0.02),
    _Axis("grounding", "Grounding", lambda r: r.quality.context_support, True, absolute=0.05),
    _Axis("citations", "Citations", lambda r: r.quality.citation_precision, True, absolute=0.05),
    _Axis("latency", "Latency", lambda r: r.latency.p50_ms, False, relative=0.10),
    _Axis("cost", "Cost", _cost, False, absolute=1e-9, relative=0.05),
    _Axis("freshness", "Update cost", _fresh, True, absolute=1e-9),
)


def _fmt(axis: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if axis == "latency":
        return f"{value:.0f} ms"
    if axis == "cost":
        return f"${value:.4f}"
    if axis == "freshness":
        return f"{value:.0%}"
    return f"{value:.2f}"


def _others(axis: str, values: Mapping[str, float | None], leader: str) -> str:
    rest = [f"{name} {_fmt(axis, v)}" for name, v in values.items() if name != leader and v is not None]
    return f" vs {', '.join(rest)}" if rest else ""


def _why(axis: str, winner: str, results: dict[str, ApproachResult]) -> str:
    """The measured fact that explains a win, where the data holds one."""
    best = results[winner]
    if axis == "quality":
        return f" It answers {best.quality.correct:.0%} of the {best.quality.n} questions correctly."
    if axis == "grounding":
        blind = [n for n, r in results.items() if r.retrieval is None]
        if blind:
            return f" {', '.join(blind)} answers without passages, so nothing it says can be checked against a source."
        return ""
    if axis in ("latency", "cost"):
        tokens = {n: r.cost.input_tokens_per_query for n, r in results.items()}
        described = ", ".join(f"{n} {t:.0f}" for n, t in tokens.items())
        priced = (
            f", priced at {best.cost.projected_model} rates" if axis == "cost" and best.cost.projected_model else ""
        )
        return f" Input tokens per query (retrieved context included): {described}{priced}."
    if axis == "freshness":
        parts = []
        for name, result in results.items():
            u = result.update
            if u is not None:
                parts.append(
                    f"{name} answered {u.answered_after}/{u.new_facts} new facts {u.seconds:.1f} s after {u.method} "
                    f"({u.answered_before} before)"
                )
        return " " + "; ".join(parts) + "." if parts else ""
    return ""


def verdict(axis: _Axis, results: dict[str, ApproachResult]) -> AxisVerdict | None:
    """The winner of one axis, or ``None`` when fewer than two approaches have a value."""
    values = {name: axis.value(r) for name, r in results.items()}
    present = {n: v for n, v in values.items() if v is not None}
    if len(present) < 2:
        return None
    ranked = sorted(present, key=lambda n: present[n], reverse=axis.higher_is_better)
    leader = ranked[0]
    tied = [n for n in ranked if axis.tie(present[leader], present[n])]
    if axis.name == "freshness" and len(tied) > 1:
        # Same share of new facts answered: the faster update wins.
        seconds = {n: results[n].update.seconds for n in tied if results[n].update is not None}  # type: ignore[union-attr]
        fastest = min(seconds, key=lambda n: seconds[n])
        close = [n for n in tied if seconds[n] <= seconds[fastest] * 1.10 + 1e-9]
        tied = close
        leader = fastest
    if len(tied) > 1:
        tied_values = ", ".join(f"{n} {_fmt(axis.name, present[n])}" for n in tied)
        rest = _others(axis.name, {k: v for k, v in present.items() if k not in tied}, "")
        who = "All approaches" if len(tied) == len(present) else " and ".join(tied)
        reason = f"{who} tie on {axis.label.lower()} ({tied_values}{rest})."
        if axis.name != "quality":
            reason += _why(axis.name, tied[0], results)
        return AxisVerdict(axis=axis.name, winner=None, tied=tied, values=values, reason=reason)
    lead_value = present[leader]
    reason = (
        f"{leader} leads on {axis.label.lower()} ({_fmt(axis.name, lead_value)}{_others(axis.name, present, leader)})."
        + _why(axis.name, leader, results)
    )
    return AxisVerdict(axis=axis.name, winner=leader, values=values, reason=reason)


def _trade(name: str, axes: list[str], results: dict[str, ApproachResult]) -> str:
    quality = results[name].quality
    return f"{name} wins {', '.join(axes)} but answers {quality.correct:.0%} correctly (F1 {quality.token_f1:.2f})"


def quality_differences(overall: str, results: dict[str, ApproachResult]) -> list[QualityDifference]:
    """Paired bootstrap of ``overall`` minus each other approach, on the questions both answered."""
    pick = results[overall]
    differences = []
    for other, result in results.items():
        if other == overall or not pick.questions or len(result.questions) != len(pick.questions):
            continue
        for metric in NOISE_METRICS:
            diff = paired_difference(per_question(pick, metric), per_question(result, metric))
            if diff.value is not None:
                differences.append(
                    QualityDifference(
                        approach=overall, other=other, metric=metric, difference=diff, within_noise=diff.contains(0.0)
                    )
                )
    return differences


def _signed(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.0%}" if metric == "correct" else f"{value:+.2f}"


def _noise_note(other: str, diffs: list[QualityDifference]) -> str:
    """One sentence: is the pick's quality lead over ``other`` beyond the noise of these questions?"""
    parts = [
        f"{'F1' if d.metric == 'token_f1' else 'correct'} {_signed(d.metric, d.difference.value)} "
        f"(95% CI {_signed(d.metric, d.difference.ci_low)} to {_signed(d.metric, d.difference.ci_high)})"
        for d in diffs
    ]
    n = diffs[0].difference.n
    if all(d.within_noise for d in diffs):
        return (
            f"Against {other} the difference is within the noise of these {n} questions ({'; '.join(parts)}): "
            "more questions are needed to tell them apart."
        )
    return f"Against {other} the difference is beyond the noise ({'; '.join(parts)}, paired over {n} questions)."


def recommend(results: dict[str, ApproachResult]) -> Recommendation:
    """Per-axis verdicts and an overall pick from the measured results (see the module docs)."""
    verdicts = [v for axis in AXES if (v := verdict(axis, results)) is not None]
    if not results:
        return Recommendation(overall=None, verdicts=verdicts, summary="No approach was measured.")
    won = {name: [v.axis for v in verdicts if v.winner == name] for name in results}
    quality_axis = AXES[0]
    best = max(r.quality.token_f1 for r in results.values())
    contenders = [n for n, r in results.items() if quality_axis.tie(best, r.quality.token_f1)]
    overall = max(contenders, key=lambda n: (len(won[n]), results[n].quality.token_f1, _fresh(results[n]) or 0.0))
    lead = results[overall].quality
    if len(contenders) > 1:
        rivals = [n for n in contenders if n != overall]
        f1s = ", ".join(f"{n} {results[n].quality.token_f1:.2f}" for n in contenders)
        ahead = len(won[overall]) > max(len(won[n]) for n in rivals)
        decider = "wins more of the other axes" if ahead else "has the higher F1 or fresher answers"
        why = f"it ties with {', '.join(rivals)} for the best answer quality (F1 {f1s}) and {decider}"
    else:
        why = f"it gives the best answers (token F1 {lead.token_f1:.2f}, {lead.correct:.0%} correct)"
    parts = [f"Recommended: {overall}, because {why}"]
    own = [a for a in won[overall] if a != "quality"]
    if own:
        parts.append(f"it also wins {', '.join(own)}")
    trades = [_trade(n, axes, results) for n, axes in won.items() if n != overall and axes]
    summary = "; ".join(parts) + "." + (" " + "; ".join(trades) + "." if trades else "")
    differences = quality_differences(overall, results)
    for other in results:
        mine = [d for d in differences if d.other == other]
        if mine:
            summary += " " + _noise_note(other, mine)
    return Recommendation(overall=overall, verdicts=verdicts, summary=summary, differences=differences)


__all__ = ["AXES", "NOISE_METRICS", "quality_differences", "recommend", "verdict"]
