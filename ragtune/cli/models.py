"""``ragtune models list|add|warm``: the chat models a store knows, and getting local ones ready."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ragtune.cli.common import EXIT_USAGE, JsonFlag, console, emit_json, fail, out, show_table, with_settings
from ragtune.cli.finetune import _open_existing_index
from ragtune.cli.main import app

if TYPE_CHECKING:
    from ragtune.config import Settings

models_app = typer.Typer(help="Registered chat models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
@with_settings
def list_models(json_out: JsonFlag = False, *, settings: Settings) -> None:
    """List registered models; fine-tuned models whose source documents changed are flagged stale."""
    from ragtune.routing.freshness import stale_documents
    from ragtune.workspace import Workspace

    workspace = Workspace(settings)
    if not workspace.registry_path.is_file():  # models added to a store not yet ingested still list
        workspace.require_existing()
    entries = workspace.registry.list()
    index = _open_existing_index(settings)
    rows = []
    for entry in entries:
        stale = stale_documents(entry, index) if index is not None and entry.snapshot else {}
        fresh = None if index is None and entry.snapshot else not stale
        rows.append({**entry.model_dump(mode="json"), "stale_documents": stale, "fresh": fresh})
    if index is not None:
        index.close()
    if json_out:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"Models in {settings.store}")
    for column in ("name", "provider", "model", "base", "metrics", "freshness"):
        table.add_column(column, overflow="fold")
    for row in rows:
        metrics = ", ".join(f"{k}={v:.3g}" for k, v in list(row["metrics"].items())[:4])
        if row["stale_documents"]:
            docs = ", ".join(f"{d} ({why})" for d, why in row["stale_documents"].items())
            freshness = f"[red]STALE[/]: {docs}"
        elif row["fresh"] is None:
            freshness = "unknown (no index)"
        else:
            freshness = "[green]fresh[/]" if row["snapshot"] else "-"
        table.add_row(row["name"], row["provider"], row["model_id"], row["base"] or "-", metrics or "-", freshness)
    show_table(table)


@models_app.command("add")
@with_settings
def add_model(
    name: Annotated[str, typer.Argument(help="Registry name, e.g. base, qwen or my-gpt.")],
    provider: Annotated[str, typer.Option("--provider", help="local or openai.")],
    model_id: Annotated[
        str,
        typer.Option(
            "--model-id",
            help="local: smollm2-135m-instruct, a model folder, a .gguf file or a Hugging Face id; openai: a model id.",
        ),
    ],
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="local: a LoRA adapter folder to load on top of the model.")
    ] = None,
    base: Annotated[str | None, typer.Option("--base", help="Name of the model this one was fine-tuned from.")] = None,
    notes: Annotated[str, typer.Option("--notes", help="Free text shown by models list.")] = "",
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Register a chat model (replacing one of the same name); use it with the router or as base."""
    from ragtune.llm.registry import ModelEntry
    from ragtune.workspace import Workspace

    if provider not in ("local", "openai"):
        fail(f"--provider must be local or openai, got {provider!r}.", code=EXIT_USAGE)
    adapter_path = None
    if adapter is not None:
        if provider != "local":
            fail("--adapter is only for local models; an OpenAI model is fine-tuned by id.", code=EXIT_USAGE)
        if not (adapter / "adapter_config.json").is_file():
            fail(f"--adapter {adapter}: no adapter_config.json there; pass a folder saved by peft.", code=EXIT_USAGE)
        adapter_path = str(adapter.expanduser().resolve())
    stored_id = model_id.strip()
    if provider == "local":
        stored_id = _local_model_id(stored_id)
    entry = ModelEntry(
        name=name,
        provider=provider,  # type: ignore[arg-type]  # checked above
        model_id=stored_id,
        adapter_path=adapter_path,
        base=base if base is not None else ("base" if adapter_path is not None else None),
        notes=notes,
    )
    registry = Workspace(settings).registry
    registry.register(entry)
    if json_out:
        emit_json(entry.model_dump(mode="json"))
        return
    console.print(f"Registered [bold]{name}[/] ({provider}:{stored_id}) in {registry.path}", highlight=False)


def _local_model_id(model_id: str) -> str:
    """A local model id as stored: an existing path made absolute; the packaged id and hub ids as given."""
    from ragtune.errors import ModelError
    from ragtune.llm.loader import normalize_spec, resolve_source

    spec = normalize_spec(model_id.removeprefix("local:"))
    try:
        source = resolve_source(spec)
    except ModelError as exc:
        fail(str(exc), code=EXIT_USAGE, kind="ModelError")
    if source.kind == "hub" or source.spec == normalize_spec(None):
        return source.spec
    return str(Path(spec).expanduser().resolve())


@models_app.command("warm")
@with_settings
def warm_model(json_out: JsonFlag = False, *, settings: Settings) -> None:
    """Load the local chat model once so its de-quantized cache exists (install runs this; fast when warm)."""
    import time

    from ragtune.llm.loader import cache_dir, is_warm, resolve_source, warm
    from ragtune.llm.registry import resolve_base_entry
    from ragtune.workspace import Workspace

    entry = resolve_base_entry(Workspace(settings).registry, settings)
    if entry.provider != "local":
        result = {"model": entry.model_id, "provider": entry.provider, "built": False, "seconds": 0.0}
    else:
        start = time.perf_counter()
        built = False if is_warm(entry.model_id) else warm(entry.model_id)
        result = {
            "model": entry.model_id,
            "provider": "local",
            "built": built,
            "seconds": round(time.perf_counter() - start, 2),
            "cache": str(cache_dir(entry.model_id)) if resolve_source(entry.model_id).is_gguf else None,
        }
    if json_out:
        emit_json(result)
        return
    state = "built" if result["built"] else "already warm" if entry.provider == "local" else "nothing to warm"
    out.print(f"{entry.model_id}: {state} ({result['seconds']} s)", highlight=False)
