"""A workspace ties settings to live objects: embedder, index, cache, registry.

It is the one place that composes the layers, so the CLI, notebooks, chains
and agent tools all open a store the same way::

    with Workspace.open(Settings.load({"store": "my-store"})) as ws:
        hits = ws.searcher().search("what is ragtune?")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ragtune.config import Settings
from ragtune.embeddings.base import Embedder
from ragtune.embeddings.cache import CachedEmbedder, EmbeddingCache
from ragtune.errors import ConfigError, StoreNotFoundError
from ragtune.index.base import Index
from ragtune.retrievers.search import Searcher, SearchOptions

if TYPE_CHECKING:
    from ragtune.index.fingerprint import FingerprintGuard
    from ragtune.llm.registry import ModelRegistry

MANIFEST_NAME = "store.json"
CACHE_NAME = "embeddings.sqlite"
REGISTRY_NAME = "models.json"


@dataclass(frozen=True)
class RecordedEmbedding:
    """The embedding model a store was built with, as the store itself records it."""

    model_id: str
    dim: int


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

    @classmethod
    def open_existing(cls, settings: Settings) -> Workspace:
        """A workspace for reading: refuses a store that was never created, and creates nothing.

        Raises:
            StoreNotFoundError: the embedded store has no record yet; the message says how to create it.
        """
        workspace = cls(settings)
        workspace.require_existing()
        return workspace

    def exists(self) -> bool:
        """Whether the store was created: its record (or an index written before records) is there.

        A Weaviate store lives on the server, so it counts as existing (the server answers for it).
        """
        from ragtune.config import Backend

        if self.settings.backend is not Backend.EMBEDDED:
            return True
        from ragtune.index.embedded.store import DB_FILE

        return (self.store / MANIFEST_NAME).is_file() or (self.store / DB_FILE).is_file()

    def require_existing(self) -> None:
        """Raise :class:`StoreNotFoundError` unless :meth:`exists`; never creates anything."""
        if self.exists():
            return
        state = "does not exist" if not self.store.exists() else f"holds no ragtune store (no {MANIFEST_NAME})"
        msg = (
            f"Store {self.store} {state}. Create it with `ragtune ingest PATHS --store {self.store}`, "
            "or pass the folder you ingested into with --store (or RAGTUNE_STORE)."
        )
        raise StoreNotFoundError(msg, path=str(self.store))

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

        dim = self.embedder.dim if "embedder" in self.__dict__ else None  # None: checked on the first embedding
        return FingerprintGuard(self.index, self._expected_model_id(), dim)

    @cached_property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.store / CACHE_NAME)

    @cached_property
    def cached_embedder(self) -> CachedEmbedder:
        return CachedEmbedder(self.embedder, self.cache)

    @cached_property
    def index(self) -> Index:
        """The store's index, opened with the recorded dimension: no embedding model is loaded."""
        from ragtune.index.factory import open_index

        recorded = self._check_manifest()
        index = self.__dict__["index"] = open_index(self.settings, dim=recorded.dim)
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

    @property
    def registry(self) -> ModelRegistry:
        """The store's model registry (``models.json``): the one place that names its file."""
        from ragtune.llm.registry import ModelRegistry

        return ModelRegistry(self.registry_path)

    def searcher(self, options: SearchOptions | None = None) -> Searcher:
        return Searcher(self.index, self.embedder, options)

    def recorded_embedding(self) -> RecordedEmbedding | None:
        """Model id and dimension from the store's record (``store.json``); ``None`` for a new store."""
        path = self.store / MANIFEST_NAME
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return RecordedEmbedding(model_id=str(data["embedding_model"]), dim=int(data["dim"]))
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"{path} is not a valid store record ({exc}); restore it or ingest into a new --store."
            raise ConfigError(msg, path=str(path)) from exc

    def _expected_model_id(self) -> str:
        if "embedder" in self.__dict__:
            return self.embedder.model_id
        from ragtune.embeddings.factory import embedding_model_id

        return embedding_model_id(self.settings)

    def _check_manifest(self) -> RecordedEmbedding:
        """Refuse to mix embedding models in one store: vectors would be meaningless.

        An existing store is checked against its record by model id alone, so
        opening it loads no model; a new store records the embedder's id and dimension.
        """
        path = self.store / MANIFEST_NAME
        recorded = self.recorded_embedding()
        if recorded is not None:
            expected = self._expected_model_id()
            if recorded.model_id != expected:
                msg = (
                    f"Store {self.store} was built with embedding model {recorded.model_id!r}, "
                    f"not {expected!r}. Use the same --embedding or a new --store."
                )
                raise ConfigError(msg, path=str(path))
            return recorded
        current = RecordedEmbedding(model_id=self.embedder.model_id, dim=self.embedder.dim)
        self.store.mkdir(parents=True, exist_ok=True)
        record = {"embedding_model": current.model_id, "dim": current.dim}
        path.write_text(json.dumps(record, indent=2), encoding="utf-8")
        return current

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


__all__ = ["RecordedEmbedding", "Workspace"]
