"""What a search asks for, from a retriever's defaults down to a backend (no I/O).

:class:`SearchOptions` is the one description of a search: ``Searcher`` keeps
one as its defaults and applies per-call overrides to it. :class:`SearchRequest`
is the same model plus the query, which is what ``Index.search`` receives.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ragtune.choices import DEFAULT_ALPHA, DEFAULT_FUSION, Fusion, SearchMode
from ragtune.errors import ConfigError
from ragtune.filters import FilterExpr


class SearchOptions(BaseModel):
    """How to search: mode, k, alpha, fusion, filters, tenant, a score floor and the hybrid pool.

    Example:
        >>> SearchOptions(k=5, mode="bm25").mode.value
        'bm25'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: SearchMode = SearchMode.HYBRID
    """``vector``, ``bm25`` or ``hybrid`` (default)."""
    k: int = Field(default=4, ge=1)
    """How many hits to return."""
    alpha: float = Field(default=DEFAULT_ALPHA, ge=0.0, le=1.0)
    """Hybrid weight of the vector side: 1 = vector only, 0 = BM25 only."""
    fusion: Fusion = DEFAULT_FUSION
    """Hybrid fusion: ``relativeScore`` (default) or ``ranked``."""
    filters: FilterExpr | None = None
    """Metadata filter applied on both sides of the search."""
    tenant: str | None = None
    """Tenant to search; ``None`` is the default tenant."""
    min_score: float | None = None
    """Drop hits scoring below this; ``None`` keeps the top k whatever their score."""
    candidates: int | None = Field(default=None, ge=1)
    """Candidates per side of a hybrid search before fusion (default max(k, 100))."""

    @property
    def pool_size(self) -> int:
        """How many results each side of a hybrid search fuses."""
        return self.candidates or max(self.k, 100)


class SearchRequest(SearchOptions):
    """A fully specified search, what backends receive: :class:`SearchOptions` plus the query.

    ``query_vector`` is required for vector and hybrid search and ``query_text``
    for bm25 and hybrid; retrievers fill both in. ``k`` defaults to 10 here
    rather than 4: a request names a ranked list (the benchmarks score it at
    10), whereas the options' 4 is what a retriever puts into a prompt
    (LangChain's default). Both defaults predate this model and are kept.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int = Field(default=10, ge=1)
    """How many hits to return."""
    query_text: str | None = None
    query_vector: np.ndarray | None = None

    @model_validator(mode="after")
    def _check_inputs(self) -> SearchRequest:
        if self.mode in (SearchMode.VECTOR, SearchMode.HYBRID) and self.query_vector is None:
            msg = f"{self.mode.value} search needs query_vector; embed the query first"
            raise ConfigError(msg)
        if self.mode in (SearchMode.BM25, SearchMode.HYBRID) and not (self.query_text or "").strip():
            msg = f"{self.mode.value} search needs a non-empty query_text"
            raise ConfigError(msg)
        return self


__all__ = ["DEFAULT_ALPHA", "DEFAULT_FUSION", "SearchOptions", "SearchRequest"]
