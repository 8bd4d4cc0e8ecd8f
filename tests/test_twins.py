"""The twin rule itself: the searcher is held to it, and a drifted, blocking or missing twin is caught.

The index contract and tests/test_agent_tools.py hold the index backends and the toolkit to it.
"""

from __future__ import annotations

import pytest

from ragtune.retrievers.search import Searcher
from ragtune.testing.twins import assert_async_twins


def test_searcher_twins_have_the_sync_signature() -> None:
    assert assert_async_twins(Searcher, expected=["asearch"]) == ["asearch"]


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
    with pytest.raises(AssertionError, match=r"no async twins named \['aingest'\]"):
        assert_async_twins(_DriftedTwin, expected=["asearch", "aingest"])
