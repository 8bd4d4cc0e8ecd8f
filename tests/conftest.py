"""Shared fixtures: real models loaded once per session, paths to the shared evaluation data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE_CORPUS = REPO / "examples" / "sample_corpus"


def _group(item: pytest.Item) -> str:
    """The item's xdist group, named as ``xdist`` names it."""
    names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
    return "_".join(sorted(names))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each test file on one xdist worker (its module fixtures built once), as ``--dist loadfile`` does,
    except tests marked ``xdist_group`` themselves: each notebook is its own group, so the five
    notebooks (minutes each, no shared fixture) spread over the workers instead of queueing on one.

    Groups holding a ``slow`` test run first, the notebooks first of all, so the long ones start
    while the many short groups are left to even out the workers' finish. With ``scripts/test.sh``'s
    ``--no-loadscope-reorder`` xdist hands the groups out in this order (its default hands out the
    groups with most tests first, which left the one-test notebooks, 05 the longest, to run last).
    The order of the tests within a group is kept.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    slow = {_group(item) for item in items if item.get_closest_marker("slow") is not None}
    first = {group: i for i, group in enumerate(dict.fromkeys(_group(item) for item in items))}

    def rank(item: pytest.Item) -> tuple[int, int]:
        group = _group(item)
        kind = 0 if group.startswith("notebook-") else 1 if group in slow else 2
        return kind, first[group]

    items.sort(key=rank)


@pytest.fixture(scope="session")
def minilm():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 embedder, loaded once."""
    from ragtune.embeddings.local import LocalEmbedder

    return LocalEmbedder()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (SciFact, SQuAD, CLINC150); tests that need it skip with a reason when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_corpus() -> Path:
    return SAMPLE_CORPUS


def _fake_module(name: str):  # type: ignore[no-untyped-def]
    """Import ``tests/fakes/<name>`` whether ``tests`` is a package or only its folder is on ``sys.path``."""
    import importlib

    try:
        return importlib.import_module(f"tests.fakes.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("tests", "tests.fakes", f"tests.fakes.{name}"):
            raise
        return importlib.import_module(f"fakes.{name}")


@pytest.fixture
def openai_server():  # type: ignore[no-untyped-def]
    """A fresh in-process OpenAI API (``tests/fakes/openai_server``) per test; ``base_url=openai_server.url``."""
    with _fake_module("openai_server").FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def _weaviate_server_session():  # type: ignore[no-untyped-def]
    with _fake_module("weaviate_server").WeaviateTestServer() as server:
        yield server


@pytest.fixture
def weaviate_server(_weaviate_server_session):  # type: ignore[no-untyped-def]
    """The in-process Weaviate (``tests/fakes/weaviate_server``), emptied for each test.

    Connect with ``http_port``/``grpc_port`` on 127.0.0.1; see the module for fault injection.
    """
    _weaviate_server_session.reset()
    return _weaviate_server_session
