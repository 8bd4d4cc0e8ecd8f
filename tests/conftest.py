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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each test file on one xdist worker (its module fixtures built once), as ``--dist loadfile`` does,
    except tests marked ``xdist_group`` themselves: each notebook is its own group, so the five
    notebooks (minutes each, no shared fixture) spread over the workers instead of queueing on one."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


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
