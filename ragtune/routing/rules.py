"""Keyword and regex overrides: the first matching rule decides, with full confidence."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.errors import ConfigError
from ragtune.routing.base import RoutingStrategy
from ragtune.routing.decision import RouteDecision
from ragtune.routing.routes import RouteSet


class Rule(BaseModel):
    """Send queries matching ``pattern`` to ``route``.

    ``kind="keyword"`` matches the pattern as a whole word or phrase, case-insensitively;
    ``kind="regex"`` uses it as a Python regular expression (searched, case-insensitive).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    route: str
    pattern: str = Field(min_length=1)
    kind: Literal["keyword", "regex"] = "keyword"

    def compiled(self) -> re.Pattern[str]:
        source = self.pattern if self.kind == "regex" else rf"(?<!\w){re.escape(self.pattern)}(?!\w)"
        return re.compile(source, re.IGNORECASE)


class RulesStrategy(RoutingStrategy):
    """Overrides by keyword or regex; declines (``None``) when no rule matches.

    Example:
        >>> rules = RulesStrategy(routes, [Rule(route="rag", pattern="according to the docs"),
        ...                                Rule(route="direct", pattern=r"^(hi|hello)\\b", kind="regex")])
    """

    name = "rules"

    def __init__(self, routes: RouteSet, rules: Sequence[Rule]) -> None:
        self.routes = routes
        self.rules = list(rules)
        unknown = [r.route for r in self.rules if r.route not in routes]
        if unknown:
            msg = f"Rules name unknown routes {unknown}; known routes: {', '.join(routes.names)}"
            raise ConfigError(msg)
        self._compiled = [(rule, rule.compiled()) for rule in self.rules]

    def _propose(self, query: str) -> RouteDecision | None:
        for rule, pattern in self._compiled:
            if pattern.search(query):
                scores = {name: float(name == rule.route) for name in self.routes.names}
                return RouteDecision(
                    route=rule.route,
                    confidence=1.0,
                    scores=scores,
                    reason=f"rule: {rule.kind} {rule.pattern!r} matched",
                    strategy=self.name,
                )
        return None


__all__ = ["Rule", "RulesStrategy"]
