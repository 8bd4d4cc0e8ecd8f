"""The held-out routing set is apart from everything the packaged routes were chosen on."""

from __future__ import annotations

import json
from pathlib import Path

from ragtune.routing import RouteSet, load_labelled

DATA = Path(__file__).resolve().parent.parent / "benchmarks" / "data"


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def test_held_out_routing_set_shares_no_query_with_the_sets_that_chose_the_routes() -> None:
    held_out = load_labelled(DATA / "routing_heldout.jsonl")
    routes = RouteSet.default()
    assert len(held_out) >= 100
    counts = {name: sum(q.route == name for q in held_out) for name in routes.names}
    assert sum(counts.values()) == len(held_out) and min(counts.values()) >= 20, counts
    seen = {_key(e) for r in routes for e in r.examples}
    for name in ("routing_dev.jsonl", "routing_labelled.jsonl"):
        seen |= {_key(q.query) for q in load_labelled(DATA / name)}
    assert not [q.query for q in held_out if _key(q.query) in seen]
    assert len({_key(q.query) for q in held_out}) == len(held_out)


def test_packaged_routes_keep_their_original_examples_first() -> None:
    """The benchmark's "original examples only" rows take each route's first examples."""
    data = json.loads((Path(__file__).resolve().parent.parent / "ragtune/routing/default_routes.json").read_text())
    first = {name: route["examples"][0] for name, route in data["routes"].items()}
    assert first == {
        "rag": "What does the handbook say about the refund window?",
        "finetuned": "Rewrite this message in our support tone.",
        "hybrid": "Explain our refund policy to a customer in our support tone.",
        "direct": "Hello, how are you?",
    }
