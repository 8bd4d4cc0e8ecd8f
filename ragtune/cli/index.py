"""``ragtune ingest``, ``search``, ``status`` and ``eval retrieval``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragtune.choices import DEFAULT_ALPHA, Fusion, SearchMode
from ragtune.cli.common import (
    EXIT_NOTHING_INGESTED,
    EXIT_USAGE,
    JsonFlag,
    console,
    emit_json,
    fail,
    out,
    progress_bar,
    with_settings,
)
from ragtune.cli.main import app

if TYPE_CHECKING:
    from ragtune.config import Settings
    from ragtune.ingest.report import IngestReport
    from ragtune.schema import Hit

eval_app = typer.Typer(help="Evaluate retrieval and answers.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant to read or write.")]


@app.command()
@with_settings
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, folders or http(s) URLs.")],
    tenant: TenantOpt = None,
    text_field: Annotated[
        list[str] | None, typer.Option("--text-field", help="JSON/CSV field joined into the text (repeat, in order).")
    ] = None,
    id_field: Annotated[str | None, typer.Option("--id-field", help="JSON/CSV field used as the document id.")] = None,
    metadata_field: Annotated[
        list[str] | None, typer.Option("--metadata-field", help="JSON/CSV fields kept as metadata (default: all).")
    ] = None,
    include: Annotated[list[str] | None, typer.Option("--include", help="Glob of folder files to include.")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Glob of folder files to skip.")] = None,
    no_delete: Annotated[
        bool, typer.Option("--no-delete", help="Keep documents that the paths no longer contain.")
    ] = False,
    lock_timeout: Annotated[
        float | None,
        typer.Option("--lock-timeout", min=0.0, help="Seconds to wait for another writer (default: wait)."),
    ] = None,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Load, chunk, embed and index PATHS incrementally (only changed documents are re-embedded)."""
    from ragtune.ingest import sync_paths
    from ragtune.loaders import LoadOptions
    from ragtune.workspace import Workspace

    options = LoadOptions(
        text_fields=text_field or [],
        id_field=id_field,
        metadata_fields=metadata_field,
        include=include or [],
        exclude=exclude or [],
    )
    workspace = Workspace(settings)
    result = None if workspace.exists() else _all_missing(paths)
    if result is None:  # some path exists (or is a URL): ingest; else a new store is not even created
        with workspace as ws, progress_bar("ingest") as bar:
            result = sync_paths(
                ws,
                paths,
                tenant=tenant,
                load_options=options,
                progress=bar,
                delete_missing=not no_delete,
                lock_timeout=lock_timeout,
            )
    if json_out:
        emit_json(result)
    else:
        out.print(
            f"added {result.added}, updated {result.updated}, unchanged {result.unchanged}, deleted {result.deleted} "
            f"documents ({result.chunks_added} chunks written, {result.chunks_deleted} deleted, "
            f"{result.chunks_embedded} embedded) in {result.seconds:.1f}s"
        )
        for error in result.errors:
            console.print(f"[yellow]skipped[/] {error.path}: {error.reason}", highlight=False)
    if not result.ingested_anything:
        if not json_out:
            console.print("[bold red]error:[/] nothing could be ingested")
        raise typer.Exit(EXIT_NOTHING_INGESTED)


def _all_missing(paths: list[str]) -> IngestReport | None:
    """The report of an ingest whose every path is a missing local file or folder, else ``None``."""
    from ragtune.ingest.report import IngestError, IngestReport
    from ragtune.loaders.url import is_url

    if any(is_url(p) or Path(p).expanduser().exists() for p in paths):
        return None
    reason = "no such file or folder; check the path (nothing was ingested and no store was created)"
    return IngestReport(errors=[IngestError(path=str(Path(p).expanduser().absolute()), reason=reason) for p in paths])


def hit_row(hit: Hit) -> dict[str, object]:
    """The JSON shape of one search hit (``ragtune search --json``)."""
    return {
        "rank": hit.rank,
        "source": hit.source,
        "doc_id": hit.doc_id,
        "chunk_id": hit.chunk_id,
        "title": hit.chunk.title,
        "section": hit.chunk.section,
        "page": hit.chunk.page,
        "text": hit.text,
        "score": hit.score,
        "distance": hit.distance,
    }


