"""A recommendation computed from a comparison's numbers, never written in advance.

The pick follows the requirements the user asked for: **knowledge** (share of answers correct)
always, and **behaviour** (share of answers meeting their ``expect``) when any line has one. An
arm *fails* a requirement when another arm is ahead of it beyond the noise: the paired bootstrap
interval of the per-question difference (:func:`~ragtune.evaluation.bootstrap.paired_difference`)
lies above 0. It fails *update cost* when another arm answers more new facts after its update (or
as many in under half the time), and *latency* when its p95 is over twice the fastest arm's.

Among the arms failing nothing asked for, a tie goes to the cheaper arm (projected cost per 1,000
queries, within 5%) and then the simpler one (rag, then finetuned, then hybrid), and the summary
says so. hybrid is recommended only when it beats each single arm beyond the noise on something
asked for. Every pairwise statement carries its paired interval; inside the noise it says how many
questions would separate the two arms, estimated from the observed per-question differences.
The break-even weighs the fine-tuned arm's cheaper inference against its training and its
retraining per update.

The per-axis verdicts below stay as supporting detail (each names its winner or a tie within the
axis tolerance, with the values behind it and a reason assembled from the measurements).

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

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ragtune.evaluation.bootstrap import Interval, paired_difference
from ragtune.evaluation.results import (
    ApproachResult,
    AxisVerdict,
    BreakEven,
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


Z = 1.96
"""Normal quantile of the 95% intervals, for the questions-needed estimate."""
SIMPLICITY = {"rag": 0, "finetuned": 1, "hybrid": 2}
"""How much an arm takes to build and keep up: no training, a trained model, both."""
ASKED_MEASURES = {"knowledge": "correct", "behaviour": "compliant"}
"""The per-question measure each asked requirement is judged on."""


def _values(result: ApproachResult, measure: str) -> list[float | None]:
    return per_question(result, measure)


def paired(a: ApproachResult, b: ApproachResult, measure: str) -> Interval:
    """Paired bootstrap of ``a - b`` on a per-question measure (all ``None`` when they answered different questions)."""
    if len(a.questions) != len(b.questions) or not a.questions:
        return Interval(value=None)
    return paired_difference(_values(a, measure), _values(b, measure))


def questions_needed(a: ApproachResult, b: ApproachResult, measure: str) -> int | None:
    """Questions needed for the observed paired difference to clear its 95% interval: ``(1.96 sd / mean)^2``.

    Estimated from the observed per-question differences; ``None`` when no difference was observed
    (nothing to separate) or the differences do not vary.
    """
    pairs = [
        (x, y)
        for x, y in zip(_values(a, measure), _values(b, measure), strict=False)
        if x is not None and y is not None
    ]
    if len(pairs) < 2:
        return None
    diffs = [x - y for x, y in pairs]
    mean_diff = sum(diffs) / len(diffs)
    var = sum((d - mean_diff) ** 2 for d in diffs) / (len(diffs) - 1)
    if abs(mean_diff) < 1e-12 or var <= 0:
        return None
    return math.ceil((Z * math.sqrt(var) / abs(mean_diff)) ** 2)


def _asked(results: Mapping[str, ApproachResult]) -> list[str]:
    asked = ["knowledge"]
    if any(r.behaviour is not None for r in results.values()):
        asked.append("behaviour")
    return asked


def beats(a: ApproachResult, b: ApproachResult, requirement: str) -> bool:
    """``a`` is ahead of ``b`` on a requirement beyond the noise (the paired interval lies above 0)."""
    diff = paired(a, b, ASKED_MEASURES[requirement])
    return diff.ci_low is not None and diff.ci_low > 0


def _update_fails(name: str, results: Mapping[str, ApproachResult]) -> bool:
    mine = results[name].update
    if mine is None:
        return False
    for other, result in results.items():
        u = result.update
        if other == name or u is None:
            continue
        if u.answered_after > mine.answered_after:
            return True
        if u.answered_after == mine.answered_after and u.seconds * 2 < mine.seconds:
            return True
    return False


def failures(results: Mapping[str, ApproachResult]) -> dict[str, list[str]]:
    """Per arm, the requirements it fails.

    ``knowledge`` / ``behaviour``: another arm is ahead beyond the noise (paired interval of share
    correct / share compliant); ``update cost``: another arm answers more new facts after its
    update, or as many in under half the time; ``latency``: its p95 is over twice the fastest arm's.
    """
    asked = _asked(results)
    fastest = min((r.latency.p95_ms for r in results.values()), default=0.0)
    out: dict[str, list[str]] = {}
    for name, result in results.items():
        failed = [req for req in asked if any(beats(o, result, req) for n, o in results.items() if n != name)]
        if _update_fails(name, results):
            failed.append("update cost")
        if fastest > 0 and result.latency.p95_ms > 2 * fastest:
            failed.append("latency")
        out[name] = failed
    return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.0%}"


def compare_statement(a: str, b: str, results: Mapping[str, ApproachResult], requirement: str) -> str:
    """``a`` vs ``b`` on one requirement, with the paired interval (and the questions needed inside the noise)."""
    measure = ASKED_MEASURES[requirement]
    what = "correct" if requirement == "knowledge" else "compliant"
    diff = paired(results[a], results[b], measure)
    if diff.value is None:
        return f"{a} vs {b}, {requirement}: not measured on the same questions."
    ci = f"95% paired CI {_pct(diff.ci_low)} to {_pct(diff.ci_high)}, n={diff.n}"
    shown = f"{a} - {b}, share {what}: {_pct(diff.value)} ({ci})"
    if not diff.contains(0.0):
        return f"{shown}: beyond the noise."
    needed = questions_needed(results[a], results[b], measure)
    if needed is None:
        return f"{shown}: within the noise; no difference was observed, so more questions would not separate them."
    needed = max(needed, diff.n + 1)  # the bootstrap says these n do not suffice, whatever the normal estimate
    more = needed - diff.n
    return (
        f"{shown}: within the noise; about {more} more questions ({needed} in all) would separate them "
        "at this difference."
    )


def behaviour_verdict(results: Mapping[str, ApproachResult]) -> AxisVerdict | None:
    """The arm that meets the behaviour requirements best, beyond the noise against every other (else a tie)."""
    measured = {n: r for n, r in results.items() if r.behaviour is not None}
    if not measured:
        return None
    values: dict[str, float | None] = {n: r.behaviour.compliance for n, r in measured.items()}  # type: ignore[union-attr]
    described = ", ".join(
        f"{n} {r.behaviour.intervals['compliance'].describe('{:.0%}')}"  # type: ignore[union-attr]
        for n, r in measured.items()
    )
    winners = [n for n, r in measured.items() if all(beats(r, o, "behaviour") for m, o in measured.items() if m != n)]
    if len(winners) == 1 and len(measured) > 1:
        w = winners[0]
        return AxisVerdict(
            axis="behaviour",
            winner=w,
            values=values,
            reason=f"{w} meets the requirements most often, beyond the noise against every other arm ({described}).",
        )
    unbeaten = [
        n for n, r in measured.items() if not any(beats(o, r, "behaviour") for m, o in measured.items() if m != n)
    ]
    return AxisVerdict(
        axis="behaviour",
        winner=None,
        tied=unbeaten,
        values=values,
        reason=f"{_and(unbeaten)} tie on behaviour within the noise ({described}).",
    )


def break_even(
    results: Mapping[str, ApproachResult],
    *,
    updates_per_month: float,
    training: float | None,
    retrain: float | None,
) -> BreakEven | None:
    """Queries after which the fine-tuned arm's cheaper inference pays for training and retraining (vs rag)."""
    arm = next((n for n in ("finetuned", "hybrid") if n in results), None)
    if arm is None or "rag" not in results:
        return None
    tuned, rag = results[arm], results["rag"]
    train_usd = training if training is not None else (tuned.cost.training_usd or 0.0)
    retrain_usd = retrain if retrain is not None else train_usd
    saving = (_cost(rag) - _cost(tuned)) / 1000
    monthly = updates_per_month * retrain_usd
    model = tuned.cost.projected_model or tuned.cost.model
    as_of = tuned.cost.prices_as_of
    if saving <= 0:
        queries = first = None
        more = f"costs ${-saving * 1000:.4f} more per 1,000 queries" if saving < 0 else "costs the same per query"
        statement = (
            f"{arm} never breaks even against rag: it {more} "
            f"(projected at {model} prices as of {as_of}), and adds ${train_usd:.4f} of training and "
            f"${monthly:.4f} a month of retraining at {updates_per_month:g} updates a month."
        )
    elif train_usd <= 0 and retrain_usd <= 0:
        queries = first = 0.0
        statement = (
            f"{arm} saves ${saving * 1000:.4f} per 1,000 queries against rag (projected at {model} prices as of "
            f"{as_of}) and no training cost was measured (a given model), so it is cheaper from the first query."
        )
    else:
        queries = monthly / saving
        first = (train_usd + monthly) / saving
        statement = (
            f"{arm} saves ${saving * 1000:.4f} per 1,000 queries against rag (projected at {model} prices as of "
            f"{as_of}); at {updates_per_month:g} updates a month its retraining (${retrain_usd:.4f} each) is paid "
            f"back above {queries:,.0f} queries a month, and training plus the first month's retraining after "
            f"{first:,.0f} queries."
        )
    return BreakEven(
        arm=arm,
        updates_per_month=updates_per_month,
        per_query_saving_usd=saving,
        training_usd=train_usd,
        retrain_usd=retrain_usd,
        monthly_retrain_usd=monthly,
        queries_per_month=queries,
        first_month_queries=first,
        model=model,
        prices_as_of=as_of,
        statement=statement,
    )


