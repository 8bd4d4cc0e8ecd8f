"""Tool errors in each framework's own form, documented input limits, and no traceback for bad input.

Real store (the compare corpus, MiniLM), real LangChain/LlamaIndex tool objects and the real MCP
``call_tool``; nothing is faked. Every bad call below raised, answered normally or logged a
traceback before issue 24.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage

from ragtune.agents.langchain import as_tool
from ragtune.agents.toolkit import (
    MAX_FILTER_CHARS,
    MAX_FILTERS,
    MAX_PATH_CHARS,
    MAX_QUERY_CHARS,
    RagtuneToolkit,
    ToolFailure,
)
from ragtune.config import Settings
from ragtune.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "examples" / "compare" / "corpus"
LONG_PATH = "/tmp/" + "d" * 100_000
MEGABYTE_QUERY = "x" * 1_000_000

# (tool, arguments, failure kind, text the message must hold)
BAD_CALLS: list[tuple[str, dict[str, Any], str, str]] = [
    ("search_knowledge_base", {"k": 2}, "invalid_arguments", "query: Field required"),
    ("search_knowledge_base", {"query": "x", "colour": "red"}, "invalid_arguments", "colour: Extra inputs"),
    ("search_knowledge_base", {"query": MEGABYTE_QUERY}, "invalid_arguments", f"at most {MAX_QUERY_CHARS} characters"),
    ("search_knowledge_base", {"query": "x", "k": 21}, "invalid_arguments", "less than or equal to 20"),
    ("search_knowledge_base", {"query": "x", "filters": ["page>>2"]}, "refused", "position 6"),
    (
        "search_knowledge_base",
        {"query": "x", "filters": ["page>=1"] * (MAX_FILTERS + 1)},
        "invalid_arguments",
        f"at most {MAX_FILTERS} items",
    ),
    (
        "search_knowledge_base",
        {"query": "x", "filters": ["title=" + "t" * MAX_FILTER_CHARS]},
        "invalid_arguments",
        f"at most {MAX_FILTER_CHARS} characters",
    ),
    ("ask", {"question": "q" * (MAX_QUERY_CHARS + 1)}, "invalid_arguments", f"at most {MAX_QUERY_CHARS} characters"),
    ("ask_finetuned", {"question": "What is brine pie?"}, "refused", "No fine-tuned model is registered"),
    ("ingest", {"path": LONG_PATH}, "invalid_arguments", f"at most {MAX_PATH_CHARS} characters"),
    ("ingest", {"path": "/tmp/" + "d" * 4000}, "refused", "File name too long"),
]


@pytest.fixture(scope="module")
def toolkit(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from ragtune.ingest import sync_paths

    store = tmp_path_factory.mktemp("tool-errors") / "store"
    with Workspace(Settings.load({"store": str(store)})) as ws:
        sync_paths(ws, [CORPUS])
        yield RagtuneToolkit(ws, ingest_roots=[REPO / "examples", Path("/tmp")])


def _check_logged_without_traceback(records: list[logging.LogRecord]) -> None:
    assert records, "a refusal is logged"
    for record in records:
        assert record.exc_info is None and record.levelno <= logging.INFO
        assert len(record.getMessage()) < 1_000  # never the whole input


@pytest.mark.parametrize(("tool", "arguments", "kind", "expected"), BAD_CALLS, ids=lambda v: str(v)[:30])
def test_langchain_tool_errors_are_error_messages_with_an_artifact(
    toolkit: RagtuneToolkit, caplog: Any, tool: str, arguments: dict[str, Any], kind: str, expected: str
) -> None:
    lc_tool = as_tool(toolkit, tool)
    with caplog.at_level(logging.INFO):
        message = lc_tool.invoke({"type": "tool_call", "id": "bad", "name": tool, "args": arguments})
    assert isinstance(message, ToolMessage) and message.status == "error" and message.tool_call_id == "bad"
    assert expected in message.content and len(message.content) < 1_000
    assert isinstance(message.artifact, ToolFailure)
    assert (message.artifact.tool, message.artifact.kind) == (tool, kind)
    assert not [r for r in caplog.records if r.exc_info is not None]
    if kind != "invalid_arguments":  # LangChain rejects schema errors before the tool runs
        _check_logged_without_traceback([r for r in caplog.records if r.name.startswith("ragtune")])


async def test_langchain_async_tool_errors_are_error_messages(toolkit: RagtuneToolkit) -> None:
    for tool, arguments, kind, expected in BAD_CALLS:
        message = await as_tool(toolkit, tool).ainvoke(
            {"type": "tool_call", "id": "a", "name": tool, "args": arguments}
        )
        assert message.status == "error" and expected in message.content, (tool, message.content[:200])
        assert message.artifact.kind == kind


def test_langchain_plain_invocation_returns_the_message(toolkit: RagtuneToolkit) -> None:
    """Without a tool call LangChain returns content only; an error is its message, not an exception."""
    out = as_tool(toolkit, "search_knowledge_base").invoke({"query": "x", "filters": ["page>>2"]})
    assert isinstance(out, str) and "Cannot parse filter 'page>>2'" in out


@pytest.mark.parametrize(("tool", "arguments", "kind", "expected"), BAD_CALLS, ids=lambda v: str(v)[:30])
def test_llamaindex_tool_errors_are_error_outputs(
    toolkit: RagtuneToolkit, caplog: Any, tool: str, arguments: dict[str, Any], kind: str, expected: str
) -> None:
    from ragtune.agents.llamaindex import as_function_tool

    with caplog.at_level(logging.INFO):
        out = as_function_tool(toolkit, tool).call(**arguments)
    assert out.is_error is True and expected in out.content
    assert isinstance(out.raw_output, ToolFailure) and out.raw_output.kind == kind
    _check_logged_without_traceback([r for r in caplog.records if r.name.startswith("ragtune")])


async def test_llamaindex_positional_and_async_calls_never_raise(toolkit: RagtuneToolkit) -> None:
    from ragtune.agents.llamaindex import as_function_tool

    search = as_function_tool(toolkit, "search_knowledge_base")
    found = search.call("What is the national dish?", 1)
    assert not found.is_error and "brine pie" in found.content and len(found.raw_output) == 1
    too_many = search.call("q", 1, "bm25", None, "extra")
    assert too_many.is_error and "5 positional arguments" in too_many.content
    missing = await search.acall(k=2)
    assert missing.is_error and "query: Field required" in missing.content
    unknown = await search.acall(query="x", colour="red")
    assert unknown.is_error and isinstance(unknown.raw_output, ToolFailure)


@pytest.mark.parametrize(("tool", "arguments", "kind", "expected"), BAD_CALLS, ids=lambda v: str(v)[:30])
async def test_mcp_tool_errors_are_is_error_results(
    toolkit: RagtuneToolkit, caplog: Any, tool: str, arguments: dict[str, Any], kind: str, expected: str
) -> None:
    from ragtune.agents.mcp_server import call_tool

    with caplog.at_level(logging.INFO):
        result = await call_tool(toolkit, tool, arguments)
    assert result.is_error is True and expected in result.content[0].text
    assert result.structured_content == {"tool": tool, "kind": kind, "message": result.content[0].text}
    _check_logged_without_traceback([r for r in caplog.records if r.name.startswith("ragtune")])
