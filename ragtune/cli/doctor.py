"""``ragtune doctor``: check that the index holds exactly what its document records say, and repair."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ragtune.choices import Backend
from ragtune.cli.common import JsonFlag, emit_json, fail, out, with_settings
from ragtune.cli.main import app

if TYPE_CHECKING:
    from ragtune.config import Settings

EXIT_PROBLEMS = 4
"""``doctor`` exit code when problems remain (after ``--repair``, those it could not fix)."""

LockTimeoutOpt = Annotated[
    float | None,
    typer.Option("--lock-timeout", min=0.0, help="Seconds to wait for another writer of the store (default: forever)."),
]


def require_store(settings: Settings) -> None:
    """Refuse a folder that holds no embedded ragtune store instead of creating an empty one there.

    A folder that does not exist at all is :class:`~ragtune.errors.StoreNotFoundError` (exit 1).
    """
    from ragtune.index.embedded.store import DB_FILE
    from ragtune.workspace import Workspace

    if not settings.store.exists():
        Workspace(settings).require_existing()
    if settings.backend is Backend.EMBEDDED and not (settings.store / DB_FILE).is_file():
        fail(
            f"{settings.store} is not a ragtune store (no {DB_FILE}); pass the folder you ingested into with --store",
            code=2,
        )


@app.command()
@with_settings
def doctor(
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix what the check finds: delete strays, re-sync damaged documents.")
    ] = False,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Check one tenant only (default: all).")] = None,
    lock_timeout: LockTimeoutOpt = None,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Reconcile document records with the index: missing, orphan, stale, wrong-dimension or edited chunks."""
    from ragtune.ingest.doctor import check_index
    from ragtune.ingest.doctor import repair as run_repair
    from ragtune.workspace import Workspace

    require_store(settings)
    left: list[dict[str, object]] = []
    with Workspace(settings) as ws:
        findings = check_index(ws.index, tenant=tenant)
        before = findings.report()
        if repair and not findings.ok:
            repaired, left = run_repair(ws, findings, lock_timeout=lock_timeout)
            findings = check_index(ws.index, tenant=tenant)
            result = findings.report(dict(repaired))
            result = result.model_copy(update={"examples": result.examples + left, "ok": findings.ok and not left})
        else:
            result = before
    if json_out:
        emit_json(result)
    else:
        _print(result, repair, before.problems)
    if not result.ok:
        raise typer.Exit(EXIT_PROBLEMS)


def _print(result: object, repaired_run: bool, found: dict[str, int]) -> None:
    from ragtune.ingest.doctor import DoctorReport

    assert isinstance(result, DoctorReport)
    out.print(f"{result.documents} documents, {result.chunks} chunks")
    if repaired_run and found:
        out.print("found: " + ", ".join(f"{k} {v}" for k, v in found.items()), highlight=False)
        out.print("repaired: " + (", ".join(f"{k} {v}" for k, v in result.repaired.items()) or "nothing"))
    for kind, count in result.problems.items():
        out.print(f"[yellow]{kind}[/]: {count}", highlight=False)
    for example in result.examples:
        out.print("  " + ", ".join(f"{k}={v}" for k, v in example.items()), highlight=False)
    if result.ok:
        out.print("[green]ok[/]: the index matches its document records")
    elif not repaired_run:
        out.print("run `ragtune doctor --repair` to fix")
