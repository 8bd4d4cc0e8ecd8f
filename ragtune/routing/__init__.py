"""Routing between retrieval, a fine-tuned model, both, or neither.

Strategies (:class:`RulesStrategy`, :class:`SemanticStrategy`, :class:`LLMStrategy`) propose a
route; a :class:`Router` stacks them, applies the no-confident-route policy, the freshness hook
and the retrieval-confidence check, and returns a :class:`RouteDecision`. Names load lazily, so
importing this package loads neither numpy-heavy code nor LangChain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragtune._lazy import lazy_getattr

if TYPE_CHECKING:
    from ragtune.routing.decision import CHAIN_ROUTES, DIRECT, FINETUNED, HYBRID, RAG, RouteDecision
    from ragtune.routing.evaluate import LabelledQuery, Regret, RoutingReport, evaluate_router, load_labelled
    from ragtune.routing.fitting import FitReport
    from ragtune.routing.llm import LLMStrategy, RouteChoice
    from ragtune.routing.router import Router, RouterConfig, build_router, retrieval_confidence
    from ragtune.routing.routes import Route, RouteSet, as_route_set
    from ragtune.routing.rules import Rule, RulesStrategy
    from ragtune.routing.semantic import SemanticOptions, SemanticStrategy

_LAZY = {
    "CHAIN_ROUTES": "decision",
    "DIRECT": "decision",
    "FINETUNED": "decision",
    "HYBRID": "decision",
    "RAG": "decision",
    "RouteDecision": "decision",
    "LabelledQuery": "evaluate",
    "Regret": "evaluate",
    "RoutingReport": "evaluate",
    "evaluate_router": "evaluate",
    "load_labelled": "evaluate",
    "FitReport": "fitting",
    "LLMStrategy": "llm",
    "RouteChoice": "llm",
    "Router": "router",
    "RouterConfig": "router",
    "build_router": "router",
    "retrieval_confidence": "router",
    "Route": "routes",
    "RouteSet": "routes",
    "as_route_set": "routes",
    "Rule": "rules",
    "RulesStrategy": "rules",
    "SemanticOptions": "semantic",
    "SemanticStrategy": "semantic",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
__all__ = [
    "CHAIN_ROUTES",
    "DIRECT",
    "FINETUNED",
    "FitReport",
    "HYBRID",
    "LLMStrategy",
    "LabelledQuery",
    "RAG",
    "Regret",
    "Route",
    "RouteChoice",
    "RouteDecision",
    "RouteSet",
    "Router",
    "RouterConfig",
    "RoutingReport",
    "Rule",
    "RulesStrategy",
    "SemanticOptions",
    "SemanticStrategy",
    "as_route_set",
    "build_router",
    "evaluate_router",
    "load_labelled",
    "retrieval_confidence",
]
