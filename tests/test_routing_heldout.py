"""The former held-out routing set (a tuning set since issue 22) copies no route example, dev or labelled query."""

from __future__ import annotations

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


def test_paraphrased_routes_keep_the_packaged_examples_first() -> None:
    """The benchmark splits the paraphrased routes file into the pre-issue-22 examples and their rewordings."""
    paraphrased = RouteSet.from_file(DATA / "routing_paraphrased_routes.json")
    for route in RouteSet.from_file(DATA / "routing_routes_before_issue22.json"):
        examples = paraphrased[route.name].examples
        assert examples[: len(route.examples)] == route.examples
        assert len(examples) == 3 * len(route.examples)  # two rewordings of each
        assert not {_key(e) for e in examples[len(route.examples) :]} & {_key(e) for e in route.examples}
