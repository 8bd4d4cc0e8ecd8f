"""``ragtune ask`` and ``ragtune route``: answer a question through the router, or show only the decision."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragtune.cli.common import EXIT_USAGE, JsonFlag, RerankFlag, chain_config, emit_json, fail, out, with_settings
from ragtune.cli.main import app

if TYPE_CHECKING:
    from ragtune.chains.answer import Answer, Claim
    from ragtune.config import Settings
    from ragtune.workspace import Workspace


class RouteChoice(str, Enum):
    AUTO = "auto"
    RAG = "rag"
    FINETUNED = "finetuned"
    HYBRID = "hybrid"
    DIRECT = "direct"


class Mode(str, Enum):
    AUTO = "auto"
    STUFF = "stuff"
    REFINE = "refine"
    MAP_REDUCE = "map_reduce"
    EXTRACT = "extract"


class GroundingChoice(str, Enum):
    OFF = "off"
    ANNOTATE = "annotate"
    STRICT = "strict"


RoutesOpt = Annotated[
    Path | None, typer.Option("--routes", help="Routes JSON file (default: the routes shipped with ragtune).")
]
TenantOpt = Annotated[
    str | None, typer.Option("--tenant", help="Tenant to retrieve from (default: the default tenant).")
]


def answer_json(answer: Answer) -> dict[str, Any]:
    """The ``ask --json`` document."""
    decision = answer.decision
    return {
        "answer": answer.text,
        "route": answer.route,
        "reason": decision.reason if decision else "",
        "confidence": decision.confidence if decision else None,
        "strategy": decision.strategy if decision else "",
        "model": answer.model,
        "mode": answer.mode,
        "abstained": answer.abstained,
        "unsourced": answer.unsourced,
        "citations": [c.model_dump(mode="json") for c in answer.citations],
        "context": [c.model_dump(mode="json") for c in answer.context],
        "invalid_citations": answer.invalid_citations,
        "uncited": [s.text for s in answer.uncited],
        "dropped_context": [d.model_dump(mode="json") for d in answer.dropped_context],
        "usage": answer.usage.model_dump(mode="json"),
        "grounding": answer.grounding,
        "supported_share": answer.supported_share,
        "claims": [_claim_json(c, answer) for c in answer.claims],
    }


def _sources(numbers: tuple[int, ...], answer: Answer) -> list[str]:
    by_number = {c.number: c for c in answer.context}
    return [by_number[n].source for n in numbers if n in by_number]


def _claim_json(claim: Claim, answer: Answer) -> dict[str, Any]:
    return {**claim.model_dump(mode="json"), "sources": _sources(claim.citations, answer)}


def _show_claims(answer: Answer) -> None:
    if not answer.claims:
        return
    share = "" if answer.supported_share is None else f" ({answer.supported_share:.0%} of the shown claims supported)"
    out.print(f"[bold]claims[/] (grounding: {answer.grounding}){share}:", highlight=False)
    for claim in answer.claims:
        names = ", ".join(Path(s).name for s in _sources(claim.citations, answer))
        if claim.verdict == "supported":
            tag = "quoted" if claim.origin == "extract" else "supported"
            line = f"  + {tag} {claim.citations and list(claim.citations)} {names}: {claim.text}"
        else:
            state = "removed" if claim.removed else "unsupported"
            line = f"  - {state}: {claim.text} ({claim.reason})"
        if claim.corrected:
            line += f" [model cited {list(claim.corrected)}: corrected]"
        out.print(line, highlight=False, markup=False)


def _show_answer(answer: Answer, streamed: bool) -> None:
    from ragtune.chains.answer import NOT_FROM_DOCUMENTS

    if not streamed:
        out.print(answer.text, highlight=False, markup=False)
    else:
        out.print()
    decision = answer.decision
    why = f" ({decision.reason})" if decision and decision.reason else ""
    out.print(f"\n[bold]route:[/] {answer.route}{why}", highlight=False)
    if answer.unsourced:
        out.print(f"[bold]sources:[/] none. {NOT_FROM_DOCUMENTS}", highlight=False)
    elif answer.citations:
        out.print("[bold]sources:[/]")
    elif answer.context:
        out.print("[bold]context shown to the model[/] (none cited):")
    for citation in answer.citations or answer.context:
        page = f" p.{citation.page}" if citation.page is not None else ""
        out.print(
            f"  [{citation.number}] {citation.source}{page}  ({citation.chunk_id})", highlight=False, markup=False
        )
    if answer.invalid_citations:
        out.print(f"[yellow]removed invalid citations:[/] {answer.invalid_citations}")
    if answer.uncited:
        out.print(f"[yellow]uncited sentences:[/] {len(answer.uncited)} of {len(answer.segments)}")
    _show_claims(answer)
    usage = answer.usage
    cost = "unknown" if usage.cost_usd is None else f"${usage.cost_usd:.6f}"
    total = usage.latency_ms.get("total", 0.0)
    out.print(
        f"[dim]{usage.input_tokens} tokens in, {usage.output_tokens} out; {total / 1000:.2f}s; cost {cost}[/]",
        highlight=False,
    )


@app.command()
@with_settings
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    route: Annotated[RouteChoice, typer.Option("--route", help="Force a route, or let the router decide.")] = (
        RouteChoice.AUTO
    ),
    routes: RoutesOpt = None,
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode",
            help="Synthesis mode for retrieval routes (extract: quote the passages, no model; auto: extract for "
            "the packaged 135M model under strict grounding, stuff otherwise).",
        ),
    ] = Mode.AUTO,
    grounding: Annotated[
        GroundingChoice,
        typer.Option(
            "--grounding",
            help="Claims the passages do not support: off (unchecked), annotate (marked) or strict (removed; "
            "the answer then quotes the passages or says they do not contain it).",
        ),
    ] = GroundingChoice.STRICT,
    verifier: Annotated[
        str | None,
        typer.Option(
            "--verifier",
            help="Cross-encoder (Hugging Face id or local folder) that checks claims; default: the embedder.",
        ),
    ] = None,
    rerank: RerankFlag = True,
    k: Annotated[int, typer.Option("--k", min=1, help="Chunks to retrieve.")] = 4,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="Longest reply.")] = 256,
    tenant: TenantOpt = None,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Answer QUESTION: route it, retrieve where needed, and show the answer, route, sources, latency and cost."""
    _warm_forced_model(settings, route, mode)
    from ragtune.chains.build import build_chain
    from ragtune.chains.options import ChainOptions
    from ragtune.retrievers.search import SearchOptions

    checker = None
    if verifier is not None:  # a model that cannot load fails before the chat model loads
        from ragtune.chains.grounding import CrossEncoderVerifier

        checker = CrossEncoderVerifier(verifier)
    with _answering_workspace(settings) as ws:
        options = ChainOptions(
            config=chain_config(mode.value, grounding.value, rerank=rerank),
            search=SearchOptions(k=k, tenant=tenant),
            max_new_tokens=max_new_tokens,
        )
        chain = build_chain(ws, routes, options=options)
        if checker is not None:
            chain.verifier = checker
        value = {"question": question, "route": route.value}
        if json_out:
            emit_json(answer_json(chain.invoke(value)))
            return
        # Checked answers are shown once checked: the streamed draft may say what the check removes.
        streamed = grounding == GroundingChoice.OFF
        result = None
        for piece in chain.stream(value):
            if isinstance(piece, str):
                if streamed:
                    out.print(piece, end="", highlight=False, markup=False)
            else:
                result = piece
    assert result is not None
    _show_answer(result, streamed=streamed)


