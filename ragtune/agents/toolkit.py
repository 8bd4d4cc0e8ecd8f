"""The tool logic every agent framework shares, free of any framework.

:class:`RagtuneToolkit` holds a :class:`~ragtune.workspace.Workspace` (and,
once needed, its answering chain) and runs the four tools an agent gets:

========================  =========================================================
``search_knowledge_base`` passages from the index (vector, BM25 or hybrid, filters)
``ask``                   an answer with sources, routed (or forced to a route)
``ask_finetuned``         the registered fine-tuned model alone
``ingest``                add or refresh files and folders in the index
========================  =========================================================

Each tool takes a pydantic input model (the JSON schema agents see) and returns
a :class:`ToolOutput`: the text the model reads plus an artifact for the
caller (hits, the :class:`~ragtune.chains.answer.Answer`, the ingest report).
Sync and async run the same code; only the call into the index, chain or
ingest differs. The LangChain, LlamaIndex and MCP adapters are thin shells.

Failures the model can act on (an empty query, a bad filter, a path that does
not exist, no fine-tuned model registered) raise :class:`~ragtune.errors.ToolError`
from the tool methods. :meth:`RagtuneToolkit.run` (what every adapter calls) never
raises: bad arguments, refusals and failures (a broken index, a failing model API)
come back as a :class:`ToolOutput` with ``is_error=True`` whose artifact is a
:class:`ToolFailure`; each adapter turns that into its framework's error form.

Input limits (what an agent may send; anything over a limit is refused, naming it):

=====================  ==========================================================
query / question       at most :data:`MAX_QUERY_CHARS` (4,000) characters
k                      1 to :data:`MAX_K` (20)
filters                at most :data:`MAX_FILTERS` (10), each at most
                       :data:`MAX_FILTER_CHARS` (200) characters, strict grammar
                       (:func:`ragtune.filters.parse_filter`)
path                   at most :data:`MAX_PATH_CHARS` (4,096) characters
=====================  ==========================================================

Bad input is logged at INFO in one line, without a traceback; only unexpected
failures are logged with their traceback.

Example:
    >>> toolkit = RagtuneToolkit(Workspace.open(store="my-store"))
    >>> out = toolkit.search("refund policy", k=3)
    >>> print(out.content)          # numbered passages with their sources
    >>> out.artifact[0].chunk_id    # the Hit objects
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, TypedDict, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ragtune.errors import InputError, ToolError
from ragtune.filters import FilterExpr, combine, parse_filter
from ragtune.schema import Hit

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ragtune.chains.answer import Answer
    from ragtune.ingest.report import IngestReport
    from ragtune.retrievers.search import Searcher
    from ragtune.workspace import Workspace

log = logging.getLogger(__name__)

SEARCH_TOOL = "search_knowledge_base"
ASK_TOOL = "ask"
ASK_FINETUNED_TOOL = "ask_finetuned"
INGEST_TOOL = "ingest"
FINETUNED_MODEL = "finetuned"
"""Registry name of the model the ``ask_finetuned`` tool (and the ``finetuned`` route) uses."""

Route = Literal["auto", "rag", "finetuned", "hybrid", "direct"]

MAX_QUERY_CHARS = 4_000
"""Longest search query or question a tool accepts (a question, not a document: ingest long text)."""
MAX_K = 20
"""Most passages one search returns."""
MAX_FILTERS = 10
"""Most filters one search takes (all must hold)."""
MAX_FILTER_CHARS = 200
"""Longest single filter expression."""
MAX_PATH_CHARS = 4_096
"""Longest path ``ingest`` accepts (Linux's PATH_MAX)."""
SHOWN_CHARS = 120
"""Longest piece of an input quoted back in a message (a 100,000-character path is not echoed)."""


# -- input schemas ----------------------------------------------------------------------------


class SearchInput(BaseModel):
    """Arguments of ``search_knowledge_base``."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for: a question or keywords."
    )
    k: int = Field(default=4, ge=1, le=MAX_K, description="How many passages to return (1-20).")
    mode: Literal["hybrid", "vector", "bm25"] = Field(
        default="hybrid",
        description="hybrid (default) mixes meaning and keywords; vector = meaning only; bm25 = exact keywords.",
    )
    filters: list[Annotated[str, StringConstraints(max_length=MAX_FILTER_CHARS)]] | None = Field(
        default=None,
        max_length=MAX_FILTERS,
        description=(
            "Optional metadata filters (at most 10), all of which must hold, e.g. 'title=Refunds', 'page>=3', "
            "'lang in en,de', 'tags contains beta'."
        ),
    )


class AskInput(BaseModel):
    """Arguments of ``ask``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, description="The question to answer, as the user asked it."
    )
    route: Route = Field(
        default="auto",
        description=(
            "auto lets the router decide; rag = documents + base model; finetuned = fine-tuned model alone; "
            "hybrid = documents + fine-tuned model; direct = base model alone."
        ),
    )