@app.command()
@with_settings
def search(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    mode: Annotated[SearchMode, typer.Option("--mode", help="vector, bm25 or hybrid.")] = SearchMode.HYBRID,
    alpha: Annotated[
        float, typer.Option("--alpha", min=0.0, max=1.0, help="Hybrid weight of the vector side (1 = vector only).")
    ] = DEFAULT_ALPHA,
    fusion: Annotated[Fusion, typer.Option("--fusion", help="relativeScore or ranked.")] = Fusion.RELATIVE_SCORE,
    k: Annotated[int, typer.Option("--k", min=1, help="Number of hits.")] = 5,
    filter_: Annotated[
        list[str] | None, typer.Option("--filter", help="field=value, field>=3, 'field in a,b' ... (repeat = AND).")
    ] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Drop hits scoring below this.")] = None,
    tenant: TenantOpt = None,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Search the index and print the top K hits."""
    from ragtune.errors import FilterSyntaxError
    from ragtune.filters import combine, parse_filter
    from ragtune.workspace import Workspace

    try:
        filters = combine([parse_filter(f) for f in filter_ or []])
    except FilterSyntaxError as exc:  # a usage error (issue 24): JSON type "usage", exit 2
        fail(str(exc), code=EXIT_USAGE, kind="usage")
    with Workspace.open_existing(settings) as ws:
        hits = ws.searcher().search(
            query, mode=mode, alpha=alpha, fusion=fusion, k=k, filters=filters, tenant=tenant, min_score=min_score
        )
        rows = [hit_row(h) for h in hits]
    if json_out:
        emit_json(rows)
        return
    if not rows:
        out.print("no hits")
    for h in hits:
        where = h.source + (f" p.{h.chunk.page}" if h.chunk.page else "")
        distance = f", distance {h.distance:.3f}" if h.distance is not None else ""
        out.print(f"[bold]{h.rank + 1}.[/] {where} (score {h.score:.3f}{distance})", highlight=False)
        snippet = " ".join(h.text.split())
        out.print(f"   {snippet[:300]}", highlight=False, markup=False)


@app.command()
@with_settings
def status(
    tenant: TenantOpt = None,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Show how many documents and chunks the index holds (per tenant where there are tenants)."""
    from ragtune.workspace import Workspace

    with Workspace.open_existing(settings) as ws:
        stats = ws.index.stats(tenant=tenant)
    data = {"documents": stats.documents, "chunks": stats.chunks, "tenants": stats.tenants}
    data.update({"backend": settings.backend.value, "store": str(settings.store)})
    if json_out:
        emit_json(data)
        return
    out.print(f"{stats.documents} documents, {stats.chunks} chunks ({settings.backend.value}, {settings.store})")
    for name, counts in stats.tenants.items():
        out.print(f"  tenant {name}: {counts.get('documents', 0)} documents, {counts.get('chunks', 0)} chunks")


@eval_app.command("retrieval")
@with_settings
def eval_retrieval(
    queries: Annotated[Path, typer.Option("--queries", help="BEIR queries JSONL (_id, text).")],
    qrels: Annotated[Path, typer.Option("--qrels", help="BEIR qrels TSV with header query-id corpus-id score.")],
    mode: Annotated[SearchMode, typer.Option("--mode")] = SearchMode.HYBRID,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0, max=1.0)] = DEFAULT_ALPHA,
    fusion: Annotated[Fusion, typer.Option("--fusion")] = Fusion.RELATIVE_SCORE,
    k: Annotated[int, typer.Option("--k", min=1, help="Chunks retrieved per query (>= 100 for recall@100).")] = 100,
    tenant: TenantOpt = None,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Score retrieval on BEIR-format queries and qrels: nDCG@10, recall@10, recall@100, MRR@10."""
    from ragtune.evaluation.retrieval import evaluate_retrieval, load_qrels, load_queries
    from ragtune.workspace import Workspace

    for path in (queries, qrels):
        if not path.is_file():
            fail(f"{path} not found", code=2)
    query_map, qrel_map = load_queries(queries), load_qrels(qrels)
    with Workspace.open_existing(settings) as ws, progress_bar("eval") as bar:
        searcher = ws.searcher()
        vectors: dict[str, Any] = {}
        if mode is not SearchMode.BM25:  # one batched model call instead of one per query
            texts = list(dict.fromkeys(query_map.values()))
            vectors = dict(zip(texts, ws.embedder.embed_queries(texts), strict=True))

        def run(text: str) -> list[Hit]:
            return searcher.search(
                text, query_vector=vectors.get(text), mode=mode, alpha=alpha, fusion=fusion, k=k, tenant=tenant
            )

        metrics = evaluate_retrieval(run, query_map, qrel_map, progress=bar)
    metrics = metrics.model_copy(update={"mode": mode.value, "alpha": alpha if mode is SearchMode.HYBRID else None})
    if json_out:
        emit_json(metrics)
        return
    out.print(
        f"nDCG@10 {metrics.ndcg_at_10:.4f}  recall@10 {metrics.recall_at_10:.4f}  "
        f"recall@100 {metrics.recall_at_100:.4f}  MRR@10 {metrics.mrr_at_10:.4f}  (n={metrics.n}, {mode.value})"
    )