@app.command(name="route")
@with_settings
def route_cmd(
    query: Annotated[str | None, typer.Argument(help="The query to route (omit with --eval).")] = None,
    routes: RoutesOpt = None,
    eval_file: Annotated[
        Path | None, typer.Option("--eval", help='Labelled JSONL ({"query": ..., "route": ...}) to score the router.')
    ] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Semantic threshold override.")] = None,
    tenant: TenantOpt = None,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Show the route QUERY would take in ``ragtune ask``, or score the routes on a labelled file (--eval)."""
    if (query is None) == (eval_file is None):
        fail("give either a QUERY or --eval LABELLED.jsonl (not both)", code=EXIT_USAGE)
    from ragtune.chains.build import build_workspace_router
    from ragtune.errors import InputError
    from ragtune.retrievers.search import SearchOptions
    from ragtune.routing.evaluate import load_labelled
    from ragtune.routing.router import build_router
    from ragtune.routing.routes import as_route_set
    from ragtune.routing.semantic import SemanticOptions
    from ragtune.workspace import Workspace

    semantic = SemanticOptions(threshold=threshold) if threshold is not None else None
    route_set = as_route_set(routes)  # a bad routes file fails before any model loads
    workspace = Workspace(settings) if eval_file is not None else _answering_workspace(settings)
    with workspace as ws:
        if eval_file is not None:  # scores the routes file itself, whatever models the store has
            router = build_router(route_set, embedder=_routes_embedder(ws), semantic=semantic)
        else:
            router = build_workspace_router(ws, route_set, semantic=semantic, search=SearchOptions(tenant=tenant))
            decision = router.route(query or "")
    if eval_file is not None:
        try:
            labelled = load_labelled(eval_file)
        except InputError as exc:
            fail(str(exc), code=EXIT_USAGE)
        report = router.evaluate(labelled)
        if json_out:
            emit_json(report)
            return
        out.print(f"accuracy {report.accuracy:.3f} on {report.n} queries", highlight=False)
        labels = sorted({*report.confusion, *(p for row in report.confusion.values() for p in row)})
        out.print("true \\ predicted  " + "  ".join(f"{p:>9}" for p in labels), highlight=False)
        for truth in labels:
            row = report.confusion.get(truth, {})
            out.print(f"{truth:>17}  " + "  ".join(f"{row.get(p, 0):>9}" for p in labels), highlight=False)
        return
    if json_out:
        emit_json(decision)
        return
    flag = "" if decision.confident else " [yellow](not confident)[/]"
    out.print(f"[bold]{decision.route}[/] confidence {decision.confidence:.3f}{flag}")
    out.print(decision.reason, highlight=False)
    for name, score in sorted(decision.scores.items(), key=lambda kv: -kv[1]):
        out.print(f"  {name:>10} {score:.3f}", highlight=False)


_GENERATING_MODES = (Mode.STUFF, Mode.REFINE, Mode.MAP_REDUCE)


def _warm_forced_model(settings: Settings, route: RouteChoice, mode: Mode) -> None:
    """When the caller forced a route that generates, start loading its local model while the chain imports.

    Only a forced route is known this early; the router's choice comes after the imports. The
    registry says which model (``base``, or ``finetuned`` with its adapter); anything unexpected
    (no store, no such model, an OpenAI model) leaves the load to the chain, which reports it.
    """
    generating = route in (RouteChoice.DIRECT, RouteChoice.FINETUNED, RouteChoice.HYBRID) or (
        route is RouteChoice.RAG and mode in _GENERATING_MODES
    )
    if not generating:
        return
    try:
        from ragtune.llm.registry import ModelRegistry, resolve_entry
        from ragtune.workspace import Workspace

        name = "finetuned" if route in (RouteChoice.FINETUNED, RouteChoice.HYBRID) else "base"
        entry = resolve_entry(ModelRegistry(Workspace(settings).registry_path).get(name), settings)
    except Exception:  # the chain builds the same entry and says what is wrong with it
        return
    if entry.provider == "local":
        from ragtune.llm.numpy_chat import warm_in_background

        warm_in_background(entry.model_id, entry.adapter_path)


def _answering_workspace(settings: Settings) -> Workspace:
    """The store ``ask`` and ``route`` read; a store folder that does not exist is refused, not created.

    A folder that exists but holds no index yet still answers: the direct and fine-tuned routes
    need none (a store with only registered models is one).
    """
    from ragtune.workspace import Workspace

    workspace = Workspace(settings)
    if not workspace.exists() and not workspace.store.exists():
        workspace.require_existing()
    return workspace


def _routes_embedder(ws: Workspace) -> Any:
    """The store's checked embedder; without a store, the configured one (nothing is created)."""
    if ws.exists():
        return ws.embedder
    from ragtune.embeddings.factory import make_embedder

    return make_embedder(ws.settings)


__all__ = ["answer_json", "ask", "route_cmd"]
