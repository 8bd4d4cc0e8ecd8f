"""Open the index backend named by settings."""

from __future__ import annotations

from ragtune.config import Backend, Settings
from ragtune.index.base import Index


def open_index(settings: Settings, *, dim: int | None = None) -> Index:
    """The embedded store in ``settings.store`` or a Weaviate collection, ready to use."""
    if settings.backend is Backend.WEAVIATE:
        from ragtune.index.weaviate import WeaviateIndex

        return WeaviateIndex(
            url=settings.weaviate_url,
            grpc_port=settings.weaviate_grpc_port,
            api_key=settings.secret("weaviate_api_key"),
            collection=settings.collection,
            dim=dim,
        )
    from ragtune.index.embedded import EmbeddedIndex

    return EmbeddedIndex(settings.store, dim=dim)


__all__ = ["open_index"]
