"""ragtune's agent tools as LangChain ``StructuredTool``s, and a ready LangGraph agent.

Built the way ``langchain_core.tools.create_retriever_tool`` builds its tool:
a pydantic args schema, a sync ``func`` and a native async ``coroutine``, and
``response_format="content_and_artifact"`` so the model reads text while the
caller keeps the hits, the ``Answer`` or the ingest report in
``ToolMessage.artifact``. A :class:`~ragtune.errors.ToolError` becomes a
``ToolException`` that the tool hands back to the model as its result
(``handle_tool_error``); every other error propagates.

Example:
    >>> from langchain.agents import create_agent
    >>> tools = create_ragtune_tools(workspace)
    >>> agent = create_ragtune_agent(model, workspace)
    >>> agent.invoke({"messages": [("user", "What does the refund policy say?")]})
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document as LCDocument
from langchain_core.tools import StructuredTool, ToolException

from ragtune.agents.toolkit import (
    ASK_FINETUNED_TOOL,
    ASK_TOOL,
    DESCRIPTIONS,
    INGEST_TOOL,
    INPUT_SCHEMAS,
    SEARCH_TOOL,
    TOOL_METHODS,
    RagtuneToolkit,
    ToolkitOptions,
    ToolOutput,
)
from ragtune.errors import ToolError
from ragtune.retrievers.langchain import hit_to_langchain
from ragtune.schema import Hit

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from typing_extensions import Unpack

    from ragtune.workspace import Workspace

DEFAULT_SYSTEM_PROMPT = (
    "You answer questions about the user's documents with ragtune's tools. Search the knowledge base "
    "(search_knowledge_base) or ask the routing chain (ask) before answering, quote what the tools "
    "return, and name the sources you used. If the tools find nothing, say so instead of guessing."
)

ALL_TOOLS = (SEARCH_TOOL, ASK_TOOL, ASK_FINETUNED_TOOL, INGEST_TOOL)


def _handle_validation_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in errors())
        return f"Invalid arguments ({problems}). Fix them and call the tool again."
    return f"Invalid arguments ({exc}). Fix them and call the tool again."


def _artifact(output: ToolOutput) -> Any:
    if isinstance(output.artifact, list) and all(isinstance(h, Hit) for h in output.artifact):
        return [hit_to_langchain(h) for h in output.artifact]
    return output.artifact


def _sync(run: Callable[..., ToolOutput]) -> Callable[..., tuple[str, Any]]:
    def func(**kwargs: Any) -> tuple[str, Any]:
        try:
            output = run(**kwargs)
        except ToolError as exc:
            raise ToolException(exc.message) from exc
        return output.content, _artifact(output)

    return func


def _async(run: Callable[..., Awaitable[ToolOutput]]) -> Callable[..., Awaitable[tuple[str, Any]]]:
    async def coroutine(**kwargs: Any) -> tuple[str, Any]:
        try:
            output = await run(**kwargs)
        except ToolError as exc:
            raise ToolException(exc.message) from exc
        return output.content, _artifact(output)

    return coroutine


def as_tool(
    toolkit: RagtuneToolkit,
    tool: str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> StructuredTool:
    """One ragtune tool as a LangChain ``StructuredTool``.

    Args:
        toolkit: the workspace (and chain) the tool runs against.
        tool: ``search_knowledge_base``, ``ask``, ``ask_finetuned`` or ``ingest``.
        name: the name the model sees (default: ``tool``).
        description: what the model reads about the tool (default: :data:`~ragtune.agents.toolkit.DESCRIPTIONS`).

    Returns:
        A tool with a typed args schema, sync and async implementations and
        ``response_format="content_and_artifact"``; the artifact is a list of
        LangChain ``Document``s for search, the ``Answer`` for ``ask`` tools and
        the ``IngestReport`` for ``ingest``.

    Raises:
        KeyError: ``tool`` is not one of the four names.
    """
    method = TOOL_METHODS[tool]
    return StructuredTool.from_function(
        func=_sync(getattr(toolkit, method)),
        coroutine=_async(getattr(toolkit, "a" + method)),
        name=name or tool,
        description=description or DESCRIPTIONS[tool],
        args_schema=INPUT_SCHEMAS[tool],
        response_format="content_and_artifact",
        handle_tool_error=True,
        handle_validation_error=_handle_validation_error,
    )


def create_search_tool(
    workspace: Workspace,
    *,
    name: str = SEARCH_TOOL,
    description: str | None = None,
    **options: Unpack[ToolkitOptions],
) -> StructuredTool:
    """``search_knowledge_base`` over a workspace (``options`` go to :class:`RagtuneToolkit`)."""
    return as_tool(RagtuneToolkit(workspace, **options), SEARCH_TOOL, name=name, description=description)


def create_ask_tool(
    workspace: Workspace,
    *,
    name: str = ASK_TOOL,
    description: str | None = None,
    **options: Unpack[ToolkitOptions],
) -> StructuredTool:
    """``ask`` through the routing chain (``chain=`` or built from the workspace)."""
    return as_tool(RagtuneToolkit(workspace, **options), ASK_TOOL, name=name, description=description)


def create_ask_finetuned_tool(
    workspace: Workspace,
    *,
    name: str = ASK_FINETUNED_TOOL,
    description: str | None = None,
    **options: Unpack[ToolkitOptions],
) -> StructuredTool:
    """``ask_finetuned``: the registered fine-tuned model alone."""
    return as_tool(RagtuneToolkit(workspace, **options), ASK_FINETUNED_TOOL, name=name, description=description)


def create_ingest_tool(
    workspace: Workspace,
    *,
    name: str = INGEST_TOOL,
    description: str | None = None,
    **options: Unpack[ToolkitOptions],
) -> StructuredTool:
    """``ingest`` a file or folder (restrict it with ``ingest_roots=[...]``)."""
    return as_tool(RagtuneToolkit(workspace, **options), INGEST_TOOL, name=name, description=description)


def create_ragtune_tools(
    workspace: Workspace | RagtuneToolkit,
    *,
    include: Sequence[str] = ALL_TOOLS,
    **options: Unpack[ToolkitOptions],
) -> list[StructuredTool]:
    """Every ragtune tool (or those named in ``include``) sharing one toolkit.

    Args:
        workspace: a workspace, or a ready :class:`RagtuneToolkit`.
        include: tool names to build, in order.
        **options: :class:`RagtuneToolkit` options (``chain``, ``tenant``, ``ingest_roots`` ...).
    """
    toolkit = RagtuneToolkit.of(workspace, **options)
    return [as_tool(toolkit, name) for name in include]


def create_ragtune_agent(
    model: BaseChatModel,
    workspace: Workspace | RagtuneToolkit,
    *,
    include: Sequence[str] = ALL_TOOLS,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    extra_tools: Sequence[Any] = (),
    **options: Unpack[ToolkitOptions],
) -> Any:
    """A LangGraph agent (``langchain.agents.create_agent``) with ragtune's tools.

    Args:
        model: a tool-calling chat model (``ChatOpenAI``, or :class:`~ragtune.testing.ScriptedChatModel` in tests).
        workspace: the store the tools work on, or a ready toolkit.
        include: which ragtune tools to give the agent.
        system_prompt: the agent's instructions.
        extra_tools: your own tools, added after ragtune's.
        **options: :class:`RagtuneToolkit` options.

    Returns:
        The compiled graph: ``invoke({"messages": [...]})`` returns the conversation,
        tool messages (with their artifacts) included.
    """
    from langchain.agents import create_agent

    tools = [*create_ragtune_tools(workspace, include=include, **options), *extra_tools]
    return create_agent(model, tools, system_prompt=system_prompt)


def documents_from_artifact(artifact: Any) -> list[LCDocument]:
    """The LangChain documents of a search tool's artifact (empty for other tools)."""
    return [d for d in artifact if isinstance(d, LCDocument)] if isinstance(artifact, list) else []


__all__ = [
    "ALL_TOOLS",
    "DEFAULT_SYSTEM_PROMPT",
    "as_tool",
    "create_ask_finetuned_tool",
    "create_ask_tool",
    "create_ingest_tool",
    "create_ragtune_agent",
    "create_ragtune_tools",
    "create_search_tool",
    "documents_from_artifact",
]
