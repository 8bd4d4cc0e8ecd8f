"""``ragtune migrate``: copy a store between the embedded backend and Weaviate without re-embedding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ragtune.choices import Backend
from ragtune.cli.common import JsonFlag, console, emit_json, fail, with_settings
from ragtune.cli.common import out as stdout
from ragtune.cli.doctor import EXIT_PROBLEMS, LockTimeoutOpt, require_store
from ragtune.cli.main import app

if TYPE_CHECKING:
    from ragtune.config import Settings


def _flags(settings: Settings) -> str:
    """The flags that point later commands at ``settings``' index."""
    if settings.backend is Backend.WEAVIATE:
        return (
            f"--backend weaviate --weaviate-url {settings.weaviate_url} "
            f"--weaviate-grpc-port {settings.weaviate_grpc_port} --collection {settings.collection} "
            f"--store {settings.store}"
        )
    return f"--backend embedded --store {settings.store}"


@app.command()
@with_settings
def migrate(
    to: Annotated[Backend, typer.Option("--to", help="Backend to copy into: weaviate or embedded.")],
    lock_timeout: LockTimeoutOpt = None,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Copy every tenant, chunk, vector and document record to the other backend, then check it.

    --to weaviate reads the embedded store (--store) and writes the Weaviate collection
    (--weaviate-url, --collection); --to embedded is the reverse. Resumable: run it again after
    an interruption and only what is missing is copied.
    """
    import json

    from ragtune.index.factory import open_index
    from ragtune.index.migrate import migrate_index
    from ragtune.ingest.doctor import check_index
    from ragtune.ingest.lock import write_lock
    from ragtune.workspace import MANIFEST_NAME

    other = Backend.EMBEDDED if to is Backend.WEAVIATE else Backend.WEAVIATE
    source_settings = settings.model_copy(update={"backend": other})
    target_settings = settings.model_copy(update={"backend": to})
    if other is Backend.EMBEDDED:
        require_store(source_settings)
    with open_index(source_settings) as source, write_lock(target_settings, timeout=lock_timeout):
        with open_index(target_settings) as target:
            report = migrate_index(
                source, target, on_batch=lambda n: console.print(f"copied {n} chunks", highlight=False)
            )
            verified = check_index(target).report()
        fingerprint = source.fingerprint()
    manifest = settings.store / MANIFEST_NAME
    if to is Backend.EMBEDDED and fingerprint is not None and not manifest.exists():
        manifest.write_text(json.dumps({"embedding_model": fingerprint.model_id, "dim": fingerprint.dim}, indent=2))
    ok = verified.ok and not report.errors
    if json_out:
        flags = _flags(target_settings)
        emit_json({**report.model_dump(), "verified": verified.model_dump(), "ok": ok, "flags": flags})
    else:
        stdout.print(
            f"copied {report.copied_documents} documents ({report.copied_chunks} chunks) in {report.tenants} "
            f"tenants, skipped {report.skipped_documents} already there, in {report.seconds:.1f}s "
            f"({report.chunks_per_second:.0f} chunks/s)",
            highlight=False,
        )
        for error in report.errors:
            console.print(f"[yellow]not copied[/] {error}", highlight=False)
        state = "[green]ok[/]" if verified.ok else f"[red]problems[/] {verified.problems}"
        stdout.print(f"check of the copy: {verified.documents} documents, {verified.chunks} chunks, {state}")
        stdout.print(f"from now on use: {_flags(target_settings)}", highlight=False)
    if not ok:
        if not json_out:
            fail("the copy is incomplete; see above, then run migrate again", code=EXIT_PROBLEMS)
        raise typer.Exit(EXIT_PROBLEMS)
