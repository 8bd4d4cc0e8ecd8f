"""A workspace ties settings to live objects: embedder, index, cache, registry.

It is the one place that composes the layers, so the CLI, notebooks, chains
and agent tools all open a store the same way::

    with Workspace.open(Settings.load({"store": "my-store"})) as ws:
        hits = ws.searcher().search("what is ragtune?")
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ragtune.config import Settings
from ragtune.embeddings.base import Embedder
from ragtune.embeddings.cache import CachedEmbedder, EmbeddingCache
from ragtune.errors import ConfigError
from ragtune.index.base import Index
from ragtune.retrievers.search import Searcher, SearchOptions

if TYPE_CHECKING:
    from ragtune.index.fingerprint import FingerprintGuard

MANIFEST_NAME = "store.json"
CACHE_NAME = "embeddings.sqlite"
REGISTRY_NAME = "models.json"


class Workspace:
    """Lazily opened embedder and index for one store folder."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None, index: Index | None = None) -> None:
        self.settings = settings
        self.store = Path(settings.store)
        if embedder is not None:
            self.__dict__["embedder"] = self._verified(embedder)
        if index is not None:
            self.__dict__["index"] = index

    @classmethod
    def open(cls, settings: Settings | None = None, **overrides: Any) -> Workspace:
        return cls(settings or Settings.load(overrides))

    @cached_property
    def embedder(self) -> Embedder:
        from ragtune.embeddings.factory import make_embedder

        return self._verified(make_embedder(self.settings))

    def _verified(self, embedder: Embedder) -> Embedder:
        """Integrity hook: the first embedding checks the index's canary vectors (ragtune.index.fingerprint)."""
        from ragtune.index.fingerprint import VerifiedEmbedder

        return VerifiedEmbedder(embedder, lambda: self.fingerprint_guard)

    @cached_property
    def fingerprint_guard(self) -> FingerprintGuard:
        """Integrity hook: refuses an index built with another model id or dimension (no model loaded)."""
        from ragtune.index.fingerprint import FingerprintGuard

        return FingerprintGuard(self.index, self.embedder.model_id, self.embedder.dim)

    @cached_property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.store / CACHE_NAME)

    @cached_property
    def cached_embedder(self) -> CachedEmbedder:
        return CachedEmbedder(self.embedder, self.cache)

    @cached_property
    def index(self) -> Index:
        from ragtune.index.factory import open_index

        self._check_manifest()
        index = self.__dict__["index"] = open_index(self.settings, dim=self.embedder.dim)
        try:
            self.fingerprint_guard  # noqa: B018 - integrity hook: the cheap fingerprint check at open
        except BaseException:
            del self.__dict__["index"]
            index.close()
            raise
        return index

    @property
    def registry_path(self) -> Path:
        return self.store / REGISTRY_NAME

    def searcher(self, options: SearchOptions | None = None) -> Searcher:
        return Searcher(self.index, self.embedder, options)

    def _check_manifest(self) -> None:
        """Refuse to mix embedding models in one store: vectors would be meaningless."""
        path = self.store / MANIFEST_NAME
        current = {"embedding_model": self.embedder.model_id, "dim": self.embedder.dim}
        if path.is_file():
            recorded = json.loads(path.read_text(encoding="utf-8"))
            if recorded.get("embedding_model") != current["embedding_model"]:
                msg = (
                    f"Store {self.store} was built with embedding model {recorded.get('embedding_model')!r}, "
                    f"not {current['embedding_model']!r}. Use the same --embedding or a new --store."
                )
                raise ConfigError(msg, path=str(path))
            return
        self.store.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=2), encoding="utf-8")

    def close(self) -> None:
        if "index" in self.__dict__:
            self.index.close()
        if "cache" in self.__dict__:
            self.cache.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["Workspace"]
