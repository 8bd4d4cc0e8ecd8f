"""The router's output: which route a query takes, how sure the router is, and why."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RAG = "rag"
FINETUNED = "finetuned"
HYBRID = "hybrid"
DIRECT = "direct"
CHAIN_ROUTES = (RAG, FINETUNED, HYBRID, DIRECT)
"""The four routes a :class:`~ragtune.chains.RagChain` can run."""


class RouteDecision(BaseModel):
    """Which route a query takes.

    ``strategy`` names what decided (``rules``, ``semantic``, ``llm``, ``fallback``,
    ``forced``), possibly followed by adjustments (``+freshness``, ``+retrieval``).
    """

    model_config = ConfigDict(extra="forbid")

    route: str
    """The chosen route."""
    confidence: float
    """How sure the deciding strategy is, in [0, 1]."""
    scores: dict[str, float] = Field(default_factory=dict)
    """Score per route from the deciding strategy (similarities for semantic, 1/0 for rules)."""
    reason: str = ""
    """One human-readable sentence: why this route."""
    strategy: str = ""
    """Which strategy decided, plus any adjustment applied after it."""
    confident: bool = True
    """False when no strategy was confident and the no-confident-route policy chose the route."""
    abstain: bool = False
    """True when the answer must decline (no confident route under the ``abstain`` policy, or weak retrieval)."""
    not_found: bool = False
    """True when retrieval was weak and the route answers without documents, saying so first."""
    retrieval_score: float | None = None
    """Best retrieval score seen while routing, where the router retrieved."""
    latency_ms: float | None = None
    """Time the router took for this query (embedding included)."""
    embedding_ms: float | None = None
    """Of ``latency_ms``, the time spent embedding the query (0 when the caller passed the vector)."""
    hits: list[Any] = Field(default_factory=list, exclude=True, repr=False)
    """Hits retrieved while routing (reused by the chain, never serialised)."""
    query_vector: Any = Field(default=None, exclude=True, repr=False)
    """The query embedding the router computed once (reused by the retriever, never serialised)."""

    def with_route(self, route: str, *, reason: str, strategy: str, **changes: Any) -> RouteDecision:
        """A copy sent to another route, with the reason and strategy extended."""
        return self.model_copy(
            update={"route": route, "reason": f"{self.reason} {reason}".strip(), "strategy": strategy, **changes}
        )


__all__ = ["CHAIN_ROUTES", "DIRECT", "FINETUNED", "HYBRID", "RAG", "RouteDecision"]
