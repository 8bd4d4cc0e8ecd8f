"""The routing sets are apart: the former held-out set (a tuning set since issue 22) copies no route example, dev or
labelled query; the unseen report set copies, or nearly copies, no route example and no tuning query."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ragtune.routing import RouteSet, load_labelled
from ragtune.routing.evaluate import LabelledQuery

DATA = Path(__file__).resolve().parent.parent / "benchmarks" / "data"


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _assert_apart(name: str, least: int, earlier: list[str]) -> list[LabelledQuery]:
    """``name``'s queries: at least ``least``, each route at least 20, no copy of an earlier text or of each other."""
    queries = load_labelled(DATA / name)
    routes = RouteSet.default()
    assert len(queries) >= least
    counts = {route: sum(q.route == route for q in queries) for route in routes.names}
    assert sum(counts.values()) == len(queries) and min(counts.values()) >= 20, counts
    seen = {_key(text) for text in earlier}
    assert not [q.query for q in queries if _key(q.query) in seen]
    assert len({_key(q.query) for q in queries}) == len(queries)
    return queries


def _examples(routes: RouteSet) -> list[str]:
    return [e for r in routes for e in r.examples]


def _queries(*names: str) -> list[str]:
    return [q.query for name in names for q in load_labelled(DATA / name)]


def test_held_out_routing_set_shares_no_query_with_the_sets_that_chose_the_routes() -> None:
    earlier = _examples(RouteSet.default()) + _queries("routing_dev.jsonl", "routing_labelled.jsonl")
    _assert_apart("routing_heldout.jsonl", 100, earlier)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


TUNING = ("routing_dev.jsonl", "routing_labelled.jsonl", "routing_heldout.jsonl")


def test_unseen_routing_set_is_apart_from_the_routes_and_the_tuning_sets() -> None:
    """No copy, and no near copy: no unseen query shares half its words (Jaccard) with an earlier text."""
    earlier = _examples(RouteSet.default()) + _examples(RouteSet.from_file(DATA / "routing_paraphrased_routes.json"))
    earlier += _queries(*TUNING)
    unseen = _assert_apart("routing_unseen.jsonl", 120, earlier)
    near = []
    for q in unseen:
        words = _words(q.query)
        for other in earlier:
            if len(words & _words(other)) >= 0.5 * len(words | _words(other)):
                near.append((q.query, other))
    assert not near


def test_blind_routing_set_is_apart_from_everything_before_it() -> None:
    """The set a helper wrote without seeing the routes: no copy of a route example or an earlier query
    (7 generic direct questions it wrote word for word as earlier texts were removed before scoring)."""
    earlier = _examples(RouteSet.default()) + _examples(RouteSet.from_file(DATA / "routing_paraphrased_routes.json"))
    earlier += _queries(*TUNING, "routing_unseen.jsonl")
    blind = _assert_apart("routing_unseen2.jsonl", 113, earlier)
    assert Counter(q.route for q in blind) == {"rag": 30, "finetuned": 30, "hybrid": 30, "direct": 23}


def test_paraphrased_routes_keep_the_packaged_examples_first() -> None:
    """The benchmark splits the paraphrased routes file into the pre-issue-22 examples and their rewordings."""
    paraphrased = RouteSet.from_file(DATA / "routing_paraphrased_routes.json")
    for route in RouteSet.from_file(DATA / "routing_routes_before_issue22.json"):
        examples = paraphrased[route.name].examples
        assert examples[: len(route.examples)] == route.examples
        assert len(examples) == 3 * len(route.examples)  # two rewordings of each
        assert not {_key(e) for e in examples[len(route.examples) :]} & {_key(e) for e in route.examples}