class AskFinetunedInput(BaseModel):
    """Arguments of ``ask_finetuned``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, description="The question for the fine-tuned model."
    )


class IngestInput(BaseModel):
    """Arguments of ``ingest``."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1,
        max_length=MAX_PATH_CHARS,
        description="A file or folder to add to (or refresh in) the knowledge base.",
    )


DESCRIPTIONS: dict[str, str] = {
    SEARCH_TOOL: (
        "Search the knowledge base and return the most relevant passages, numbered, with their sources. "
        "Use it to find facts in the indexed documents before answering."
    ),
    ASK_TOOL: (
        "Answer a question with ragtune's routing chain: it decides between the documents (RAG), the "
        "fine-tuned model, both, or the base model, and returns the answer with its route and sources."
    ),
    ASK_FINETUNED_TOOL: (
        "Ask the fine-tuned model directly, without searching the documents. Use it for the style, format or "
        "behaviour the model was tuned for; its answers carry no sources."
    ),
    INGEST_TOOL: (
        "Add a file or folder to the knowledge base (or refresh it after it changed). Returns how many "
        "documents were added, updated, unchanged or deleted, and any files that could not be read."
    ),
}
"""What each tool does, as the model reads it (shared by every adapter)."""

TOOL_METHODS: dict[str, str] = {
    SEARCH_TOOL: "search",
    ASK_TOOL: "ask",
    ASK_FINETUNED_TOOL: "ask_finetuned",
    INGEST_TOOL: "ingest",
}
"""Tool name -> :class:`RagtuneToolkit` method (the async twin is the same name prefixed with ``a``)."""

INPUT_SCHEMAS: dict[str, type[BaseModel]] = {
    SEARCH_TOOL: SearchInput,
    ASK_TOOL: AskInput,
    ASK_FINETUNED_TOOL: AskFinetunedInput,
    INGEST_TOOL: IngestInput,
}


FailureKind = Literal["invalid_arguments", "refused", "failed"]


class ToolFailure(BaseModel):
    """The artifact of a tool call that did not succeed: which tool, what kind of failure, the message.

    ``invalid_arguments``: the arguments do not fit the tool's schema or limits; ``refused``: the tool
    declined (an empty query, a bad filter, a path outside the ingest roots, no fine-tuned model);
    ``failed``: something broke underneath (the index, a model API).
    """

    model_config = ConfigDict(frozen=True)

    tool: str
    kind: FailureKind
    message: str


class ToolOutput(BaseModel):
    """What a tool returns: ``content`` for the model, ``artifact`` for the caller."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    content: str
    """Text the agent's model reads."""
    artifact: Any = None
    """Structured result: ``list[Hit]``, an ``Answer`` or an ``IngestReport``; a :class:`ToolFailure` on error."""
    is_error: bool = False
    """The call failed: ``content`` says why (for the model) and ``artifact`` is a :class:`ToolFailure`."""

    @classmethod
    def failure(cls, tool: str, kind: FailureKind, message: str) -> ToolOutput:
        """An error output whose artifact is the :class:`ToolFailure`."""
        return cls(content=message, artifact=ToolFailure(tool=tool, kind=kind, message=message), is_error=True)

    def as_tuple(self) -> tuple[str, Any]:
        return self.content, self.artifact


