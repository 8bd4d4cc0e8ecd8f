# %% [markdown]
# # Agents with ragtune tools (LangChain, LlamaIndex, MCP)
#
# ragtune gives agents four tools over a store: `search_knowledge_base`, `ask` (the routing chain),
# `ask_finetuned` and `ingest`. The tool logic lives once in `RagtuneToolkit`; LangChain, LlamaIndex
# and MCP get thin adapters with the same JSON schemas.
#
# The small local model cannot call tools reliably, so the agents below are driven by
# `ragtune.testing.ScriptedChatModel`: it emits the tool calls we script, then a final answer.
# **Everything else is real**: the index, the embeddings, the tools and their results. Swap in
# `ChatOpenAI(...)` (or any tool-calling chat model) to let a real model choose the calls.

# %%
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path.cwd().resolve().parent if Path.cwd().name == "notebooks" else Path.cwd().resolve()
CORPUS = REPO / "examples" / "compare" / "corpus"
NEW_FACTS = REPO / "examples" / "compare" / "new_facts"
STORE = Path(os.environ.get("RAGTUNE_STORE") or tempfile.mkdtemp(prefix="ragtune-agents-"))

from ragtune.config import Settings
from ragtune.ingest import sync_paths
from ragtune.workspace import Workspace

workspace = Workspace(Settings.load({"store": str(STORE)}))
report = sync_paths(workspace, [CORPUS])
print(f"store {STORE}: {report.added} documents, {report.chunks_added} chunks")

# %% [markdown]
# ## The tools
#
# `create_ragtune_tools` builds LangChain `StructuredTool`s with typed pydantic arguments, sync and
# async implementations, and `response_format="content_and_artifact"`: the model reads numbered
# passages, your code keeps the LangChain `Document`s. `ingest_roots` limits what the agent may ingest.

# %%
from ragtune.agents import RagtuneToolkit, create_ragtune_tools

toolkit = RagtuneToolkit(workspace, ingest_roots=[REPO / "examples"])
tools = create_ragtune_tools(toolkit, include=["search_knowledge_base", "ingest"])
for tool in tools:
    print(tool.name, "->", list(tool.args))

search = tools[0]
message = search.invoke(
    {"type": "tool_call", "id": "demo", "name": search.name, "args": {"query": "national dish", "k": 2}}
)
print(message.content)
print([doc.metadata["source"].split("/")[-1] for doc in message.artifact])

# %% [markdown]
# Failures the model can fix come back to it as the tool result (status `error`), never as a crash:

# %%
bad = search.invoke({"type": "tool_call", "id": "bad", "name": search.name, "args": {"query": "x", "k": 500}})
print(bad.status, "|", bad.content)

# %% [markdown]
# ## A LangChain agent (LangGraph `create_agent`)
#
# The script: search, ingest the new-facts folder, search again, then answer with what the last
# search returned.

# %%
from langchain_core.messages import AIMessage, ToolMessage

from ragtune.agents import create_ragtune_agent
from ragtune.testing import ScriptedChatModel

model = ScriptedChatModel.tools_then_answer(
    [
        ("search_knowledge_base", {"query": "Sunward Bridge", "k": 1, "mode": "bm25"}),
        ("ingest", {"path": str(NEW_FACTS)}),
        ("search_knowledge_base", {"query": "Sunward Bridge", "k": 1, "mode": "bm25"}),
    ],
    answer=ScriptedChatModel.echo_last_tool_result,
)
agent = create_ragtune_agent(model, toolkit, include=["search_knowledge_base", "ingest"])
state = agent.invoke({"messages": [("user", "How long is the Sunward Bridge?")]})

for msg in state["messages"]:
    if isinstance(msg, AIMessage) and msg.tool_calls:
        print("CALL  ", [(c["name"], c["args"]) for c in msg.tool_calls])
    elif isinstance(msg, ToolMessage):
        print("RESULT", msg.content.splitlines()[0][:110])
print("FINAL \n" + state["messages"][-1].content)

# %% [markdown]
# The first keyword search found nothing (the corpus has no bridge yet); `ingest` added the new
# documents; the second search found the bridge, and the answer quotes it. The ingest report is the tool message's artifact:

# %%
ingest_result = next(m for m in state["messages"] if isinstance(m, ToolMessage) and m.name == "ingest")
print(ingest_result.artifact.model_dump(include={"added", "updated", "unchanged", "chunks_added"}))

# %% [markdown]
# ## LlamaIndex: `FunctionTool`s, a `QueryEngineTool` and a `FunctionAgent`
#
# `ChatModelLLM` wraps any LangChain chat model as a LlamaIndex function-calling LLM, so one model object
# serves both frameworks. The query-engine tool retrieves with `RagtuneLlamaRetriever` and writes its
# answer with the **real local model** (SmolLM2); the agent itself is scripted.

# %%
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult

from ragtune.agents import ChatModelLLM, create_llamaindex_tools, create_query_engine_tool
from ragtune.llm import LocalChatModel
from ragtune.testing import tool_call

local_llm = ChatModelLLM(model=LocalChatModel(max_new_tokens=40))
query_tool = create_query_engine_tool(toolkit, local_llm, k=2)
li_tools = [*create_llamaindex_tools(toolkit, include=["search_knowledge_base"]), query_tool]

scripted = ScriptedChatModel(
    [
        AIMessage(content="", tool_calls=[tool_call("search_knowledge_base", {"query": "national bird", "k": 1})]),
        AIMessage(content="", tool_calls=[tool_call("query_documents", {"input": "What is the national bird?"})]),
        ScriptedChatModel.echo_last_tool_result,
    ]
)
li_agent = FunctionAgent(tools=li_tools, llm=ChatModelLLM(model=scripted), system_prompt="Use the tools.")


async def run_llamaindex_agent():
    handler = li_agent.run(user_msg="Which bird is Veloria's national bird?")
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            print("TOOL", event.tool_name, event.tool_kwargs, "->", str(event.tool_output.content)[:120])
    return await handler


response = await run_llamaindex_agent()
print("FINAL", response.response.content)

# %% [markdown]
# ## MCP
#
# `ragtune mcp --store DIR` serves the same tools over stdio to any MCP client (Claude Desktop, IDEs,
# agents). Here the `mcp` client library talks to the server in-process:

# %%
from mcp import Client

from ragtune.agents import create_mcp_server


async def mcp_demo():
    async with Client(create_mcp_server(toolkit)) as client:
        listed = await client.list_tools()
        print([t.name for t in listed.tools])
        ok = await client.call_tool("search_knowledge_base", {"query": "Kestrel Observatory mirror", "k": 1})
        print(ok.is_error, next(line for line in ok.content[0].text.splitlines() if "mirror" in line))
        bad = await client.call_tool("search_knowledge_base", {"query": "x", "k": "many"})
        print(bad.is_error, bad.content[0].text)


await mcp_demo()

# %%
workspace.close()
