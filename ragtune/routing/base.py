"""The strategy interface: one public ``propose`` wrapping one hook, ``_propose``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ragtune.errors import ConfigError
from ragtune.routing.decision import RouteDecision
from ragtune.routing.routes import RouteSet


class RoutingStrategy(ABC):
    """Proposes a route for a query, or declines (``None``) when it has nothing to say.

    A proposal with ``confident=False`` carries the strategy's best guess and scores; the
    :class:`~ragtune.routing.Router` then asks the next strategy, or applies its
    no-confident-route policy. Subclasses implement :meth:`_propose`, and may override
    :meth:`_propose_many` when they can decide a batch faster than one by one.
    """

    name: str = "strategy"
    routes: RouteSet
    uses_query_vectors: bool = False
    """True when the strategy scores query embeddings: the router then embeds each question once and shares it."""

    def propose(self, query: str) -> RouteDecision | None:
        """The strategy's decision for ``query`` (``None``: no opinion)."""
        decision = self._propose(query)
        if decision is not None and decision.route not in self.routes:
            known = ", ".join(self.routes.names)
            msg = f"{self.name} strategy proposed unknown route {decision.route!r}; known routes: {known}"
            raise ConfigError(msg)
        return decision

    def propose_many(self, queries: Sequence[str], vectors: Any = None) -> list[RouteDecision | None]:
        """Decisions for many queries (batched where the strategy can).

        ``vectors`` (one query embedding per row, from ``embedder.embed_queries``) spares strategies
        that embed (:attr:`uses_query_vectors`) their own embedding call; the others ignore it.
        """
        return self._propose_many(list(queries), vectors)

    @abstractmethod
    def _propose(self, query: str) -> RouteDecision | None: ...

    def _propose_many(self, queries: list[str], vectors: Any = None) -> list[RouteDecision | None]:
        return [self.propose(q) for q in queries]


__all__ = ["RoutingStrategy"]
