"""ragtune's agent tools: the standard LangChain tool suites, and agents that really call them.

The index, the embedder (MiniLM) and the tools are real. The agents' chat
model is scripted (``ScriptedChatModel``, or the fake OpenAI server's scripted
``tool_calls`` through the real ``ChatOpenAI``), because what is under test is
that the tools run with the arguments the model chose and that their results
reach the final answer.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from ragtune.agents.langchain import as_tool, create_ragtune_agent, create_ragtune_tools
from ragtune.agents.toolkit import RagtuneToolkit
from ragtune.config import Settings
from ragtune.errors import ToolError
from ragtune.testing.scripted import ScriptedChatModel
from ragtune.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "examples" / "compare" / "corpus"
NEW_FACTS = REPO / "examples" / "compare" / "new_facts"


@functools.cache
def _shared_toolkit() -> RagtuneToolkit:
    """One store with the compare corpus, shared by the standard suites (they take no fixtures)."""
    from ragtune.ingest import sync_paths

    store = Path(tempfile.mkdtemp(prefix="ragtune-tools-"))
    workspace = Workspace(Settings.load({"store": str(store)}))
    sync_paths(workspace, [CORPUS])
    return RagtuneToolkit(workspace, ingest_roots=[REPO / "examples"])


@pytest.fixture(scope="module", autouse=True)
def _cleanup_shared() -> Any:
    yield
    if _shared_toolkit.cache_info().currsize:
        toolkit = _shared_toolkit()
        toolkit.workspace.close()
        shutil.rmtree(toolkit.workspace.store, ignore_errors=True)
        _shared_toolkit.cache_clear()


@pytest.fixture
def workspace(tmp_path: Path) -> Any:
    from ragtune.ingest import sync_paths

    with Workspace(Settings.load({"store": str(tmp_path / "store")})) as ws:
        sync_paths(ws, [CORPUS])
        yield ws


# -- standard suites ------------------------------------------------------------------------------


class _SearchTool:
    @property
    def tool_constructor(self) -> BaseTool:
        return as_tool(_shared_toolkit(), "search_knowledge_base")

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "What is the capital of Veloria?", "k": 2, "mode": "hybrid", "filters": None}


class TestSearchToolUnit(_SearchTool, ToolsUnitTests):
    pass


class TestSearchToolIntegration(_SearchTool, ToolsIntegrationTests):
    pass


class _IngestTool:
    @property
    def tool_constructor(self) -> BaseTool:
        return as_tool(_shared_toolkit(), "ingest")

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"path": str(CORPUS)}


class TestIngestToolUnit(_IngestTool, ToolsUnitTests):
    pass


class TestIngestToolIntegration(_IngestTool, ToolsIntegrationTests):
    pass


# -- the tools themselves -------------------------------------------------------------------------


def test_search_tool_returns_passages_and_documents(workspace: Workspace) -> None:
    tool = as_tool(RagtuneToolkit(workspace), "search_knowledge_base")
    message = tool.invoke(
        {"type": "tool_call", "id": "c1", "name": tool.name, "args": {"query": "national bird of Veloria", "k": 2}}
    )
    assert isinstance(message, ToolMessage)
    assert "silver-crested tern" in message.content
    assert "[1]" in message.content and "wildlife.md" in message.content
    docs = message.artifact
    assert len(docs) == 2 and docs[0].metadata["source"].endswith("wildlife.md")
    assert docs[0].metadata["chunk_id"] in message.content


async def test_search_tool_async_with_filters(workspace: Workspace) -> None:
    tool = as_tool(RagtuneToolkit(workspace), "search_knowledge_base")
    out = await RagtuneToolkit(workspace).asearch("national team", k=5, mode="hybrid", filters=["title=Sports"])
    assert out.artifact and all(hit.chunk.title == "Sports" for hit in out.artifact)
    message = await tool.ainvoke(
        {"type": "tool_call", "id": "c2", "name": tool.name, "args": {"query": "rowing", "mode": "bm25", "k": 1}}
    )
    assert "gig rowing" in message.content


def test_model_facing_errors_become_tool_messages(workspace: Workspace) -> None:
    tools = {t.name: t for t in create_ragtune_tools(workspace, ingest_roots=[CORPUS])}
    search = tools["search_knowledge_base"]
    bad_filter = search.invoke(
        {"type": "tool_call", "id": "e1", "name": search.name, "args": {"query": "x", "filters": ["???"]}}
    )
    assert bad_filter.status == "error" and "Cannot parse filter" in bad_filter.content
    too_many = search.invoke({"type": "tool_call", "id": "e2", "name": search.name, "args": {"query": "x", "k": 500}})
    assert too_many.status == "error" and "k" in too_many.content
    ingest = tools["ingest"]
    outside = ingest.invoke({"type": "tool_call", "id": "e3", "name": "ingest", "args": {"path": str(NEW_FACTS)}})
    assert outside.status == "error" and "only paths under" in outside.content
    missing = ingest.invoke({"type": "tool_call", "id": "e4", "name": "ingest", "args": {"path": str(CORPUS / "nope")}})
    assert missing.status == "error" and "no such file" in missing.content


def test_failures_underneath_come_back_as_error_messages(workspace: Workspace, caplog: Any) -> None:
    """A broken index never raises out of the tool: an error ToolMessage, the failure logged with its traceback."""
    from ragtune.agents.toolkit import ToolFailure

    class Broken:
        def search(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("index is on fire")

    toolkit = RagtuneToolkit(workspace)
    toolkit.__dict__["searcher"] = Broken()
    tool = as_tool(toolkit, "search_knowledge_base")
    with caplog.at_level("INFO", logger="ragtune.agents.toolkit"):
        message = tool.invoke({"type": "tool_call", "id": "x", "name": tool.name, "args": {"query": "anything"}})
    assert isinstance(message, ToolMessage) and message.status == "error"
    assert "RuntimeError: index is on fire" in message.content
    assert message.artifact == ToolFailure(tool=tool.name, kind="failed", message=message.content)
    assert [r.exc_info is not None for r in caplog.records] == [True]
    assert "on fire" in tool.invoke({"query": "anything"})  # plain arguments: the message, as LangChain does
    with pytest.raises(ToolError):  # the toolkit methods themselves still raise for their callers
        toolkit.search("")


def test_ingest_tool_adds_documents_that_search_then_finds(workspace: Workspace) -> None:
    toolkit = RagtuneToolkit(workspace, ingest_roots=[REPO / "examples"])
    before = toolkit.search("Sunward Bridge length", k=1, mode="bm25")
    assert before.artifact == [] and "No passages found" in before.content
    out = toolkit.ingest(str(NEW_FACTS))
    assert out.artifact.added == 3 and "3 added" in out.content
    again = toolkit.ingest(str(NEW_FACTS))
    assert again.artifact.unchanged == 3 and again.artifact.added == 0
    after = toolkit.search("Sunward Bridge length", k=1, mode="bm25")
    assert "4.2 kilometres" in after.content


# -- LangChain agent ------------------------------------------------------------------------------


def test_langchain_agent_runs_tools_and_answers_with_their_output(workspace: Workspace) -> None:
    model = ScriptedChatModel.tools_then_answer(
        [
            ("search_knowledge_base", {"query": "Lantern Festival length", "k": 1, "mode": "bm25"}),
            ("ingest", {"path": str(NEW_FACTS)}),
            ("search_knowledge_base", {"query": "who was elected mayor", "k": 1}),
        ],
        answer=ScriptedChatModel.echo_last_tool_result,
    )
    agent = create_ragtune_agent(
        model, workspace, include=["search_knowledge_base", "ingest"], ingest_roots=[NEW_FACTS]
    )
    state = agent.invoke({"messages": [("user", "How long is the festival, and who is mayor?")]})
    messages = state["messages"]

    calls = [c for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
    assert [c["name"] for c in calls] == ["search_knowledge_base", "ingest", "search_knowledge_base"]
    assert calls[0]["args"] == {"query": "Lantern Festival length", "k": 1, "mode": "bm25"}
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert [r.tool_call_id for r in results] == [c["id"] for c in calls]
    assert "nine days" in results[0].content
    assert results[1].artifact.added == 3
    assert "Ilsa Marrow" in results[2].content
    final = messages[-1]
    assert isinstance(final, AIMessage) and "Ilsa Marrow" in final.content
    assert model.bound_tools[0] == ["search_knowledge_base", "ingest"]
    # the model saw each tool result before its next turn
    assert any("nine days" in str(m.content) for m in model.calls[1])


def test_langchain_agent_over_openai_protocol(workspace: Workspace, openai_server: Any) -> None:
    from langchain_openai import ChatOpenAI

    openai_server.chat.reply(
        tool_calls=[{"name": "search_knowledge_base", "arguments": {"query": "national dish", "k": 1}}]
    )
    openai_server.chat.reply("The national dish is brine pie.")
    model = ChatOpenAI(model="gpt-4o-mini", api_key="test", base_url=openai_server.url, max_retries=0)
    agent = create_ragtune_agent(model, workspace, include=["search_knowledge_base"])
    state = agent.invoke({"messages": [("user", "What do Velorians eat?")]})

    requests = openai_server.requests_to("/v1/chat/completions")
    assert len(requests) == 2
    offered = [t["function"]["name"] for t in requests[0].body["tools"]]
    assert offered == ["search_knowledge_base"]
    schema = requests[0].body["tools"][0]["function"]["parameters"]
    assert schema["properties"]["k"]["maximum"] == 20
    tool_turn = [m for m in requests[1].body["messages"] if m["role"] == "tool"]
    assert "brine pie" in tool_turn[0]["content"]
    assert state["messages"][-1].content == "The national dish is brine pie."


# -- LlamaIndex ------------------------------------------------------------------------------------


def test_llamaindex_function_tools(workspace: Workspace) -> None:
    from llama_index.core.tools import FunctionTool

    from ragtune.agents.llamaindex import create_llamaindex_tools

    tools = {t.metadata.name: t for t in create_llamaindex_tools(workspace, ingest_roots=[NEW_FACTS])}
    assert all(isinstance(t, FunctionTool) for t in tools.values())
    schema = tools["search_knowledge_base"].metadata.get_parameters_dict()
    assert schema["required"] == ["query"] and schema["properties"]["k"]["maximum"] == 20
    out = tools["search_knowledge_base"].call(query="What is the national dish?", k=1)
    assert not out.is_error and "brine pie" in out.content
    assert out.raw_output[0].source.endswith("cuisine.md")
    assert out.raw_input["kwargs"] == {"query": "What is the national dish?", "k": 1}
    refused = tools["ingest"].call(path=str(CORPUS))
    assert refused.is_error and "only paths under" in refused.content


async def test_llamaindex_agent_runs_tools_and_query_engine(workspace: Workspace) -> None:
    from llama_index.core.agent.workflow import ToolCallResult

    from ragtune.agents.llamaindex import create_llamaindex_agent
    from ragtune.agents.llamaindex_llm import ChatModelLLM
    from ragtune.testing.scripted import tool_call

    def synthesize(messages: list[Any]) -> str:
        # The query engine's answer step: quote the context line that holds the fact.
        prompt = str(messages[-1].content)
        return next(line for line in prompt.splitlines() if "railway" in line)

    search_args = {"query": "oldest building Salt Exchange", "k": 1}
    model = ScriptedChatModel(
        [
            AIMessage(content="", tool_calls=[tool_call("search_knowledge_base", search_args)]),
            AIMessage(
                content="", tool_calls=[tool_call("query_documents", {"input": "Which railway links the towns?"})]
            ),
            synthesize,
            ScriptedChatModel.echo_last_tool_result,
        ]
    )
    agent = create_llamaindex_agent(ChatModelLLM(model=model), workspace, include=["search_knowledge_base"])
    handler = agent.run(user_msg="Tell me about transport in Veloria.")
    results = [event async for event in handler.stream_events() if isinstance(event, ToolCallResult)]
    response = await handler

    assert [r.tool_name for r in results] == ["search_knowledge_base", "query_documents"]
    assert results[0].tool_kwargs == search_args
    assert "capital.md" in str(results[0].tool_output.content)
    assert "Coast Line" in str(results[1].tool_output.content)
    nodes = results[1].tool_output.raw_output.source_nodes
    assert nodes[0].node.metadata["source"].endswith("transport.md")
    assert "Coast Line" in str(response.response.content)
    assert model.bound_tools[0] == ["search_knowledge_base", "query_documents"]


# -- ask tools over the real chain (scripted model) -------------------------------------------------


def _scripted_chain(workspace: Workspace, reply: str = "Brine pie is the national dish [1].") -> Any:
    from ragtune.chains import ChainModel, RagChain

    base = ChainModel.of(ScriptedChatModel([reply]), model_id="scripted-base")
    tuned = ChainModel.of(ScriptedChatModel(["Brine pie."]), model_id="scripted-tuned", name="finetuned")
    return RagChain(base=base, finetuned=tuned, retriever=workspace.searcher().search)


@functools.cache
def _asking_toolkit() -> RagtuneToolkit:
    from ragtune.llm.registry import LOCAL_MODEL_ID, ModelEntry, ModelRegistry

    toolkit = _shared_toolkit()
    registry = ModelRegistry(toolkit.workspace.registry_path)
    entry = ModelEntry(name="finetuned", provider="local", model_id=LOCAL_MODEL_ID, adapter_path="unused", base="base")
    registry.register(entry)
    return RagtuneToolkit(toolkit.workspace, chain=_scripted_chain(toolkit.workspace))


class _AskTool:
    @property
    def tool_constructor(self) -> BaseTool:
        return as_tool(_asking_toolkit(), "ask")

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"question": "What is the national dish of Veloria?", "route": "rag"}


class TestAskToolUnit(_AskTool, ToolsUnitTests):
    pass


class TestAskToolIntegration(_AskTool, ToolsIntegrationTests):
    pass


class _AskFinetunedTool:
    @property
    def tool_constructor(self) -> BaseTool:
        return as_tool(_asking_toolkit(), "ask_finetuned")

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"question": "What is the national dish of Veloria?"}


class TestAskFinetunedToolUnit(_AskFinetunedTool, ToolsUnitTests):
    pass


class TestAskFinetunedToolIntegration(_AskFinetunedTool, ToolsIntegrationTests):
    pass


@functools.cache
def _bare_toolkit() -> RagtuneToolkit:
    """A store with no fine-tuned model: ``ask_finetuned`` refuses, and the suites still pass."""
    store = Path(tempfile.mkdtemp(prefix="ragtune-bare-"))
    workspace = Workspace(Settings.load({"store": str(store)}))
    return RagtuneToolkit(workspace, chain=_scripted_chain(workspace))


@pytest.fixture(scope="module", autouse=True)
def _cleanup_bare() -> Any:
    yield
    if _bare_toolkit.cache_info().currsize:
        toolkit = _bare_toolkit()
        toolkit.workspace.close()
        shutil.rmtree(toolkit.workspace.store, ignore_errors=True)
        _bare_toolkit.cache_clear()


class _AskFinetunedWithoutModelTool:
    @property
    def tool_constructor(self) -> BaseTool:
        return as_tool(_bare_toolkit(), "ask_finetuned")

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"question": "What is the national dish of Veloria?"}


class TestAskFinetunedWithoutModelToolUnit(_AskFinetunedWithoutModelTool, ToolsUnitTests):
    pass


class TestAskFinetunedWithoutModelToolIntegration(_AskFinetunedWithoutModelTool, ToolsIntegrationTests):
    pass


def test_ask_tool_reports_route_and_sources(workspace: Workspace) -> None:
    tool = as_tool(RagtuneToolkit(workspace, chain=_scripted_chain(workspace)), "ask")
    message = tool.invoke(
        {
            "type": "tool_call",
            "id": "a1",
            "name": "ask",
            "args": {"question": "What is the national dish?", "route": "rag"},
        }
    )
    assert message.content.startswith("Brine pie is the national dish [1].")
    assert "Route: rag (route chosen by the caller)" in message.content
    assert "[1] " in message.content.split("Sources:")[1] and "cuisine.md" in message.content
    answer = message.artifact
    assert answer.route == "rag" and answer.citations[0].source.endswith("cuisine.md")
    finetuned = as_tool(RagtuneToolkit(workspace, chain=_scripted_chain(workspace)), "ask_finetuned")
    refused = finetuned.invoke({"type": "tool_call", "id": "a2", "name": "ask_finetuned", "args": {"question": "x"}})
    assert refused.status == "error" and "No fine-tuned model is registered" in refused.content
    assert refused.artifact.kind == "refused" and refused.artifact.message == refused.content


@pytest.mark.slow
def test_ask_tool_on_the_local_model(workspace: Workspace) -> None:
    """The default chain (``build_chain``, as ``ragtune ask``) with the packaged SmolLM2 behind the ask tool.

    Strict grounding on the 135M model quotes the passages (``auto`` -> ``extract``): no generator call.
    """
    tool = as_tool(RagtuneToolkit(workspace), "ask")
    message = tool.invoke(
        {"type": "tool_call", "id": "l1", "name": "ask", "args": {"question": "What is the national bird of Veloria?"}}
    )
    answer = message.artifact
    assert answer.route == "rag" and answer.mode == "extract" and answer.model is None
    assert "silver-crested tern" in answer.text and answer.citations[0].source.endswith("wildlife.md")
    assert answer.text in message.content and f"Route: {answer.route}" in message.content
    assert answer.usage.output_tokens == 0


def test_toolkit_options_name_every_toolkit_keyword() -> None:
    """The tool factories' typed ``**options`` (``ToolkitOptions``) are exactly the toolkit's keywords."""
    import inspect

    from ragtune.agents.toolkit import ToolkitOptions

    parameters = inspect.signature(RagtuneToolkit).parameters.values()
    keywords = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(ToolkitOptions.__annotations__) == keywords
    assert ToolkitOptions.__required_keys__ == frozenset()


def test_toolkit_async_twins_have_the_sync_signatures(tmp_path: Path) -> None:
    """Like the index contract's and the searcher's twin tests: each tool's ``a*`` entry point mirrors its sync one."""
    from ragtune.agents import toolkit as toolkit_module
    from ragtune.testing.twins import assert_async_twins

    toolkit = RagtuneToolkit(Workspace(Settings.load({"store": str(tmp_path / "store")})))
    tools = ["a" + method for method in toolkit_module.TOOL_METHODS.values()] + ["acall", "arun"]
    assert sorted(assert_async_twins(toolkit, expected=tools)) == sorted(tools)
    assert assert_async_twins(toolkit_module, expected=["ainvoke_chain"]) == ["ainvoke_chain"]
