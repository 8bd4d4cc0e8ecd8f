"""The unseen routing report set is apart from the route examples and from every set that tuned them."""

from __future__ import annotations

import re
from pathlib import Path

from ragtune.routing import RouteSet, load_labelled

DATA = Path(__file__).resolve().parent.parent / "benchmarks" / "data"
TUNING = ("routing_dev.jsonl", "routing_labelled.jsonl", "routing_heldout.jsonl")


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def test_unseen_routing_set_shares_no_query_with_the_routes_or_the_tuning_sets() -> None:
    unseen = load_labelled(DATA / "routing_unseen.jsonl")
    routes = RouteSet.default()
    assert len(unseen) >= 120
    counts = {name: sum(q.route == name for q in unseen) for name in routes.names}
    assert sum(counts.values()) == len(unseen) and min(counts.values()) >= 20, counts
    seen = {_key(e) for r in routes for e in r.examples}
    seen |= {_key(e) for r in RouteSet.from_file(DATA / "routing_paraphrased_routes.json") for e in r.examples}
    for name in TUNING:
        seen |= {_key(q.query) for q in load_labelled(DATA / name)}
    assert not [q.query for q in unseen if _key(q.query) in seen]
    assert len({_key(q.query) for q in unseen}) == len(unseen)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def test_unseen_routing_set_has_no_near_copy_in_the_routes_or_the_tuning_sets() -> None:
    """No unseen query shares half its words (Jaccard) with a route example or a tuning query."""
    others = [e for r in RouteSet.default() for e in r.examples]
    others += [e for r in RouteSet.from_file(DATA / "routing_paraphrased_routes.json") for e in r.examples]
    for name in TUNING:
        others += [q.query for q in load_labelled(DATA / name)]
    near = []
    for q in load_labelled(DATA / "routing_unseen.jsonl"):
        words = _words(q.query)
        for other in others:
            if len(words & _words(other)) >= 0.5 * len(words | _words(other)):
                near.append((q.query, other))
    assert not near
