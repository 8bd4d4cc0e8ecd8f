"""``ragtune mcp``: serve the agent tools to MCP clients over stdio."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ragtune.cli.common import with_settings
from ragtune.cli.main import app

if TYPE_CHECKING:
    from ragtune.config import Settings


@app.command()
@with_settings
def mcp(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant the tools search and ingest into.")] = None,
    ingest_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--ingest-root",
            help="Folder the ingest tool may read (repeat). Default: the current directory.",
        ),
    ] = None,
    any_path: Annotated[
        bool, typer.Option("--allow-any-path", help="Let the ingest tool read any path the server can.")
    ] = False,
    *,
    settings: Settings,
) -> None:
    """Serve search_knowledge_base, ask, ask_finetuned and ingest over MCP (stdio) for the store."""
    from ragtune.agents.mcp_server import run_stdio

    roots = None if any_path else (ingest_root or [Path.cwd()])
    run_stdio(settings, tenant=tenant, ingest_roots=roots)