def shown(value: str, limit: int = SHOWN_CHARS) -> str:
    """``value`` quoted for a message, cut to ``limit`` characters (with its full length) when longer."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"


M = TypeVar("M", bound=BaseModel)


def validate_input(schema: type[M], arguments: dict[str, Any]) -> M:
    """Validate tool arguments; a :class:`ToolError` naming each bad field for the model to fix."""
    try:
        return schema.model_validate(arguments)
    except ValidationError as exc:
        raise ToolError(invalid_arguments(exc)) from exc


def invalid_arguments(exc: ValidationError) -> str:
    """``Invalid arguments (field: problem; ...).``: each bad field and its limit, never the input itself."""
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
    return f"Invalid arguments ({problems})."


# -- formatting (pure) ------------------------------------------------------------------------


def format_hits(query: str, hits: Sequence[Hit], *, max_chars: int = 1200) -> str:
    """Numbered passages with source, title, section and score; long passages cut at ``max_chars``."""
    if not hits:
        return f"No passages found for {query!r}. Try other words, mode='bm25' for exact terms, or fewer filters."
    blocks = []
    for number, hit in enumerate(hits, start=1):
        chunk = hit.chunk
        where = ", ".join(
            part
            for part in (
                chunk.title and f"title: {chunk.title}",
                chunk.section and f"section: {chunk.section}",
                chunk.page is not None and f"page {chunk.page}",
                f"score {hit.score:.3f}",
            )
            if part
        )
        text = chunk.text if len(chunk.text) <= max_chars else chunk.text[:max_chars].rstrip() + " [...]"
        blocks.append(f"[{number}] {chunk.source} ({where}; chunk {chunk.id})\n{text}")
    return "\n\n".join(blocks)


def format_answer(answer: Answer) -> str:
    """The answer text, then its route (and why) and its numbered sources."""
    lines = [answer.marked_text() if answer.segments else answer.text, ""]
    route = f"Route: {answer.route}"
    if answer.decision is not None and answer.decision.reason:
        route += f" ({answer.decision.reason})"
    lines.append(route)
    if answer.citations:
        lines.append("Sources:")
        lines.extend(f"[{c.number}] {c.source} (chunk {c.chunk_id})" for c in answer.citations)
    elif answer.route in ("finetuned", "direct"):
        lines.append("Sources: none (answered by the model alone, not from the documents).")
    else:
        lines.append("Sources: none cited.")
    return "\n".join(lines).strip()


def format_ingest(path: str, report: IngestReport) -> str:
    """One line of counts, then one line per file that could not be ingested."""
    head = (
        f"Ingested {path}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.deleted} deleted documents ({report.chunks_added} chunks written, {report.chunks_deleted} removed)."
    )
    if not report.errors:
        return head
    errors = [f"- {e.path}: {e.reason}" for e in report.errors[:20]]
    more = [f"- ... and {len(report.errors) - 20} more"] if len(report.errors) > 20 else []
    return "\n".join([head, f"{len(report.errors)} could not be ingested:", *errors, *more])


# -- the toolkit ------------------------------------------------------------------------------


class AnsweringChain(Protocol):
    """What the ``ask`` tools use of a chain: a :class:`~ragtune.chains.RagChain`, or anything that
    answers ``{"question": ..., "route": ...}`` with an :class:`~ragtune.chains.answer.Answer`."""

    def invoke(self, input: dict[str, Any], /) -> Answer: ...

    async def ainvoke(self, input: dict[str, Any], /) -> Answer: ...


class ToolkitOptions(TypedDict, total=False):
    """:class:`RagtuneToolkit`'s keyword options, as the tool factories take them
    (``create_ragtune_tools(workspace, tenant="acme", ingest_roots=[...])``)."""

    chain: AnsweringChain | None
    chain_factory: Callable[[Workspace], AnsweringChain] | None
    tenant: str | None
    ingest_roots: Sequence[str | Path] | None
    max_passage_chars: int
    finetuned_model: str | None


class RagtuneToolkit:
    """The four agent tools over one workspace, with sync and async entry points.

    Args:
        workspace: the store to search and ingest into.
        chain: the answering chain for ``ask``/``ask_finetuned`` (a
            :class:`~ragtune.chains.RagChain` or anything with its ``invoke``/``ainvoke``);
            built with :func:`ragtune.chains.build_chain` on first use when omitted.
        chain_factory: builds the chain lazily instead of ``build_chain(workspace)``.
        tenant: tenant searched and ingested into (``None``: the default tenant).
        ingest_roots: folders ``ingest`` may read from; ``None`` allows any path.
            Set it whenever the model is not trusted with the whole file system (MCP does).
        max_passage_chars: longest passage text shown to the model per search hit.
        finetuned_model: registry name of the fine-tuned model; ``ask_finetuned`` refuses (for the
            model to see) while no such model is registered, rather than letting the chain fall back
            to the base model. ``None`` skips the check (your ``chain`` brings its own model).
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        chain: AnsweringChain | None = None,
        chain_factory: Callable[[Workspace], AnsweringChain] | None = None,
        tenant: str | None = None,
        ingest_roots: Sequence[str | Path] | None = None,
        max_passage_chars: int = 1200,
        finetuned_model: str | None = FINETUNED_MODEL,
    ) -> None:
        self.workspace = workspace
        self.finetuned_model = finetuned_model
        self.tenant = tenant
        self.ingest_roots = None if ingest_roots is None else [Path(r).resolve() for r in ingest_roots]
        self.max_passage_chars = max_passage_chars
        self._chain = chain
        self._chain_factory = chain_factory

    @cached_property
    def searcher(self) -> Searcher:
        return self.workspace.searcher()

    @classmethod
    def of(cls, workspace: Workspace | RagtuneToolkit, **options: Unpack[ToolkitOptions]) -> RagtuneToolkit:
        """``workspace`` itself when it is a toolkit (``options`` are then not used), else a new toolkit on it."""
        return workspace if isinstance(workspace, RagtuneToolkit) else cls(workspace, **options)

    @property
    def chain(self) -> AnsweringChain:
        """The answering chain, built on first use."""
        if self._chain is None:
            if self._chain_factory is not None:
                self._chain = self._chain_factory(self.workspace)
            else:
                from ragtune.chains import ChainOptions, build_chain
                from ragtune.retrievers.search import SearchOptions

                search = SearchOptions(tenant=self.tenant) if self.tenant is not None else None
                self._chain = build_chain(self.workspace, options=ChainOptions(search=search))
        return self._chain

    # -- search_knowledge_base ----------------------------------------------------------------

    def _search_args(self, args: SearchInput) -> dict[str, Any]:
        filters: FilterExpr | None = None
        if args.filters:
            try:
                filters = combine([parse_filter(f) for f in args.filters])
            except ValueError as exc:  # ConfigError and the parser's own syntax error
                raise ToolError(getattr(exc, "message", str(exc))) from exc
        if not args.query.strip():
            raise ToolError("The query is empty; pass the words or question to search for.")
        return {"k": args.k, "mode": args.mode, "filters": filters, "tenant": self.tenant}

    def search(self, query: str, k: int = 4, mode: str = "hybrid", filters: list[str] | None = None) -> ToolOutput:
        """Run ``search_knowledge_base``; the artifact is the list of :class:`~ragtune.schema.Hit`."""
        args = validate_input(SearchInput, {"query": query, "k": k, "mode": mode, "filters": filters})
        hits = self.searcher.search(args.query, **self._search_args(args))
        return ToolOutput(content=format_hits(args.query, hits, max_chars=self.max_passage_chars), artifact=hits)

    async def asearch(
        self, query: str, k: int = 4, mode: str = "hybrid", filters: list[str] | None = None
    ) -> ToolOutput:
        """Async twin of :meth:`search`."""
        args = validate_input(SearchInput, {"query": query, "k": k, "mode": mode, "filters": filters})
        hits = await self.searcher.asearch(args.query, **self._search_args(args))
        return ToolOutput(content=format_hits(args.query, hits, max_chars=self.max_passage_chars), artifact=hits)

    # -- ask / ask_finetuned ------------------------------------------------------------------

    def _check_finetuned(self) -> None:
        name = self.finetuned_model
        if name is not None and name not in self.workspace.registry:
            msg = (
                f"No fine-tuned model is registered in {self.workspace.store} (registry name "
                f"{name!r}). Use the 'ask' tool with route 'auto' or 'rag', or search the documents."
            )
            raise ToolError(msg)

    def _route(self, args: AskInput) -> str | None:
        return None if args.route == "auto" else args.route

    def ask(self, question: str, route: str = "auto") -> ToolOutput:
        """Run ``ask``; the artifact is the chain's :class:`~ragtune.chains.answer.Answer`."""
        args = validate_input(AskInput, {"question": question, "route": route})
        forced = self._route(args)
        answer = invoke_chain(self.chain, args.question, forced)
        return ToolOutput(content=format_answer(answer), artifact=answer)

    async def aask(self, question: str, route: str = "auto") -> ToolOutput:
        """Async twin of :meth:`ask`."""
        args = validate_input(AskInput, {"question": question, "route": route})
        forced = self._route(args)
        answer = await ainvoke_chain(self.chain, args.question, forced)
        return ToolOutput(content=format_answer(answer), artifact=answer)

    def ask_finetuned(self, question: str) -> ToolOutput:
        """Run ``ask_finetuned``: :meth:`ask` forced to the ``finetuned`` route."""
        args = validate_input(AskFinetunedInput, {"question": question})
        self._check_finetuned()
        return self.ask(args.question, route="finetuned")

    async def aask_finetuned(self, question: str) -> ToolOutput:
        """Async twin of :meth:`ask_finetuned`."""
        args = validate_input(AskFinetunedInput, {"question": question})
        self._check_finetuned()
        return await self.aask(args.question, route="finetuned")

    # -- ingest --------------------------------------------------------------------------------

    def _ingest_path(self, raw: str) -> Path:
        try:
            resolved = Path(raw).expanduser().resolve()
            if self.ingest_roots is not None and not any(resolved.is_relative_to(r) for r in self.ingest_roots):
                allowed = ", ".join(str(r) for r in self.ingest_roots)
                raise ToolError(f"Cannot ingest {shown(raw)}: only paths under {allowed} may be ingested.")
            if not resolved.exists():
                raise ToolError(f"Cannot ingest {shown(raw)}: no such file or folder.")
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte ...
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ToolError(f"Cannot ingest {shown(raw)}: {reason}.") from None
        return resolved

    def _ingest_result(self, raw: str, report: IngestReport) -> ToolOutput:
        if not report.ingested_anything and report.errors:
            raise ToolError(format_ingest(raw, report).replace("Ingested", "Nothing ingested from", 1))
        return ToolOutput(content=format_ingest(raw, report), artifact=report)

    def ingest(self, path: str) -> ToolOutput:
        """Run ``ingest``; the artifact is the :class:`~ragtune.ingest.report.IngestReport`."""
        args = validate_input(IngestInput, {"path": path})
        target = self._ingest_path(args.path)
        from ragtune.ingest import sync_paths

        try:
            report = sync_paths(self.workspace, [target], tenant=self.tenant)
        except InputError as exc:
            raise ToolError(f"Cannot ingest {shown(args.path)}: {exc.message}") from exc
        return self._ingest_result(args.path, report)

    async def aingest(self, path: str) -> ToolOutput:
        """Async twin of :meth:`ingest` (the ingest runs in a worker thread)."""
        return await asyncio.to_thread(self.ingest, path)

    # -- dispatch by name (MCP, LlamaIndex, LangChain) ------------------------------------------

    def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        """Run a tool by name with JSON arguments (validated against its input schema); raises :class:`ToolError`."""
        args = validate_input(_schema(name), arguments)
        return getattr(self, TOOL_METHODS[name])(**args.model_dump())  # type: ignore[no-any-return]

    async def acall(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        """Async twin of :meth:`call`."""
        args = validate_input(_schema(name), arguments)
        return await getattr(self, "a" + TOOL_METHODS[name])(**args.model_dump())  # type: ignore[no-any-return]

    def run(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        """:meth:`call` that never raises: a failure is an ``is_error`` output with a :class:`ToolFailure`."""
        try:
            args = _validated(name, arguments)
        except ToolError as exc:
            return _refused(name, "invalid_arguments", exc)
        try:
            return getattr(self, TOOL_METHODS[name])(**args.model_dump())  # type: ignore[no-any-return]
        except ToolError as exc:
            return _refused(name, "refused", exc)
        except Exception as exc:
            return _failed(name, exc)

    async def arun(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        """Async twin of :meth:`run`."""
        try:
            args = _validated(name, arguments)
        except ToolError as exc:
            return _refused(name, "invalid_arguments", exc)
        try:
            return await getattr(self, "a" + TOOL_METHODS[name])(**args.model_dump())  # type: ignore[no-any-return]
        except ToolError as exc:
            return _refused(name, "refused", exc)
        except Exception as exc:
            return _failed(name, exc)


def _validated(name: str, arguments: Any) -> BaseModel:
    if not isinstance(arguments, dict):
        raise ToolError(
            f"Invalid arguments: expected a JSON object of named arguments, got {type(arguments).__name__}."
        )
    return validate_input(_schema(name), arguments)


def _refused(name: str, kind: FailureKind, exc: ToolError) -> ToolOutput:
    """Bad input: one log line, no traceback (the message names the problem, not the whole input)."""
    log.info("tool %s refused: %s", name, exc.message)
    return ToolOutput.failure(name, kind, exc.message)


def _failed(name: str, exc: Exception) -> ToolOutput:
    """Something broke underneath the tool: logged with its traceback, reported to the model in one line."""
    log.error("tool %s failed", name, exc_info=exc)
    detail = str(exc)
    if len(detail) > 2 * SHOWN_CHARS:
        detail = detail[: 2 * SHOWN_CHARS] + "..."
    return ToolOutput.failure(name, "failed", f"Tool {name} failed: {type(exc).__name__}: {detail}")


def _schema(name: str) -> type[BaseModel]:
    try:
        return INPUT_SCHEMAS[name]
    except KeyError:
        raise ToolError(f"Unknown tool {name!r}; known tools: {', '.join(INPUT_SCHEMAS)}.") from None


def _chain_input(question: str, route: str | None) -> dict[str, Any]:
    return {"question": question} if route is None else {"question": question, "route": route}


def invoke_chain(chain: AnsweringChain, question: str, route: str | None) -> Answer:
    """Run the answering chain for one question, forcing ``route`` unless it is ``None``."""
    return chain.invoke(_chain_input(question, route))


async def ainvoke_chain(chain: AnsweringChain, question: str, route: str | None) -> Answer:
    """Async twin of :func:`invoke_chain`."""
    return await chain.ainvoke(_chain_input(question, route))


__all__ = [
    "ASK_FINETUNED_TOOL",
    "ASK_TOOL",
    "AnsweringChain",
    "DESCRIPTIONS",
    "FINETUNED_MODEL",
    "INGEST_TOOL",
    "INPUT_SCHEMAS",
    "SEARCH_TOOL",
    "TOOL_METHODS",
    "AskFinetunedInput",
    "AskInput",
    "IngestInput",
    "MAX_FILTERS",
    "MAX_FILTER_CHARS",
    "MAX_K",
    "MAX_PATH_CHARS",
    "MAX_QUERY_CHARS",
    "FailureKind",
    "RagtuneToolkit",
    "SearchInput",
    "ToolFailure",
    "ToolOutput",
    "ToolkitOptions",
    "ainvoke_chain",
    "format_answer",
    "format_hits",
    "format_ingest",
    "invalid_arguments",
    "invoke_chain",
    "shown",
    "validate_input",
]
