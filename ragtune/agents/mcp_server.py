"""ragtune's agent tools over the Model Context Protocol (stdio).

Built on the ``mcp`` package's low-level ``Server`` so that the JSON schema a
client sees is exactly the tool's pydantic input model (the same one the
LangChain and LlamaIndex tools use), and every call is validated by it.

Errors never end the server: bad arguments (over a documented limit too: a 1 MB
query is refused, naming the 4,000-character limit) and refusals come back as a
tool result with ``isError: true``, a message naming the problem and the
:class:`~ragtune.agents.toolkit.ToolFailure` as ``structuredContent``; they are
logged in one line, without a traceback. Only a failure underneath (a broken
index) is logged with its traceback on stderr; it too is answered with
``isError: true``. Results carry the text the model reads and, as
``structuredContent``, the hits, answer or ingest counts as JSON.

Example:
    $ ragtune mcp --store my-store
    # or in a client's config: {"command": "ragtune", "args": ["mcp", "--store", "/abs/my-store"]}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server import Server

from ragtune.agents.toolkit import DESCRIPTIONS, INPUT_SCHEMAS, RagtuneToolkit, ToolOutput, shown
from ragtune.schema import Hit

if TYPE_CHECKING:
    from ragtune.config import Settings

SERVER_NAME = "ragtune"
INSTRUCTIONS = (
    "Tools over a ragtune knowledge base: search_knowledge_base returns numbered passages with sources; "
    "ask answers with routing between the documents and a fine-tuned model; ask_finetuned asks the "
    "fine-tuned model alone; ingest adds files or folders."
)
READ_ONLY = {"search_knowledge_base", "ask", "ask_finetuned"}


def tool_definitions(names: Sequence[str] = tuple(INPUT_SCHEMAS)) -> list[types.Tool]:
    """The MCP tool list: name, description and the input model's JSON schema."""
    tools = []
    for name in names:
        schema = INPUT_SCHEMAS[name].model_json_schema()
        schema.pop("title", None)
        tools.append(
            types.Tool(
                name=name,
                description=DESCRIPTIONS[name],
                input_schema=schema,
                annotations=types.ToolAnnotations(
                    read_only_hint=name in READ_ONLY,
                    destructive_hint=False,
                    idempotent_hint=True,
                    open_world_hint=False,
                ),
            )
        )
    return tools


def structured(output: ToolOutput) -> dict[str, Any] | None:
    """The artifact as JSON for ``structuredContent``."""
    artifact = output.artifact
    if isinstance(artifact, list) and all(isinstance(h, Hit) for h in artifact):
        return {
            "hits": [
                {
                    "source": h.source,
                    "doc_id": h.doc_id,
                    "chunk_id": h.chunk_id,
                    "text": h.text,
                    "score": h.score,
                    "distance": h.distance,
                }
                for h in artifact
            ]
        }
    dump = getattr(artifact, "model_dump", None)
    if callable(dump):
        data = dump(mode="json")
        return data if isinstance(data, dict) else {"result": data}
    return None


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


async def call_tool(toolkit: RagtuneToolkit, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
    """Run one tool for a client; every failure becomes an ``isError`` result (see :meth:`RagtuneToolkit.arun`)."""
    if name not in INPUT_SCHEMAS:
        return _error(f"Unknown tool {shown(name)}; known tools: {', '.join(INPUT_SCHEMAS)}.")
    output = await toolkit.arun(name, {} if arguments is None else arguments)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=output.content)],
        structured_content=structured(output),
        is_error=output.is_error,
    )


def create_mcp_server(
    toolkit: RagtuneToolkit, *, name: str = SERVER_NAME, tools: Sequence[str] | None = None
) -> Server:
    """An MCP ``Server`` exposing ragtune's tools over ``toolkit``.

    Args:
        toolkit: the workspace (and chain) the tools run against.
        name: the server name clients see.
        tools: which tools to expose (default: all four).
    """
    from ragtune import __version__

    exposed = list(tools or INPUT_SCHEMAS)
    definitions = tool_definitions(exposed)

    async def on_list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=definitions)

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name not in exposed:
            return _error(f"Unknown tool {shown(params.name)}; known tools: {', '.join(exposed)}.")
        return await call_tool(toolkit, params.name, params.arguments)

    return Server(
        name,
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


async def serve_stdio(toolkit: RagtuneToolkit, **kwargs: Any) -> None:
    """Serve the tools over stdin/stdout until the client closes the connection."""
    from mcp.server.stdio import stdio_server

    server = create_mcp_server(toolkit, **kwargs)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def run_stdio(
    settings: Settings,
    *,
    tenant: str | None = None,
    ingest_roots: Sequence[str | Path] | None = None,
) -> None:
    """Open the store named by ``settings`` and serve it over stdio (what ``ragtune mcp`` runs)."""
    import anyio

    from ragtune.workspace import Workspace

    with Workspace(settings) as workspace:
        toolkit = RagtuneToolkit(workspace, tenant=tenant, ingest_roots=ingest_roots)
        anyio.run(serve_stdio, toolkit)


__all__ = [
    "INSTRUCTIONS",
    "SERVER_NAME",
    "call_tool",
    "create_mcp_server",
    "run_stdio",
    "serve_stdio",
    "structured",
    "tool_definitions",
]
