"""ragtune's agent tools for LlamaIndex: ``FunctionTool``s, a ``QueryEngineTool`` and a ready agent.

The function tools run the same :class:`~ragtune.agents.toolkit.RagtuneToolkit`
code as the LangChain tools and the MCP server. Their ``ToolOutput`` carries the
text the model reads in ``content`` and the artifact (hits, ``Answer``,
``IngestReport``) in ``raw_output``. Nothing raises out of ``tool.call``/``tool.acall``:
missing or unknown arguments, inputs over a limit, refusals and failures underneath all
come back as an output with ``is_error=True``, the reason in ``content`` and a
:class:`~ragtune.agents.toolkit.ToolFailure` in ``raw_output``.

Example:
    >>> llm = ChatModelLLM(model=ChatOpenAI(model="gpt-4o-mini"))
    >>> agent = create_llamaindex_agent(llm, workspace)
    >>> response = await agent.run("What does the refund policy say?")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llama_index.core.tools import FunctionTool, QueryEngineTool
from llama_index.core.tools.types import ToolOutput as LlamaToolOutput

from ragtune.agents.langchain import ALL_TOOLS, DEFAULT_SYSTEM_PROMPT
from ragtune.agents.toolkit import (
    DESCRIPTIONS,
    INPUT_SCHEMAS,
    TOOL_METHODS,
    RagtuneToolkit,
    ToolkitOptions,
    ToolOutput,
)
from ragtune.retrievers.llamaindex import RagtuneLlamaRetriever

if TYPE_CHECKING:
    from llama_index.core.llms import LLM
    from typing_extensions import Unpack

    from ragtune.workspace import Workspace

QUERY_TOOL = "query_documents"
QUERY_DESCRIPTION = (
    "Answer a question from the indexed documents with LlamaIndex's query engine: it retrieves the most "
    "relevant passages and writes an answer from them."
)


@dataclass
class _Call:
    """What a tool function returns to its callback: the arguments and the toolkit's output."""

    kwargs: dict[str, Any]
    output: ToolOutput


