"""Routes declared in code or in a JSON file.

The file shape, accepted by ``ragtune route --routes FILE`` and ``ragtune ask --routes FILE``::

    {"routes": {"rag": {"description": "...", "examples": ["...", "..."]},
                "finetuned": {...}, "hybrid": {...}}}

A route may also name ``target`` (the chain route it runs, when its name is not one of
``rag``/``finetuned``/``hybrid``/``direct``) and ``threshold`` (its own semantic threshold).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragtune.errors import ConfigError

DEFAULT_ROUTES_RESOURCE = "default_routes.json"


class Route(BaseModel):
    """One route: a name, what it is for, and example queries that belong to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    """What queries this route serves; embedded by the semantic strategy, shown to the llm strategy."""
    examples: tuple[str, ...] = ()
    """Example queries that belong to the route."""
    target: str | None = None
    """The chain route this route runs (defaults to ``name``)."""
    threshold: float | None = None
    """This route's own minimum semantic score (set by ``SemanticStrategy.fit``); ``None`` = the global one."""

    @property
    def runs(self) -> str:
        return self.target or self.name


class RouteSet(BaseModel):
    """An ordered set of routes, by name.

    Example:
        >>> routes = RouteSet.from_file("routes.json")
        >>> routes = RouteSet.of(Route(name="rag", description="questions about our docs", examples=["..."]))
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: dict[str, Route]

    @classmethod
    def of(cls, *routes: Route) -> RouteSet:
        names = [r.name for r in routes]
        if len(set(names)) != len(names):
            msg = f"Route names must be unique; got {names}"
            raise ConfigError(msg)
        return cls(routes={r.name: r for r in routes})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str | None = None) -> RouteSet:
        """Read ``{"routes": {name: {"description", "examples", ...}}}``."""
        where = path or "routes"
        body = data.get("routes") if isinstance(data, Mapping) else None
        if not isinstance(body, Mapping) or not body:
            msg = f'{where}: expected {{"routes": {{"rag": {{"description": ..., "examples": [...]}}, ...}}}}'
            raise ConfigError(msg, path=path)
        routes = []
        for name, spec in body.items():
            if not isinstance(spec, Mapping):
                msg = f"{where}: route {name!r} must be an object with description and examples, got {spec!r}"
                raise ConfigError(msg, path=path)
            try:
                routes.append(Route(name=name, **spec))
            except (ValidationError, TypeError) as exc:
                msg = f"{where}: route {name!r} is invalid ({exc}). Keys: description, examples, target, threshold."
                raise ConfigError(msg, path=path) from exc
        return cls.of(*routes)

    @classmethod
    def from_file(cls, path: str | Path) -> RouteSet:
        """Read a routes JSON file; :class:`~ragtune.errors.ConfigError` names the file on any problem."""
        file = Path(path)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            msg = f"Routes file {file} not found"
            raise ConfigError(msg, path=str(file)) from exc
        except json.JSONDecodeError as exc:
            msg = f"Routes file {file} is not valid JSON: {exc}"
            raise ConfigError(msg, path=str(file)) from exc
        return cls.from_dict(data, path=str(file))

    @classmethod
    def default(cls) -> RouteSet:
        """The routes shipped with ragtune (``rag``, ``finetuned``, ``hybrid``, ``direct``)."""
        text = resources.files("ragtune.routing").joinpath(DEFAULT_ROUTES_RESOURCE).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text), path=DEFAULT_ROUTES_RESOURCE)

    def to_dict(self) -> dict[str, Any]:
        """The JSON file shape (round-trips through :meth:`from_dict`)."""
        return {"routes": {n: r.model_dump(exclude={"name"}, exclude_defaults=True) for n, r in self.routes.items()}}

    def with_thresholds(self, thresholds: Mapping[str, float | None]) -> RouteSet:
        return RouteSet(
            routes={
                n: r.model_copy(update={"threshold": thresholds.get(n, r.threshold)}) for n, r in self.routes.items()
            }
        )

    @property
    def names(self) -> list[str]:
        return list(self.routes)

    def __iter__(self) -> Iterator[Route]:  # type: ignore[override]
        return iter(self.routes.values())

    def __len__(self) -> int:
        return len(self.routes)

    def __contains__(self, name: object) -> bool:
        return name in self.routes

    def __getitem__(self, name: str) -> Route:
        return self.routes[name]


def as_route_set(routes: RouteSet | Sequence[Route] | Mapping[str, Any] | str | Path | None) -> RouteSet:
    """Accept a RouteSet, routes, the JSON shape, a file path, or ``None`` for the defaults."""
    if routes is None:
        return RouteSet.default()
    if isinstance(routes, RouteSet):
        return routes
    if isinstance(routes, (str, Path)):
        return RouteSet.from_file(routes)
    if isinstance(routes, Mapping):
        return RouteSet.from_dict(routes)
    return RouteSet.of(*routes)


__all__ = ["Route", "RouteSet", "as_route_set"]
