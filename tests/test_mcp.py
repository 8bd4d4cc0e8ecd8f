"""``ragtune mcp`` over stdio, driven by the ``mcp`` client library as a real MCP client would."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from ragtune.config import Settings
from ragtune.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "examples" / "compare" / "corpus"
NEW_FACTS = REPO / "examples" / "compare" / "new_facts"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ragtune.ingest import sync_paths

    path = tmp_path_factory.mktemp("mcp") / "store"
    with Workspace(Settings.load({"store": str(path)})) as ws:
        sync_paths(ws, [CORPUS])
    return path


def _server(store: Path, root: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "ragtune", "mcp", "--store", str(store), "--ingest-root", str(root)],
        cwd=str(REPO),
        env=env,
    )


def _text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


def _check_tool_list(tools: dict[str, Any]) -> None:
    assert set(tools) == {"search_knowledge_base", "ask", "ask_finetuned", "ingest"}
    search = tools["search_knowledge_base"].input_schema
    assert search["type"] == "object" and search["required"] == ["query"]
    assert search["properties"]["k"] == {
        "default": 4,
        "description": "How many passages to return (1-20).",
        "maximum": 20,
        "minimum": 1,
        "title": "K",
        "type": "integer",
    }
    assert search["properties"]["mode"]["enum"] == ["hybrid", "vector", "bm25"]
    assert tools["ask"].input_schema["properties"]["route"]["enum"] == ["auto", "rag", "finetuned", "hybrid", "direct"]
    assert tools["search_knowledge_base"].annotations.read_only_hint is True
    assert tools["ingest"].annotations.read_only_hint is False


async def test_tools_then_bad_calls_never_stop_the_server(store: Path, tmp_path: Path, capfd: Any) -> None:
    async with Client(_server(store, tmp_path), read_timeout_seconds=120) as client:
        _check_tool_list({t.name: t for t in (await client.list_tools()).tools})

        good = await client.call_tool("search_knowledge_base", {"query": "national football team nickname", "k": 2})
        assert good.is_error is False
        assert "Terns" in _text(good) and "sports.md" in _text(good)
        hits = good.structured_content["hits"]
        assert len(hits) == 2 and hits[0]["source"].endswith("sports.md") and hits[0]["chunk_id"]

        bad_calls = [
            ("search_knowledge_base", {"query": "x", "k": 999}, "less than or equal to 20"),
            ("search_knowledge_base", {"k": 2}, "query: Field required"),
            ("search_knowledge_base", {"query": "x", "k": "many"}, "k: Input should be a valid integer"),
            ("search_knowledge_base", {"query": "x", "mode": "psychic"}, "mode: Input should be"),
            ("search_knowledge_base", {"query": "x", "unexpected": 1}, "Extra inputs are not permitted"),
            ("search_knowledge_base", {"query": "x", "filters": ["no operator here"]}, "Cannot parse filter"),
            ("ask", {"question": "hi", "route": "sideways"}, "route: Input should be"),
            ("no_such_tool", {}, "Unknown tool 'no_such_tool'"),
            ("ask_finetuned", {"question": "What is brine pie?"}, "No fine-tuned model is registered"),
            ("search_knowledge_base", {"query": "x" * 1_000_000}, "query: String should have at most 4000 characters"),
            ("search_knowledge_base", {"query": "x", "filters": ["page>>2"]}, "at position 6: unexpected '>'"),
            ("ingest", {"path": "/" + "d" * 100_000}, "path: String should have at most 4096 characters"),
        ]
        for name, arguments, expected in bad_calls:
            result = await client.call_tool(name, arguments)
            assert result.is_error is True, (name, str(arguments)[:80])
            assert expected in _text(result) and len(_text(result)) < 1_000, _text(result)[:300]

        still_alive = await client.call_tool("search_knowledge_base", {"query": "wettest month", "k": 1})
        assert still_alive.is_error is False and "November" in _text(still_alive)
    logged = capfd.readouterr().err  # the server's stderr: bad input is no traceback, and no echoed input
    assert "Traceback" not in logged and "d" * 1_000 not in logged and "x" * 1_000 not in logged


async def test_ingest_within_root_only(store: Path, tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    shutil.copytree(NEW_FACTS, root)
    async with Client(_server(store, root), read_timeout_seconds=120) as client:
        outside = await client.call_tool("ingest", {"path": str(CORPUS)})
        assert outside.is_error is True and "only paths under" in _text(outside)

        added = await client.call_tool("ingest", {"path": str(root)})
        assert added.is_error is False, _text(added)
        assert added.structured_content["added"] == 3
        found = await client.call_tool("search_knowledge_base", {"query": "Kestrel Observatory mirror", "k": 1})
        assert "3.6 metres" in _text(found)
