"""LLM routing: a chat model reads the route descriptions and classifies the query.

Models that support structured output (``with_structured_output``, e.g. OpenAI) answer with a
:class:`RouteChoice` directly. Others (the local SmolLM2) are asked for the same JSON object in
plain text, which is parsed leniently: the first JSON object in the reply, else the first route
name mentioned. A reply that names no route is a non-confident decision with the reply quoted
in the reason, never a guess.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, Field, ValidationError

from ragtune.routing.base import RoutingStrategy
from ragtune.routing.decision import RouteDecision
from ragtune.routing.routes import RouteSet

log = logging.getLogger(__name__)

ROUTER_SYSTEM = (
    "You route user questions. Choose exactly one route for the question.\n"
    "Routes:\n{routes}\n\n"
    'Reply with only a JSON object: {{"route": "<route name>", "confidence": <0 to 1>, "reason": "<short reason>"}}.'
)

DEFAULT_ROUTER_PROMPT = ChatPromptTemplate.from_messages([("system", ROUTER_SYSTEM), ("human", "Question: {question}")])
"""The llm strategy's prompt; it receives ``routes`` (one line per route) and ``question``."""


class RouteChoice(BaseModel):
    """The structured reply the model is asked for."""

    route: str = Field(description="Name of the chosen route")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0, description="How sure, from 0 to 1")
    reason: str = Field(default="", description="One short sentence: why this route")


class LLMStrategy(RoutingStrategy):
    """A chat model classifies the query among the routes.

    Args:
        routes: the routes, described to the model with their descriptions and examples.
        model: any LangChain chat model.
        min_confidence: the model's own confidence below which the decision is not confident.
        structured: use ``with_structured_output``; ``None`` (default) tries it and falls back to
            JSON parsing when the model does not support it.
        prompt: override :data:`DEFAULT_ROUTER_PROMPT` (variables ``routes`` and ``question``).
        examples_per_route: how many example queries to show per route.

    Example:
        >>> llm = LLMStrategy(routes, ChatOpenAI(model="gpt-4o-mini"))
        >>> llm.propose("summarise our refund policy").route
        'rag'
    """

    name = "llm"

    def __init__(
        self,
        routes: RouteSet,
        model: BaseChatModel,
        *,
        min_confidence: float = 0.5,
        structured: bool | None = None,
        prompt: ChatPromptTemplate | None = None,
        examples_per_route: int = 2,
    ) -> None:
        self.routes = routes
        self.model = model
        self.min_confidence = min_confidence
        self.prompt = prompt or DEFAULT_ROUTER_PROMPT
        self.examples_per_route = examples_per_route
        self._structured: Any = None
        if structured is not False:
            try:
                self._structured = model.with_structured_output(RouteChoice)
            except (NotImplementedError, ValueError) as exc:
                if structured:
                    raise
                log.debug("%s has no structured output (%s); parsing JSON replies instead", type(model).__name__, exc)

    def describe_routes(self) -> str:
        lines = []
        for route in self.routes:
            line = f"- {route.name}: {route.description or '(no description)'}"
            shown = list(route.examples[: self.examples_per_route])
            if shown:
                line += " Examples: " + "; ".join(json.dumps(e) for e in shown)
            lines.append(line)
        return "\n".join(lines)

    def _propose(self, query: str) -> RouteDecision | None:
        messages = self.prompt.format_messages(routes=self.describe_routes(), question=query)
        if self._structured is not None:
            try:
                reply = self._structured.invoke(messages)
                choice = reply if isinstance(reply, RouteChoice) else RouteChoice.model_validate(reply)
                return self._decision(choice, how="structured output")
            except (ValidationError, ValueError, TypeError) as exc:
                log.debug("structured routing reply unusable (%s); asking for JSON text", exc)
        text = str(self.model.invoke(messages).content)
        parsed = parse_choice(text, self.routes.names)
        if parsed is None:
            first = self.routes.names[0]
            return RouteDecision(
                route=first,
                confidence=0.0,
                scores={n: 0.0 for n in self.routes.names},
                reason=f"llm: reply named no route ({text[:80]!r})",
                strategy=self.name,
                confident=False,
            )
        return self._decision(parsed, how="parsed reply")

    def _decision(self, choice: RouteChoice, *, how: str) -> RouteDecision:
        route = _match_name(choice.route, self.routes.names)
        if route is None:
            return RouteDecision(
                route=self.routes.names[0],
                confidence=0.0,
                scores={n: 0.0 for n in self.routes.names},
                reason=f"llm: unknown route {choice.route!r} in {how}",
                strategy=self.name,
                confident=False,
            )
        confident = choice.confidence >= self.min_confidence
        why = f": {choice.reason}" if choice.reason else ""
        return RouteDecision(
            route=route,
            confidence=choice.confidence,
            scores={n: (choice.confidence if n == route else 0.0) for n in self.routes.names},
            reason=f"llm ({how}) chose {route!r}{why}",
            strategy=self.name,
            confident=confident,
        )


_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)


def _match_name(value: str, names: list[str]) -> str | None:
    wanted = value.strip().strip("\"'`").lower()
    for name in names:
        if name.lower() == wanted:
            return name
    return None


def parse_choice(text: str, names: list[str]) -> RouteChoice | None:
    """The route choice in a free-text reply: a JSON object, else the first route name mentioned."""
    for candidate in _OBJECT.findall(text):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and "route" in data:
            try:
                return RouteChoice(
                    route=str(data["route"]),
                    confidence=min(max(float(data.get("confidence", 1.0)), 0.0), 1.0),
                    reason=str(data.get("reason", "")),
                )
            except (TypeError, ValueError):
                continue
    positions = []
    for name in names:
        match = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE)
        if match:
            positions.append((match.start(), name))
    if not positions:
        return None
    return RouteChoice(route=min(positions)[1], confidence=0.5, reason="route named in a free-text reply")


__all__ = ["DEFAULT_ROUTER_PROMPT", "LLMStrategy", "RouteChoice", "parse_choice"]
