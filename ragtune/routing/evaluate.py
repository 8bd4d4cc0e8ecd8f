"""Routing accuracy, confusion matrix and regret against a cost-aware oracle.

A labelled query names its true route. A label that is not one of the router's routes
(``"oos"``, ``null``) marks an out-of-scope query: the router is right on it when no strategy
is confident. In the confusion matrix such labels, and non-confident decisions, appear as
:data:`NO_ROUTE`.

Where per-route ``quality`` (per query) and ``costs`` (per route, or per query) are known, the
report adds regret against an oracle that picks, per query, the cheapest route whose quality
meets ``quality_bar`` (the best-quality route when none does).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragtune.errors import InputError
from ragtune.jsonl import numbered_lines

if TYPE_CHECKING:
    from ragtune.routing.router import Router

NO_ROUTE = "none"
"""Confusion-matrix label for "no confident route" (and for out-of-scope truth)."""


class LabelledQuery(BaseModel):
    """One line of a labelled file: ``{"query": ..., "route": ...}`` plus optional quality and cost per route."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    route: str | None
    """True route; ``None`` or a name that is no route marks an out-of-scope query."""
    quality: dict[str, float] = Field(default_factory=dict)
    """Answer quality of each route on this query (e.g. token F1), for regret."""
    cost: dict[str, float] = Field(default_factory=dict)
    """Cost of each route on this query; overrides the per-route ``costs`` passed to evaluate."""


class Regret(BaseModel):
    """How far the router's choices are from the oracle's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quality_bar: float
    n: int
    """Queries with quality for every route."""
    oracle_agreement: float
    """Share of queries where the router chose the oracle's route."""
    quality_regret: float
    """Mean of (oracle quality - chosen quality), floored at 0 per query."""
    cost_regret: float
    """Mean of (chosen cost - oracle cost); negative when the router spent less (at a quality loss)."""
    bar_met: float
    """Share of queries where the chosen route met the quality bar."""


class RoutingReport(BaseModel):
    """What ``ragtune route --eval`` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accuracy: float
    """Share of queries whose confident route is their label (out-of-scope: no confident route)."""
    confusion: dict[str, dict[str, int]]
    """true route -> predicted route -> count (``none``: no confident route / out of scope)."""
    n: int
    taken_accuracy: float
    """Share whose *taken* route (after the no-route policy) is their label, in-scope queries only."""
    in_scope_accuracy: float | None = None
    oos_recall: float | None = None
    """Share of out-of-scope queries without a confident route (``None`` without such queries)."""
    per_route: dict[str, dict[str, float]] = Field(default_factory=dict)
    """precision, recall and support per route."""
    mean_latency_ms: float | None = None
    regret: Regret | None = None


def as_examples(labelled: Iterable[Any]) -> list[LabelledQuery]:
    """Accept LabelledQuery objects, dicts or ``(query, route)`` pairs."""
    out = []
    for item in labelled:
        if isinstance(item, LabelledQuery):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(LabelledQuery.model_validate(dict(item)))
        else:
            query, route = item
            out.append(LabelledQuery(query=query, route=route))
    return out


def load_labelled(path: str | Path) -> list[LabelledQuery]:
    """Read a JSONL file of ``{"query": ..., "route": ...}`` lines (blank lines skipped).

    Raises:
        InputError: the file is missing, or a line is not valid; the message names the line.
    """
    file = Path(path)
    out = []
    for number, line in numbered_lines(file, "Labelled file"):
        try:
            out.append(LabelledQuery.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            msg = f'{file} line {number}: expected {{"query": "...", "route": "..."}} ({exc}). Fix the line.'
            raise InputError(msg, path=str(file), line=number) from exc
    if not out:
        raise InputError(f"Labelled file {file} holds no queries", path=str(file))
    return out


def _oracle(quality: Mapping[str, float], cost: Mapping[str, float], bar: float) -> str:
    meeting = [r for r in quality if quality[r] >= bar]
    if meeting:
        return min(meeting, key=lambda r: (cost.get(r, 0.0), -quality[r]))
    return max(quality, key=lambda r: (quality[r], -cost.get(r, 0.0)))


def evaluate_router(
    router: Router,
    labelled: Iterable[Any],
    *,
    costs: Mapping[str, float] | None = None,
    quality_bar: float = 0.5,
) -> RoutingReport:
    """Route every labelled query and score the decisions.

    Args:
        router: the router to evaluate.
        labelled: ``{"query", "route"}`` dicts (optionally with ``quality``/``cost``), pairs, or LabelledQuery.
        costs: cost per route (e.g. mean USD per answer) for regret; per-query ``cost`` overrides it.
        quality_bar: the quality the oracle's route must reach.
    """
    examples = as_examples(labelled)
    if not examples:
        raise InputError("Nothing to evaluate: no labelled queries")
    routes = set(router.routes.names) | {router.config.fallback, router.config.abstain_route}
    decisions = router.route_many([e.query for e in examples])
    confusion: dict[str, dict[str, int]] = {}
    right = taken_right = in_scope = in_right = oos = oos_right = 0
    for example, decision in zip(examples, decisions, strict=True):
        truth = example.route if example.route in routes else NO_ROUTE
        predicted = decision.route if decision.confident else NO_ROUTE
        row = confusion.setdefault(truth, {})
        row[predicted] = row.get(predicted, 0) + 1
        right += predicted == truth
        if truth == NO_ROUTE:
            oos += 1
            oos_right += predicted == NO_ROUTE
        else:
            in_scope += 1
            in_right += predicted == truth
            taken_right += decision.route == truth
    labels = sorted({t for t in confusion} | {p for row in confusion.values() for p in row})
    per_route: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = confusion.get(label, {}).get(label, 0)
        support = sum(confusion.get(label, {}).values())
        predicted_n = sum(row.get(label, 0) for row in confusion.values())
        per_route[label] = {
            "precision": tp / predicted_n if predicted_n else 0.0,
            "recall": tp / support if support else 0.0,
            "support": float(support),
        }
    latencies = [d.latency_ms for d in decisions if d.latency_ms is not None]
    return RoutingReport(
        accuracy=right / len(examples),
        confusion=confusion,
        n=len(examples),
        taken_accuracy=taken_right / in_scope if in_scope else 0.0,
        in_scope_accuracy=in_right / in_scope if in_scope else None,
        oos_recall=oos_right / oos if oos else None,
        per_route=per_route,
        mean_latency_ms=sum(latencies) / len(latencies) if latencies else None,
        regret=_regret(examples, [d.route for d in decisions], costs or {}, quality_bar),
    )


def _regret(examples: list[LabelledQuery], chosen: list[str], costs: Mapping[str, float], bar: float) -> Regret | None:
    rows = [(e, c) for e, c in zip(examples, chosen, strict=True) if e.quality and c in e.quality]
    if not rows:
        return None
    agree = quality_loss = cost_delta = met = 0.0
    for example, route in rows:
        cost = {**costs, **example.cost}
        best = _oracle(example.quality, cost, bar)
        agree += route == best
        quality_loss += max(0.0, example.quality[best] - example.quality[route])
        cost_delta += cost.get(route, 0.0) - cost.get(best, 0.0)
        met += example.quality[route] >= bar
    n = len(rows)
    return Regret(
        quality_bar=bar,
        n=n,
        oracle_agreement=agree / n,
        quality_regret=quality_loss / n,
        cost_regret=cost_delta / n,
        bar_met=met / n,
    )


__all__ = ["NO_ROUTE", "LabelledQuery", "Regret", "RoutingReport", "as_examples", "evaluate_router", "load_labelled"]
