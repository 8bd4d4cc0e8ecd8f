"""The Weaviate backend: :class:`WeaviateIndex` through ``weaviate-client`` v4.

Example:
    >>> from ragtune.index.weaviate import WeaviateIndex
    >>> with WeaviateIndex(url="http://localhost:8080", grpc_port=50051, collection="Docs") as index:
    ...     print(index.stats())
"""

from ragtune.index.weaviate._retry import RetryPolicy
from ragtune.index.weaviate._schema import DEFAULT_TENANT
from ragtune.index.weaviate.index import WeaviateIndex

__all__ = ["DEFAULT_TENANT", "RetryPolicy", "WeaviateIndex"]
