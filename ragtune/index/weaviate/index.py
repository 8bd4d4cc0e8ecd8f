"""``WeaviateIndex``: the :class:`~ragtune.index.base.Index` backend on a Weaviate server.

Layout and tenants (see :mod:`ragtune.index.weaviate._schema`): a chunk
collection and a ``<collection>_docs`` collection, both created with
multi-tenancy and automatic tenant creation. ``tenant=None`` reads and writes
the Weaviate tenant ``"default"`` (so ``tenant="default"`` is the same
tenant); :meth:`tenants` lists the other tenants that hold data. Tenants are
created by the first write to them; reading a tenant that does not exist
gives nothing rather than an error.

Writes go through ``insert_many`` (gRPC batch, upsert by uuid5 of the id);
per-object failures raise :class:`~ragtune.errors.BatchWriteError` with the
failed ids. Transient faults are retried (:class:`RetryPolicy`); anything else
raises :class:`~ragtune.errors.IndexBackendError` at once.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
import weaviate
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter
from weaviate.collections.classes.config import CollectionConfig
from weaviate.collections.classes.filters import FilterReturn
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateInsertManyAllFailedError

from ragtune.errors import BatchWriteError, ConfigError, IndexBackendError
from ragtune.filters import FilterExpr
from ragtune.index.base import Index, SearchRequest, run_in_thread
from ragtune.index.fingerprint import Fingerprint
from ragtune.index.weaviate import _schema as layout
from ragtune.index.weaviate._async import BackgroundLoop
from ragtune.index.weaviate._connect import Endpoint
from ragtune.index.weaviate._filters import unknown_fields
from ragtune.index.weaviate._query import plan_search, to_hits
from ragtune.index.weaviate._retry import RetryPolicy, typed_errors
from ragtune.schema import Chunk, DocumentState, Hit, IndexStats, SearchMode

T = TypeVar("T")
_COLLECTION_NAME = re.compile(r"^[A-Z][_0-9A-Za-z]*$")
ID_BATCH = 500
"""Ids per filter when fetching or deleting by id."""
CONNECT_ATTEMPTS = 3
"""Most tries to connect, sync or async (fewer if the policy allows fewer): an unreachable server fails fast."""


class WeaviateIndex(Index):
    """Chunks in a Weaviate collection, searched with ``near_vector``, ``bm25`` and ``hybrid``.

    Args:
        url: Weaviate's HTTP endpoint, ``https://`` for TLS, or ``embedded://`` to start
            embedded Weaviate (downloads the server on first use).
        grpc_port: Weaviate's gRPC port on the same host (``grpc-<host>`` on Weaviate Cloud).
        api_key: API key for Weaviate Cloud or a secured server.
        collection: Name of the chunk collection; document states go to ``<collection>_docs``.
        client: A connected ``weaviate.WeaviateClient`` to use instead of connecting; the
            caller keeps ownership (``close()`` leaves it open) and async search runs in a thread.
        dim: Expected vector dimension; writes and queries of another length are refused.
        grpc_host: gRPC host when it differs from the HTTP host.
        retry: How transient faults (connection errors, 5xx, gRPC ``UNAVAILABLE``) are retried.
        batch_size: Objects per ``insert_many`` call.

    Raises:
        ConfigError: A bad URL or collection name, or a collection without multi-tenancy.
        TransientIndexError: The server did not answer.

    Example:
        >>> with WeaviateIndex(url="http://localhost:8080", grpc_port=50051) as index:
        ...     hits = index.search(SearchRequest(query_text="gene expression", mode="bm25"))
    """

    name = "weaviate"
    supports_tenants = True
    has_native_async = True

    def __init__(
        self,
        url: str = "http://localhost:8080",
        grpc_port: int = 50051,
        api_key: str | None = None,
        collection: str = "Ragtune",
        *,
        client: weaviate.WeaviateClient | None = None,
        dim: int | None = None,
        grpc_host: str | None = None,
        retry: RetryPolicy | None = None,
        batch_size: int = 200,
    ) -> None:
        collection = collection[:1].upper() + collection[1:]
        if not _COLLECTION_NAME.match(collection):
            msg = f"Invalid Weaviate collection name {collection!r}: use letters, digits and _, starting with a letter"
            raise ConfigError(msg)
        self.collection = collection
        self.docs_collection = layout.docs_collection_name(collection)
        self.dim = dim
        self._retry = retry or RetryPolicy()
        self._batch_size = batch_size
        self._lock = threading.RLock()
        self._closed = False
        self._types: dict[str, str] = {}
        self._tenants_seen: dict[str, set[str]] = {self.collection: set(), self.docs_collection: set()}
        self._async_client: weaviate.WeaviateAsyncClient | None = None
        self._background: BackgroundLoop | None = None
        self._async_lock = asyncio.Lock()  # binds to the background loop on first use
        self._owns_client = client is None
        if client is None:
            self._endpoint: Endpoint | None = Endpoint.parse(url, grpc_port, grpc_host=grpc_host, api_key=api_key)
            endpoint = self._endpoint
            self._client = self._call(f"connect to {endpoint.url}", endpoint.connect, attempts=self._connect_attempts)
        else:
            self._endpoint = None
            self._client = client
            self.has_native_async = False
        try:
            self._ensure_collections()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        where = self._endpoint.url if self._endpoint else "client"
        return f"WeaviateIndex({where!r}, collection={self.collection!r})"

    # -- plumbing ------------------------------------------------------------------
    @property
    def _connect_attempts(self) -> int:
        return min(CONNECT_ATTEMPTS, self._retry.attempts)

    def _policy(self, action: str, attempts: int | None) -> RetryPolicy:
        """The retry policy of one call (``attempts`` overrides the index's); a closed index refuses the call."""
        if self._closed:
            raise IndexBackendError(f"Weaviate {action}: the index is closed; open a new WeaviateIndex")
        return self._retry if attempts is None else replace(self._retry, attempts=attempts)

    def _call(self, action: str, func: Callable[..., T], *args: Any, attempts: int | None = None, **kwargs: Any) -> T:
        """Run one client call with retries on transient faults; errors come out typed."""
        policy = self._policy(action, attempts)
        with typed_errors(action):
            for attempt in policy.retrying(action):
                with attempt:
                    return func(*args, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _acall(
        self, action: str, func: Callable[..., Awaitable[T]], *args: Any, attempts: int | None = None, **kwargs: Any
    ) -> T:
        """The async twin of :meth:`_call`: the same policy, attempts and typed errors."""
        policy = self._policy(action, attempts)
        with typed_errors(action):
            async for attempt in policy.aretrying(action):
                with attempt:
                    return await func(*args, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    def _ensure_collections(self) -> None:
        for name, properties, vectors in (
            (self.collection, layout.chunk_properties(), True),
            (self.docs_collection, layout.document_properties(), False),
        ):
            if not self._call(f"check collection {name}", self._client.collections.exists, name):
                create_kwargs = layout.collection_config(name, properties, vectors=vectors)
                try:
                    self._call(f"create collection {name}", self._client.collections.create, **create_kwargs)
                except IndexBackendError:
                    # Another process may have created it in the meantime.
                    if not self._client.collections.exists(name):
                        raise
        config = self._read_config()
        if not config.multi_tenancy_config.enabled:
            msg = (
                f"Weaviate collection {self.collection!r} exists without multi-tenancy, which ragtune needs. "
                "Pick another --collection or delete that collection."
            )
            raise ConfigError(msg)
        if layout.VECTOR_NAME not in (config.vector_config or {}):
            msg = (
                f"Weaviate collection {self.collection!r} has no vector named {layout.VECTOR_NAME!r}; "
                "pick another --collection."
            )
            raise ConfigError(msg)
        types = layout.schema_types(config.properties)
        missing = [p for p in layout.REQUIRED_CHUNK_PROPERTIES if p not in types]
        if missing:
            msg = (
                f"Weaviate collection {self.collection!r} exists but was not created by ragtune: it lacks the "
                f"properties {missing}. Pick another --collection; ragtune leaves this one untouched."
            )
            raise ConfigError(msg)
        with self._lock:
            self._types = types

    def _read_config(self) -> CollectionConfig:
        config = self._client.collections.use(self.collection).config
        return self._call("read the collection config", lambda: config.get(simple=False))

    def _refresh_types(self) -> None:
        self._set_types(self._read_config())

    def _set_types(self, config: CollectionConfig) -> None:
        with self._lock:
            self._types = layout.schema_types(config.properties)

    def _stale_types(self, expr: FilterExpr | None) -> bool:
        """Whether the filter names a field the cached schema lacks (another writer may have added it since)."""
        return expr is not None and bool(unknown_fields(expr, self._types))

    @staticmethod
    def _tenant(tenant: str | None) -> str:
        if tenant is None:
            return layout.DEFAULT_TENANT
        if not isinstance(tenant, str) or not layout.TENANT_NAME.match(tenant):
            msg = f"Invalid tenant {tenant!r}: Weaviate tenant names are 1-64 letters, digits, '-' or '_'"
            raise ConfigError(msg)
        return tenant

    def _known_tenant(self, collection: str, tenant: str) -> bool:
        """Whether the tenant is known to exist (the cache only; no lookup)."""
        with self._lock:
            return tenant in self._tenants_seen[collection]

    def _note_tenant(self, collection: str, tenant: str) -> None:
        with self._lock:
            self._tenants_seen[collection].add(tenant)

    def _has_tenant(self, collection: str, tenant: str) -> bool:
        """Whether the tenant exists (a cached yes, else one lookup)."""
        if self._known_tenant(collection, tenant):
            return True
        tenants = self._client.collections.use(collection).tenants
        if self._call(f"look up tenant {tenant!r}", tenants.exists, tenant):
            self._note_tenant(collection, tenant)
            return True
        return False

    def _all_tenants(self, collection: str) -> list[str]:
        found = set(self._call("list tenants", self._client.collections.use(collection).tenants.get))
        found.discard(layout.FINGERPRINT_TENANT)
        with self._lock:
            self._tenants_seen[collection].update(found)
        return sorted(found)

    def _check_dim(self, width: int, what: str) -> None:
        if self.dim is not None and width != self.dim:
            raise ConfigError(f"{what} has dimension {width}, but this index holds {self.dim}-dimensional vectors")

    # -- writes ---------------------------------------------------------------------
    def _replace_document(
        self, state: DocumentState, chunks: list[Chunk], vectors: np.ndarray, tenant: str | None
    ) -> None:
        failed = self._write_documents([(state, chunks, vectors)], tenant)
        if failed:
            first_id, first_error = next(iter(failed.items()))
            msg = (
                f"{len(failed)} of {len(chunks)} chunks of document {state.doc_id!r} could not be written to "
                f"Weaviate collection {self.collection!r}; {first_id}: {first_error}. The document stays recorded "
                "in its old version and the next sync retries it."
            )
            raise BatchWriteError(msg, failed=failed)

    def put_documents(
        self, items: Sequence[tuple[DocumentState, Sequence[Chunk], np.ndarray]], *, tenant: str | None = None
    ) -> None:
        """Write many documents in shared batches; documents with a refused chunk are not recorded."""
        checked = []
        for state, chunks, vectors in items:
            if len(chunks) != len(vectors):
                msg = f"{len(chunks)} chunks but {len(vectors)} vectors for document {state.doc_id!r}"
                raise ConfigError(msg)
            checked.append((state, list(chunks), np.asarray(vectors, dtype=np.float32)))
        failed = self._write_documents(checked, tenant)
        if failed:
            first_id, first_error = next(iter(failed.items()))
            msg = (
                f"{len(failed)} chunks could not be written to Weaviate collection {self.collection!r}; "
                f"{first_id}: {first_error}"
            )
            raise BatchWriteError(msg, failed=failed)

    def _write_documents(
        self, items: list[tuple[DocumentState, list[Chunk], np.ndarray]], tenant: str | None
    ) -> dict[str, str]:
        """New chunks first, then stale chunks of the written documents, then their states.

        Returns the chunks Weaviate refused (id -> its message); a document with a refused chunk
        keeps its old chunks and old state, so it stays whole and the next sync retries it.
        """
        name = self._tenant(tenant)
        for state, chunks, vectors in items:
            if len(chunks):
                self._check_dim(vectors.shape[1], f"document {state.doc_id!r}")
        generation = uuid.uuid4().hex
        objects: list[DataObject[Any, Any]] = []
        ids: list[str] = []
        owner: dict[str, str] = {}
        for state, chunks, vectors in items:
            for chunk, row in zip(chunks, vectors, strict=True):
                objects.append(
                    DataObject(
                        properties=layout.chunk_to_properties(chunk, generation),
                        uuid=layout.chunk_uuid(chunk.id),
                        vector={layout.VECTOR_NAME: row.tolist()},
                    )
                )
                ids.append(chunk.id)
                owner[chunk.id] = state.doc_id
        self._ensure_meta_properties(c for _, chunks, _ in items for c in chunks)
        collection = self._client.collections.use(self.collection).with_tenant(name)
        failed: dict[str, str] = {}
        for start in range(0, len(objects), self._batch_size):
            batch = slice(start, start + self._batch_size)
            failed.update(self._insert(collection, objects[batch], ids[batch], name, raise_partial=False))
        if objects:
            with self._lock:
                self._tenants_seen[self.collection].add(name)
        bad_docs = {owner[c] for c in failed}
        done = [state for state, _, _ in items if state.doc_id not in bad_docs]
        if done and self._has_tenant(self.collection, name):
            for start in range(0, len(done), ID_BATCH):
                doc_ids = [s.doc_id for s in done[start : start + ID_BATCH]]
                stale = Filter.by_property("doc_id").contains_any(doc_ids) & Filter.by_property("generation").not_equal(
                    generation
                )
                self._delete_where(collection, stale, f"delete stale chunks of {len(doc_ids)} documents")
        docs = self._client.collections.use(self.docs_collection).with_tenant(name)
        records: list[DataObject[Any, Any]] = [
            DataObject(properties=layout.state_to_properties(s), uuid=layout.document_uuid(s.doc_id)) for s in done
        ]
        for start in range(0, len(records), self._batch_size):
            batch = slice(start, start + self._batch_size)
            self._insert(docs, records[batch], [s.doc_id for s in done[batch]], name)
        if records:
            with self._lock:
                self._tenants_seen[self.docs_collection].add(name)
        return failed

    def _ensure_meta_properties(self, chunks: Iterable[Chunk]) -> None:
        """Add the ``meta_*`` properties these chunks need before writing them."""
        needed: dict[str, Any] = {}
        for chunk in chunks:
            for prop, (data_type, _) in layout.meta_properties(chunk.metadata).items():
                if prop not in self._types:
                    needed[prop] = data_type
        if not needed:
            return
        config = self._client.collections.use(self.collection).config
        for prop, data_type in needed.items():
            try:
                self._call(f"add property {prop}", config.add_property, layout.meta_property_config(prop, data_type))
            except IndexBackendError as exc:
                if not isinstance(exc.__cause__, UnexpectedStatusCodeError):
                    raise
                self._refresh_types()  # most likely added by another writer just now
                if prop not in self._types:
                    raise
        self._refresh_types()

    def _insert(
        self,
        collection: Any,
        objects: list[DataObject[Any, Any]],
        ids: list[str],
        tenant: str,
        *,
        raise_partial: bool = True,
    ) -> dict[str, str]:
        """Batch-write ``objects``; per-object failures raise, or come back by id with ``raise_partial=False``."""
        where = f"Weaviate collection {collection.name!r} (tenant {tenant!r})"

        def insert() -> Any:
            try:
                return collection.data.insert_many(objects)
            except WeaviateInsertManyAllFailedError as exc:
                if not raise_partial:
                    return {i: exc.message for i in ids}
                msg = f"None of {len(objects)} objects could be written to {where}: {exc.message}"
                raise BatchWriteError(msg, failed={i: exc.message for i in ids}) from exc

        result = self._call(f"write to {where}", insert)
        if isinstance(result, dict):
            return result
        if result.errors:
            failed = {ids[index]: error.message for index, error in result.errors.items()}
            if not raise_partial:
                return failed
            first_id, first_error = next(iter(failed.items()))
            msg = f"{len(failed)} of {len(objects)} objects could not be written to {where}; {first_id}: {first_error}"
            raise BatchWriteError(msg, failed=failed)
        return {}

    def _delete_where(self, collection: Any, where: FilterReturn, action: str) -> int:
        """Delete every match, page by page (Weaviate caps one batch delete), returning the count."""
        deleted = 0
        while True:
            result = self._call(action, collection.data.delete_many, where=where)
            if result.failed:
                raise IndexBackendError(f"Weaviate {action}: {result.failed} of {result.matches} objects not deleted")
            deleted += result.successful
            if result.matches == 0 or result.successful == 0:
                return deleted

    def _delete_documents(self, doc_ids: list[str], tenant: str | None) -> int:
        name = self._tenant(tenant)
        deleted = 0
        for start in range(0, len(doc_ids), ID_BATCH):
            batch = doc_ids[start : start + ID_BATCH]
            where = Filter.by_property("doc_id").contains_any(batch)
            if self._has_tenant(self.collection, name):
                chunks = self._client.collections.use(self.collection).with_tenant(name)
                deleted += self._delete_where(chunks, where, "delete chunks")
            if self._has_tenant(self.docs_collection, name):
                docs = self._client.collections.use(self.docs_collection).with_tenant(name)
                self._delete_where(docs, where, "delete document states")
        return deleted

    def _delete_chunks(self, chunk_ids: list[str], tenant: str | None) -> int:
        name = self._tenant(tenant)
        if not self._has_tenant(self.collection, name):
            return 0
        collection = self._client.collections.use(self.collection).with_tenant(name)
        deleted = 0
        for start in range(0, len(chunk_ids), ID_BATCH):
            where = Filter.by_property("chunk_id").contains_any(chunk_ids[start : start + ID_BATCH])
            deleted += self._delete_where(collection, where, "delete chunks by id")
        return deleted

    def _write_fingerprint(self, fingerprint: Fingerprint) -> Fingerprint:
        stored = self._read_fingerprint()
        if stored is not None:
            return stored
        docs = self._client.collections.use(self.docs_collection).with_tenant(layout.FINGERPRINT_TENANT)
        record: DataObject[Any, Any] = DataObject(
            properties={
                "doc_id": layout.FINGERPRINT_ID,
                "source": fingerprint.model_dump_json(),
                "doc_hash": "",
                "chunk_ids": [],
            },
            uuid=layout.document_uuid(layout.FINGERPRINT_ID),
        )
        self._insert(docs, [record], [layout.FINGERPRINT_ID], layout.FINGERPRINT_TENANT)
        return self._read_fingerprint() or fingerprint

    # -- reads ----------------------------------------------------------------------
    def _read_fingerprint(self) -> Fingerprint | None:
        if not self._has_tenant(self.docs_collection, layout.FINGERPRINT_TENANT):
            return None
        docs = self._client.collections.use(self.docs_collection).with_tenant(layout.FINGERPRINT_TENANT)
        result = self._call(
            "read the embedding fingerprint",
            docs.query.fetch_objects,
            filters=Filter.by_id().equal(layout.document_uuid(layout.FINGERPRINT_ID)),
            limit=1,
        )
        if not result.objects:
            return None
        return Fingerprint.model_validate_json(str(result.objects[0].properties["source"]))

    def _export_chunks(self, tenant: str | None) -> Iterator[tuple[Chunk, np.ndarray]]:
        name = self._tenant(tenant)
        if not self._has_tenant(self.collection, name):
            return
        collection = self._client.collections.use(self.collection).with_tenant(name)
        iterator = collection.iterator(include_vector=True, return_properties=["chunk_json", "text", "search_text"])
        for obj in iterator:
            raw = obj.vector.get(layout.VECTOR_NAME) if isinstance(obj.vector, dict) else obj.vector
            yield layout.chunk_as_stored(obj.properties), np.asarray(raw or [], dtype=np.float32)

    def _documents(self, tenant: str | None) -> dict[str, DocumentState]:
        name = self._tenant(tenant)
        if not self._has_tenant(self.docs_collection, name):
            return {}
        docs = self._client.collections.use(self.docs_collection).with_tenant(name)

        def read_all() -> dict[str, DocumentState]:
            states = (layout.state_from_properties(o.properties) for o in docs.iterator())
            return {s.doc_id: s for s in states}

        return self._call("list documents", read_all)

    def _get_chunks(self, chunk_ids: list[str], tenant: str | None) -> list[Chunk]:
        name = self._tenant(tenant)
        if not chunk_ids or not self._has_tenant(self.collection, name):
            return []
        collection = self._client.collections.use(self.collection).with_tenant(name)
        found: dict[str, Chunk] = {}
        wanted = list(dict.fromkeys(chunk_ids))
        for start in range(0, len(wanted), ID_BATCH):
            uuids = [layout.chunk_uuid(c) for c in wanted[start : start + ID_BATCH]]
            result = self._call(
                "fetch chunks",
                collection.query.fetch_objects,
                filters=Filter.by_id().contains_any(uuids),
                limit=len(uuids),
                return_properties=["chunk_json"],
            )
            for obj in result.objects:
                chunk = layout.chunk_from_properties(obj.properties)
                found[chunk.id] = chunk
        return [found[c] for c in chunk_ids if c in found]

    def _count(self, collection: str, tenant: str) -> int:
        if not self._has_tenant(collection, tenant):
            return 0
        aggregate = self._client.collections.use(collection).with_tenant(tenant).aggregate
        result = self._call("count objects", aggregate.over_all, total_count=True)
        return int(result.total_count or 0)

    def _stats(self, tenant: str | None) -> IndexStats:
        if tenant is not None:
            name = self._tenant(tenant)
            return IndexStats(
                documents=self._count(self.docs_collection, name), chunks=self._count(self.collection, name)
            )
        names = sorted(set(self._all_tenants(self.collection)) | set(self._all_tenants(self.docs_collection)))
        counts = {n: (self._count(self.docs_collection, n), self._count(self.collection, n)) for n in names}
        holding = {n: c for n, c in counts.items() if c[0] or c[1]}
        breakdown: dict[str, dict[str, int]] = {}
        if any(n != layout.DEFAULT_TENANT for n in holding):
            breakdown = {
                ("" if n == layout.DEFAULT_TENANT else n): {"documents": d, "chunks": c}
                for n, (d, c) in holding.items()
            }
        return IndexStats(
            documents=sum(d for d, _ in holding.values()), chunks=sum(c for _, c in holding.values()), tenants=breakdown
        )

    def _tenants(self) -> list[str]:
        names = set(self._all_tenants(self.collection)) | set(self._all_tenants(self.docs_collection))
        named = sorted(names - {layout.DEFAULT_TENANT})
        return [n for n in named if self._count(self.collection, n) or self._count(self.docs_collection, n)]

    def _query_vector(self, request: SearchRequest) -> np.ndarray | None:
        if request.mode is SearchMode.BM25 or request.query_vector is None:
            return None
        vector = np.asarray(request.query_vector, dtype=np.float32).ravel()
        self._check_dim(len(vector), "The query vector")
        return vector

    def _search(self, request: SearchRequest) -> list[Hit]:
        name = self._tenant(request.tenant)
        vector = self._query_vector(request)
        if not self._has_tenant(self.collection, name):
            return []
        if self._stale_types(request.filters):
            self._refresh_types()
        plan = plan_search(request, vector, self._types)
        if plan is None:
            return []
        query = self._client.collections.use(self.collection).with_tenant(name).query
        result = self._call(f"{request.mode.value} search", getattr(query, plan.method), **plan.kwargs)
        return to_hits(request, vector, result.objects)

    async def _asearch(self, request: SearchRequest) -> list[Hit]:
        name = self._tenant(request.tenant)
        vector = self._query_vector(request)
        with self._lock:
            if self._closed:
                raise IndexBackendError("Weaviate async search: the index is closed; open a new WeaviateIndex")
            if self._background is None:
                self._background = BackgroundLoop()
            background = self._background
        return await background.run(self._asearch_in_background(request, name, vector))

    async def _asearch_in_background(self, request: SearchRequest, name: str, vector: np.ndarray | None) -> list[Hit]:
        """The async search proper, on the background loop that owns the async client."""
        client = await self._aclient()
        collection = client.collections.use(self.collection)
        if not self._known_tenant(self.collection, name):
            if not await self._acall(f"look up tenant {name!r}", collection.tenants.exists, name):
                return []
            self._note_tenant(self.collection, name)
        if self._stale_types(request.filters):
            self._set_types(await self._acall("read the collection config", collection.config.get))
        plan = plan_search(request, vector, self._types)
        if plan is None:
            return []
        query = collection.with_tenant(name).query
        result = await self._acall(f"{request.mode.value} search", getattr(query, plan.method), **plan.kwargs)
        return to_hits(request, vector, result.objects)

    async def _aclient(self) -> weaviate.WeaviateAsyncClient:
        """The async client, connected once however many searches start together."""
        async with self._async_lock:
            if self._async_client is None:
                assert self._endpoint is not None
                action = f"connect to {self._endpoint.url}"
                self._async_client = await self._acall(action, self._aconnect, attempts=self._connect_attempts)
            return self._async_client

    async def _aconnect(self) -> weaviate.WeaviateAsyncClient:
        """One try: a fresh async client (as each sync try is), closed again when it cannot connect.

        Reusing one client across tries would leave the connections of every failed try but the last open.
        """
        assert self._endpoint is not None
        client = self._endpoint.async_client()
        try:
            await client.connect()
        except BaseException:
            await client.close()
            raise
        return client

    # -- lifecycle -------------------------------------------------------------------
    def drop(self) -> None:
        """Delete both collections with every tenant and object in them, then close the index."""
        self._call("delete collections", self._client.collections.delete, [self.collection, self.docs_collection])
        self.close()

    def close(self) -> None:
        """Close every connection this index opened (the async client too); safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            background, self._background = self._background, None
        if background is not None:
            client, self._async_client = self._async_client, None
            try:
                if client is not None:
                    background.run_sync(client.close())
            finally:
                background.stop()
        if self._owns_client and getattr(self, "_client", None) is not None:
            self._client.close()

    async def aclose(self) -> None:
        """:meth:`close` for async code: waits for the async client's shutdown without blocking the loop."""
        background, client = self._background, self._async_client
        if background is not None and client is not None:
            self._async_client = None
            await background.run(client.close())
        await run_in_thread(self.close)

    async def __aenter__(self) -> WeaviateIndex:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


__all__ = ["RetryPolicy", "WeaviateIndex"]
