"""Sync/async twins keep one signature: the searcher and the agent toolkit, checked as the index contract does."""

from __future__ import annotations

import pytest

from ragtune.agents.toolkit import RagtuneToolkit
from ragtune.retrievers.search import Searcher
from ragtune.testing.twins import assert_async_twins


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (Searcher, {"asearch"}),
        (RagtuneToolkit, {"aask", "aask_finetuned", "acall", "aingest", "asearch"}),
    ],
)
def test_async_twins_have_the_sync_signature(cls: type, expected: set[str]) -> None:
    assert expected <= set(assert_async_twins(cls))


class _BlockingTwin:
    def close(self) -> None:
        return None

    def aclose(self) -> None:
        return None


class _DriftedTwin:
    def search(self, query: str, *, k: int = 4) -> list[str]:
        return []

    async def asearch(self, query: str, k: int = 4) -> list[str]:
        return []


def test_a_drifted_twin_is_caught() -> None:
    with pytest.raises(AssertionError, match="aclose is not a coroutine function"):
        assert_async_twins(_BlockingTwin())
    with pytest.raises(AssertionError, match=r"asearch.*differs"):
        assert_async_twins(_DriftedTwin)
