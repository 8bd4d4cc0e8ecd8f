"""``ChainOptions``: everything :func:`~ragtune.chains.build_chain` may be told, as one typed value.

One model instead of a dozen loose keywords, so the CLI, the agent toolkit, the evaluation
runners and notebooks pass (and type-check) the same thing. ``build_chain``'s old keywords
still work: they are turned into a ``ChainOptions``.

Its defaults are ``ragtune ask``'s defaults (``--mode auto --grounding strict --rerank --k 4
--max-new-tokens 256``): ``build_chain(workspace)`` answers a question exactly as ``ragtune ask``
does. With the packaged SmolLM2, ``auto`` under strict grounding is ``extract``: no generator
call whose draft the strict check would throw away.

Example:
    >>> options = ChainOptions(search=SearchOptions(k=3), semantic=SemanticOptions(threshold=0.3))
    >>> chain = build_chain(workspace, options=options)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, field_validator

from ragtune.chains.prompt import Prompts
from ragtune.chains.rag_chain import ChainConfig
from ragtune.llm.pricing import PriceTable
from ragtune.retrievers.search import SearchOptions
from ragtune.routing.router import RouterConfig, StaleDocs
from ragtune.routing.rules import Rule
from ragtune.routing.semantic import SemanticOptions

DEFAULT_CHAIN_CONFIG = ChainConfig(mode="auto", grounding="strict")
"""``ragtune ask``'s synthesis defaults: ``auto`` mode (see :func:`~ragtune.chains.rag_chain.resolve_mode`),
strict grounding, SmolLM2 re-ranking of near-tied passages."""
DEFAULT_SEARCH = SearchOptions()
"""``ragtune ask``'s retrieval defaults: hybrid search, k=4, the default tenant."""
DEFAULT_MAX_NEW_TOKENS = 256
"""``ragtune ask --max-new-tokens``'s default."""


class ChainOptions(BaseModel):
    """How :func:`~ragtune.chains.build_chain` builds its chain and router; every field is optional.

    Live objects (``labelled``, ``stale_docs``, ``prices``) pass through as given: type checkers
    check them, validation does not copy or consume them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    config: ChainConfig | None = Field(default=DEFAULT_CHAIN_CONFIG)
    """Synthesis mode, context and grounding (default :data:`DEFAULT_CHAIN_CONFIG`, as ``ragtune ask``;
    ``None`` means the default)."""
    router_config: RouterConfig | None = None
    """No-confident-route policy, retrieval thresholds, freshness depth (default
    :data:`~ragtune.chains.build.DEFAULT_ROUTER_CONFIG`)."""
    search: SearchOptions | None = Field(default=DEFAULT_SEARCH)
    """Retrieval options (k, mode, filters, tenant ...), for the chain and the router's confidence check
    (default :data:`DEFAULT_SEARCH`, as ``ragtune ask``; ``None`` means the default)."""
    rules: tuple[Rule, ...] = ()
    """Keyword/regex overrides checked before the semantic strategy (rules naming a route the
    store cannot run are left out)."""
    llm_router: bool = False
    """Add the llm strategy (on the base model) after the semantic one."""
    semantic: SemanticOptions | None = None
    """Options of the semantic strategy (threshold, k, knn_weight ...)."""
    labelled: SkipValidation[Iterable[Any] | None] = None
    """Labelled queries (``{"query", "route"}`` dicts or pairs) to fit the semantic strategy on before use."""
    prompts: Prompts | None = None
    """Prompt overrides."""
    max_new_tokens: int | None = DEFAULT_MAX_NEW_TOKENS
    """Longest reply of each model call."""
    stale_docs: SkipValidation[StaleDocs | None] = None
    """Freshness hook; default compares the ``finetuned`` entry's snapshot with the index, in the
    tenant the model learned from."""
    prices: SkipValidation[PriceTable | None] = None
    """Price table for cost estimates (default: the packaged one)."""

    @field_validator("config", "search", mode="before")
    @classmethod
    def _default_for_none(cls, value: object, info: object) -> object:
        """``None`` (``build_chain(config=None)``, the old keyword default) is the ``ragtune ask`` default."""
        if value is not None:
            return value
        return DEFAULT_CHAIN_CONFIG if getattr(info, "field_name", "") == "config" else DEFAULT_SEARCH


__all__ = ["DEFAULT_CHAIN_CONFIG", "DEFAULT_MAX_NEW_TOKENS", "DEFAULT_SEARCH", "ChainOptions"]
