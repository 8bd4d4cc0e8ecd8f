"""ragtune's agent tools as LangChain ``StructuredTool``s, and a ready LangGraph agent.

Built the way ``langchain_core.tools.create_retriever_tool`` builds its tool:
a pydantic args schema, a sync ``func`` and a native async ``coroutine``, and
``response_format="content_and_artifact"`` so the model reads text while the
caller keeps the hits, the ``Answer`` or the ingest report in
``ToolMessage.artifact``.

Errors never raise out of a tool. Called with a tool call (as agents call it), every failure
(arguments that do not fit the schema or its limits, a refusal, a broken index) is a
``ToolMessage`` with ``status="error"``, the reason as its content and a
:class:`~ragtune.agents.toolkit.ToolFailure` as its artifact. Called with plain arguments, a
failure returns its message, as LangChain's ``handle_tool_error`` does.

Example:
    >>> from langchain.agents import create_agent
    >>> tools = create_ragtune_tools(workspace)
    >>> agent = create_ragtune_agent(model, workspace)
    >>> agent.invoke({"messages": [("user", "What does the refund policy say?")]})
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document as LCDocument
from langchain_core.messages import ToolMessage
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
    ToolFailure,
    ToolkitOptions,
    ToolOutput,
)
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


@dataclass
class _Call:
    """The tool call being run: its id (``None`` for plain arguments) and the failure it met."""

    tool: str
    tool_call_id: str | None
    failures: list[ToolFailure] = field(default_factory=list)


_CALL: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("ragtune_tool_call", default=None)


def _reply(output: ToolOutput) -> tuple[Any, Any]:
    """``(content, artifact)``; an error is an error ``ToolMessage`` (tool calls) or a ``ToolException``."""
    if not output.is_error:
        return output.content, _artifact(output)
    call = _CALL.get()
    if call is None or call.tool_call_id is None:
        if call is not None:
            call.failures.append(output.artifact)
        raise ToolException(output.content)
    message = ToolMessage(
        output.content, artifact=output.artifact, tool_call_id=call.tool_call_id, name=call.tool, status="error"
    )
    return message, None  # LangChain passes a ToolMessage through as the tool's output


def _with_failure(output: Any, call: _Call) -> Any:
    """An error ``ToolMessage`` LangChain made itself (bad arguments) gets its :class:`ToolFailure` artifact."""
    if isinstance(output, ToolMessage) and output.status == "error" and output.artifact is None:
        failure = call.failures[-1] if call.failures else None
        if failure is None:
            failure = ToolFailure(tool=call.tool, kind="invalid_arguments", message=str(output.content))
        return output.model_copy(update={"artifact": failure})
    return output


class RagtuneTool(StructuredTool):
    """A ``StructuredTool`` whose errors are ``ToolMessage``s with ``status="error"`` and an artifact."""

    def run(self, tool_input: str | dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        call = _Call(self.name, kwargs.get("tool_call_id"))
        token = _CALL.set(call)
        try:
            output = super().run(tool_input, *args, **kwargs)
        finally:
            _CALL.reset(token)
        return _with_failure(output, call)

    async def arun(self, tool_input: str | dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        call = _Call(self.name, kwargs.get("tool_call_id"))
        token = _CALL.set(call)
        try:
            output = await super().arun(tool_input, *args, **kwargs)
        finally:
            _CALL.reset(token)
        return _with_failure(output, call)


def as_tool(
    toolkit: RagtuneToolkit,
    tool: str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> RagtuneTool:
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
    if tool not in TOOL_METHODS:
        raise KeyError(tool)

    def func(**kwargs: Any) -> tuple[Any, Any]:
        return _reply(toolkit.run(tool, kwargs))

    async def coroutine(**kwargs: Any) -> tuple[Any, Any]:
        return _reply(await toolkit.arun(tool, kwargs))

    made = RagtuneTool.from_function(
        func=func,
        coroutine=coroutine,
        name=name or tool,
        description=description or DESCRIPTIONS[tool],
        args_schema=INPUT_SCHEMAS[tool],
        response_format="content_and_artifact",
        handle_tool_error=True,
        handle_validation_error=_handle_validation_error,
    )
    assert isinstance(made, RagtuneTool)  # from_function builds cls(...)
    return made


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
    "RagtuneTool",
    "as_tool",
    "create_ask_finetuned_tool",
    "create_ask_tool",
    "create_ingest_tool",
    "create_ragtune_agent",
    "create_ragtune_tools",
    "create_search_tool",
    "documents_from_artifact",
]
