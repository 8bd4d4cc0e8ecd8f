"""One default: ``build_chain(workspace)`` answers exactly as ``ragtune ask`` does.

Real store (the compare corpus), real MiniLM, the packaged SmolLM2 registry entry, and the real
CLI in a subprocess. Before issue 24 the Python default was ``mode=stuff`` (SmolLM2 generated a
draft that strict grounding then threw away) while the CLI's was ``auto`` (extract).
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ragtune.chains.options import ChainOptions
from ragtune.config import Settings
from ragtune.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "examples" / "compare" / "corpus"
QUESTION = "What is the national bird of Veloria?"


def test_chain_options_defaults_are_the_ask_flag_defaults() -> None:
    """The options ``ragtune ask`` builds from its own flag defaults are ``ChainOptions()``."""
    from ragtune.cli.ask import ask
    from ragtune.cli.common import chain_config
    from ragtune.retrievers.search import SearchOptions

    flags = {name: p.default for name, p in inspect.signature(ask).parameters.items()}
    from_flags = ChainOptions(
        config=chain_config(flags["mode"].value, flags["grounding"].value, rerank=flags["rerank"]),
        search=SearchOptions(k=flags["k"], tenant=flags["tenant"]),
        max_new_tokens=flags["max_new_tokens"],
    )
    assert from_flags == ChainOptions()
    assert ChainOptions().config is not None and ChainOptions().config.mode == "auto"
    assert ChainOptions(config=None, search=None) == ChainOptions()  # build_chain's old keyword defaults


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ragtune.ingest import sync_paths

    path = tmp_path_factory.mktemp("one-default") / "store"
    with Workspace(Settings.load({"store": str(path)})) as ws:
        sync_paths(ws, [CORPUS])
    return path


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The answer document without wall-clock timings (the only field two runs may not share)."""
    usage = {k: v for k, v in document["usage"].items() if k != "latency_ms"}
    return {**document, "usage": usage}


def test_python_default_answer_equals_the_cli_answer(store: Path) -> None:
    from ragtune.chains.build import build_chain
    from ragtune.cli.ask import answer_json

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "ragtune", "ask", QUESTION, "--store", str(store), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(REPO),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cli = json.loads(done.stdout)

    with Workspace(Settings.load({"store": str(store)})) as ws:
        answer = build_chain(ws).invoke(QUESTION)
    python = json.loads(json.dumps(answer_json(answer), default=str))

    assert _comparable(python) == _comparable(cli)
    # and that shared default is the cheap one: quoted passages, no generator call
    assert answer.mode == "extract" and answer.model is None and answer.usage.output_tokens == 0
    assert answer.route == "rag" and "silver-crested tern" in answer.text
    assert answer.citations and answer.citations[0].source.endswith("wildlife.md")