def _arguments(tool: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | ToolOutput:
    """Positional arguments named in the schema's field order; too many is an error output."""
    if not args:
        return kwargs
    fields = list(INPUT_SCHEMAS[tool].model_fields)
    if len(args) > len(fields):
        message = f"Invalid arguments ({len(args)} positional arguments; {tool} takes {', '.join(fields)})."
        return ToolOutput.failure(tool, "invalid_arguments", message)
    return {**dict(zip(fields, args, strict=False)), **kwargs}


def _runner(toolkit: RagtuneToolkit, tool: str) -> Callable[..., _Call]:
    def fn(*args: Any, **kwargs: Any) -> _Call:
        arguments = _arguments(tool, args, kwargs)
        if isinstance(arguments, ToolOutput):
            return _Call(kwargs, arguments)
        return _Call(kwargs, toolkit.run(tool, arguments))

    return fn


def _async_runner(toolkit: RagtuneToolkit, tool: str) -> Callable[..., Awaitable[_Call]]:
    async def fn(*args: Any, **kwargs: Any) -> _Call:
        arguments = _arguments(tool, args, kwargs)
        if isinstance(arguments, ToolOutput):
            return _Call(kwargs, arguments)
        return _Call(kwargs, await toolkit.arun(tool, arguments))

    return fn


def _to_output(name: str) -> Callable[[_Call], LlamaToolOutput]:
    def convert(call: _Call) -> LlamaToolOutput:
        raw_input = {"args": (), "kwargs": call.kwargs}
        output = call.output
        return LlamaToolOutput(
            tool_name=name,
            content=output.content,
            raw_input=raw_input,
            raw_output=output.artifact,
            is_error=output.is_error,
        )

    return convert


def _async_to_output(name: str) -> Callable[[_Call], Awaitable[LlamaToolOutput]]:
    convert = _to_output(name)

    async def aconvert(call: _Call) -> LlamaToolOutput:
        return convert(call)

    return aconvert


def as_function_tool(
    toolkit: RagtuneToolkit, tool: str, *, name: str | None = None, description: str | None = None
) -> FunctionTool:
    """One ragtune tool as a LlamaIndex ``FunctionTool`` (sync and async, typed ``fn_schema``).

    Args:
        toolkit: the workspace (and chain) the tool runs against.
        tool: ``search_knowledge_base``, ``ask``, ``ask_finetuned`` or ``ingest``.
        name: the name the model sees (default: ``tool``).
        description: what the model reads (default: the shared description).
    """
    if tool not in TOOL_METHODS:
        raise KeyError(tool)
    tool_name = name or tool
    return FunctionTool.from_defaults(
        fn=_runner(toolkit, tool),
        async_fn=_async_runner(toolkit, tool),
        name=tool_name,
        description=description or DESCRIPTIONS[tool],
        fn_schema=INPUT_SCHEMAS[tool],
        callback=_to_output(tool_name),
        async_callback=_async_to_output(tool_name),
    )


def create_llamaindex_tools(
    workspace: Workspace | RagtuneToolkit, *, include: Sequence[str] = ALL_TOOLS, **options: Unpack[ToolkitOptions]
) -> list[FunctionTool]:
    """Every ragtune tool (or those in ``include``) as ``FunctionTool``s sharing one toolkit."""
    toolkit = RagtuneToolkit.of(workspace, **options)
    return [as_function_tool(toolkit, name) for name in include]


def create_query_engine_tool(
    workspace: Workspace | RagtuneToolkit,
    llm: LLM,
    *,
    name: str = QUERY_TOOL,
    description: str = QUERY_DESCRIPTION,
    response_mode: str = "compact",
    **search_options: Any,
) -> QueryEngineTool:
    """A ``QueryEngineTool`` over a ``RetrieverQueryEngine`` on :class:`RagtuneLlamaRetriever`.

    Args:
        workspace: the store to retrieve from (or a toolkit, whose workspace and tenant are used).
        llm: the LlamaIndex LLM that writes answers (wrap a LangChain model in :class:`ChatModelLLM`).
        name: the tool name the agent sees.
        description: what the agent reads about it.
        response_mode: LlamaIndex response synthesis mode (``compact``, ``refine``, ``tree_summarize`` ...).
        **search_options: :class:`~ragtune.retrievers.search.SearchOptions` fields (``k``, ``mode``, ``filters`` ...).
    """
    from llama_index.core.query_engine import RetrieverQueryEngine

    if isinstance(workspace, RagtuneToolkit):
        search_options.setdefault("tenant", workspace.tenant)
        searcher = workspace.searcher
    else:
        searcher = workspace.searcher()
    retriever = RagtuneLlamaRetriever(searcher, **search_options)
    engine = RetrieverQueryEngine.from_args(retriever, llm=llm, response_mode=response_mode)  # type: ignore[arg-type]
    return QueryEngineTool.from_defaults(engine, name=name, description=description)


def create_llamaindex_agent(
    llm: LLM,
    workspace: Workspace | RagtuneToolkit,
    *,
    include: Sequence[str] = ALL_TOOLS,
    query_engine: bool = True,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    extra_tools: Sequence[Any] = (),
    **options: Unpack[ToolkitOptions],
) -> Any:
    """A LlamaIndex ``FunctionAgent`` with ragtune's tools (and the query-engine tool).

    Args:
        llm: a function-calling LlamaIndex LLM; :class:`ChatModelLLM` wraps any LangChain chat model.
        workspace: the store the tools work on, or a ready toolkit.
        include: which ragtune function tools to give the agent.
        query_engine: also add :func:`create_query_engine_tool` (answers written by ``llm``).
        system_prompt: the agent's instructions.
        extra_tools: your own LlamaIndex tools.
        **options: :class:`RagtuneToolkit` options.

    Returns:
        A ``FunctionAgent``: ``await agent.run(user_msg=...)`` returns its final response.
    """
    from llama_index.core.agent.workflow import FunctionAgent

    toolkit = RagtuneToolkit.of(workspace, **options)
    tools: list[Any] = [*create_llamaindex_tools(toolkit, include=include)]
    if query_engine:
        tools.append(create_query_engine_tool(toolkit, llm))
    tools.extend(extra_tools)
    return FunctionAgent(
        name="ragtune",
        description="Answers questions about the user's documents with ragtune's tools.",
        tools=tools,
        llm=llm,
        system_prompt=system_prompt,
    )


__all__ = [
    "QUERY_DESCRIPTION",
    "QUERY_TOOL",
    "as_function_tool",
    "create_llamaindex_agent",
    "create_llamaindex_tools",
    "create_query_engine_tool",
]
