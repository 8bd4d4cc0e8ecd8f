"""Test helpers that ship with ragtune, for its own tests and for users' tests.

- :class:`~ragtune.testing.index_contract.IndexContract`: the standard tests every
  index backend passes (subclass it and provide an ``index`` fixture).
- :class:`~ragtune.testing.embeddings.FakeEmbedder`: deterministic vectors without a model.
- :class:`~ragtune.testing.scripted.ScriptedChatModel`: a chat model that emits scripted tool
  calls, then a final answer, for deterministic agent tests and demos.
- :func:`~ragtune.testing.snapshots.snapshot`: an index's results as tuples, to compare with another's.
- :func:`~ragtune.testing.twins.assert_async_twins`: every ``aX`` method is a coroutine function
  with ``X``'s signature.
"""

from __future__ import annotations

from ragtune._lazy import lazy_getattr

try:
    import pytest
except ImportError:  # pragma: no cover - pytest is needed only to run the suites
    pass
else:  # full assertion messages inside the contract suites, as langchain-tests does
    pytest.register_assert_rewrite(
        "ragtune.testing.index_contract", "ragtune.testing.snapshots", "ragtune.testing.twins"
    )

_LAZY = {
    "FakeEmbedder": "ragtune.testing.embeddings",
    "IndexContract": "ragtune.testing.index_contract",
    "ScriptedChatModel": "ragtune.testing.scripted",
    "assert_async_twins": "ragtune.testing.twins",
    "tool_call": "ragtune.testing.scripted",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
__all__ = ["FakeEmbedder", "IndexContract", "ScriptedChatModel", "assert_async_twins", "tool_call"]