def _hybrid_allowed(results: Mapping[str, ApproachResult], asked: list[str]) -> tuple[bool, str]:
    """hybrid only when it beats each single arm on something asked for (beyond the noise)."""
    if "hybrid" not in results:
        return False, ""
    hybrid = results["hybrid"]
    missing = [
        s for s in ("rag", "finetuned") if s in results and not any(beats(hybrid, results[s], req) for req in asked)
    ]
    if missing:
        return (
            False,
            f"hybrid is not recommended: it does not beat {' or '.join(missing)} beyond the noise "
            f"on {' or '.join(asked)}.",
        )
    return True, ""


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _cheaper_simpler(names: list[str], results: Mapping[str, ApproachResult]) -> list[str]:
    """Cheapest projected cost per 1,000 queries first (within 5%: a tie), then the simpler arm."""
    cheapest = min((_cost(results[n]) for n in names), default=0.0)

    def key(name: str) -> tuple[int, int, float]:
        cost = _cost(results[name])
        near = cost <= cheapest * 1.05 + 1e-12
        return (0 if near else 1, SIMPLICITY.get(name, 9), cost)

    return sorted(names, key=key)


def recommend(
    results: dict[str, ApproachResult],
    *,
    updates_per_month: float = 4.0,
    training: float | None = None,
    retrain: float | None = None,
) -> Recommendation:
    """The pick that follows the criteria (see the module docs), with the statements behind it."""
    verdicts = [v for axis in AXES if (v := verdict(axis, results)) is not None]
    if not results:
        return Recommendation(overall=None, verdicts=verdicts, summary="No approach was measured.")
    asked = _asked(results)
    failed = failures(results)
    hybrid_ok, hybrid_note = _hybrid_allowed(results, asked)
    passing = [n for n in results if not any(req in failed[n] for req in asked)]
    allowed = [n for n in passing if n != "hybrid" or hybrid_ok]
    if not allowed:
        eligible = [n for n in results if n != "hybrid" or hybrid_ok] or list(results)
        allowed = sorted(eligible, key=lambda n: sum(req in failed[n] for req in asked))[:1]
    overall = _cheaper_simpler(allowed, results)[0]
    parts = []
    if len(passing) > 1:
        tied = _cheaper_simpler(passing, results)
        costs = ", ".join(f"{n} ${_cost(results[n]):.4f}" for n in tied)
        parts.append(
            f"Recommended: {overall}. {_and(tied)} tie within the noise on {' and '.join(asked)}; "
            f"the tie goes to the cheaper and simpler arm ({overall}; projected cost per 1,000 queries: {costs})."
        )
    elif passing:
        parts.append(f"Recommended: {overall}: no other arm is ahead of it beyond the noise on {' or '.join(asked)}.")
    else:
        parts.append(f"Recommended: {overall}, although every arm fails a requirement; it fails the fewest.")
    if hybrid_note:
        parts.append(hybrid_note)
    fails = "; ".join(f"{n} fails {', '.join(f) if f else 'nothing'}" for n, f in failed.items())
    parts.append(f"Requirements failed: {fails}.")
    behaviour = behaviour_verdict(results)
    statements = [
        compare_statement(overall, other, results, req) for other in results if other != overall for req in asked
    ]
    even = break_even(results, updates_per_month=updates_per_month, training=training, retrain=retrain)
    if even is not None:
        statements.append(even.statement)
    if behaviour is not None:
        parts.append(behaviour.reason)
    summary = " ".join(parts) + " " + " ".join(statements)
    differences = quality_differences(overall, results)
    if "behaviour" in asked:
        for other, result in results.items():
            if other == overall:
                continue
            diff = paired(results[overall], result, "compliant")
            if diff.value is not None:
                differences.append(
                    QualityDifference(
                        approach=overall,
                        other=other,
                        metric="compliance",
                        difference=diff,
                        within_noise=diff.contains(0.0),
                    )
                )
    return Recommendation(
        overall=overall,
        verdicts=verdicts,
        summary=summary,
        differences=differences,
        behaviour=behaviour,
        break_even=even,
        failures=failed,
        statements=statements,
    )


__all__ = [
    "AXES",
    "NOISE_METRICS",
    "behaviour_verdict",
    "beats",
    "break_even",
    "compare_statement",
    "failures",
    "paired",
    "quality_differences",
    "questions_needed",
    "recommend",
    "verdict",
]
