"""An in-process Weaviate for tests: the real ``weaviate`` client talks to it.

It speaks Weaviate's REST API (health, meta, schema, tenants) over stdlib
``http.server`` and its gRPC API (``Search``, ``BatchObjects``,
``BatchDelete``, ``TenantsGet``, ``Aggregate``, health check) with the
client's own proto stubs, holding state in memory. Tests can inspect what the
client sent and inject faults::

    server = WeaviateTestServer().start()
    client = weaviate.connect_to_custom("127.0.0.1", server.http_port, False,
                                        "127.0.0.1", server.grpc_port, False)
    server.fail_next("BatchDelete", times=2)            # gRPC UNAVAILABLE twice
    server.fail_next("GET /v1/schema", status=503)      # next matching HTTP call
    server.fail_uuids[str(uuid)] = "disk full"          # per-object batch error
    server.grpc_requests("Search")[-1].hybrid_search.alpha

Anything the client calls that the server does not implement is answered
with 404 / UNIMPLEMENTED and listed in ``server.unimplemented``.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent import futures
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import grpc
from weaviate.proto.v1 import weaviate_pb2_grpc

from ._grpc import WeaviateServicer, health_handler
from ._rest import SERVER_VERSION, RestHandler
from ._store import QUERY_MAXIMUM_RESULTS, Store, WeaviateError


@dataclass
class RecordedCall:
    """One request the server received: ``kind`` is ``http`` or ``grpc``."""

    kind: str
    name: str
    request: Any


@dataclass
class _Fault:
    target: str
    remaining: int
    http_status: int
    grpc_code: grpc.StatusCode


class WeaviateTestServer:
    """REST + gRPC Weaviate on 127.0.0.1, random ports, state in memory."""

    version = SERVER_VERSION

    def __init__(self) -> None:
        self.store = Store()
        self.calls: list[RecordedCall] = []
        self.fail_uuids: dict[str, str] = {}
        """Object uuid -> error message: batch writes of these objects fail per object."""
        self.unimplemented: list[str] = []
        self.query_maximum_results = QUERY_MAXIMUM_RESULTS
        """Weaviate's ``QUERY_MAXIMUM_RESULTS``: caps offset + limit and the objects one batch delete removes."""
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._open_http = 0
        self._http: ThreadingHTTPServer | None = None
        self._grpc: grpc.Server | None = None
        self.http_port = 0
        self.grpc_port = 0

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> WeaviateTestServer:
        handler = type("BoundRestHandler", (RestHandler,), {"server_ref": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self.http_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="weaviate-test-http", daemon=True).start()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="weaviate-test-grpc"))
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(WeaviateServicer(self), self._grpc)
        self._grpc.add_generic_rpc_handlers((health_handler(self),))
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._grpc is not None:
            self._grpc.stop(grace=None)
            self._grpc = None

    def __enter__(self) -> WeaviateTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every class, object, recorded call and pending fault."""
        with self.store.lock, self._lock:
            self.store.classes.clear()
            self.calls.clear()
            self.fail_uuids.clear()
            self.unimplemented.clear()
            self._faults.clear()
            self.query_maximum_results = QUERY_MAXIMUM_RESULTS

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # -- inspection ---------------------------------------------------------------
    def record(self, kind: str, name: str, request: Any) -> None:
        with self._lock:
            self.calls.append(RecordedCall(kind, name, request))

    def grpc_requests(self, method: str) -> list[Any]:
        """Requests received by a gRPC method (``Search``, ``BatchObjects`` ...), oldest first."""
        with self._lock:
            return [c.request for c in self.calls if c.kind == "grpc" and c.name == method]

    def http_requests(self, prefix: str) -> list[RecordedCall]:
        """HTTP calls whose ``"METHOD /path"`` starts with ``prefix``."""
        with self._lock:
            return [c for c in self.calls if c.kind == "http" and c.name.startswith(prefix)]

    @property
    def open_http_connections(self) -> int:
        with self._lock:
            return self._open_http

    def connection_opened(self) -> None:
        with self._lock:
            self._open_http += 1

    def connection_closed(self) -> None:
        with self._lock:
            self._open_http -= 1

    # -- fault injection ------------------------------------------------------------
    def fail_next(
        self,
        target: str,
        times: int = 1,
        *,
        status: int = 503,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
    ) -> None:
        """Fail the next ``times`` calls to ``target``.

        ``target`` is a gRPC method name (``"Search"``), answered with ``code``,
        or ``"METHOD /path-prefix"`` (``"GET /v1/schema"``), answered with HTTP ``status``.
        """
        with self._lock:
            self._faults.append(_Fault(target, times, status, code))

    def clear_faults(self) -> None:
        """Drop pending ``fail_next`` faults and per-object failures: the server answers normally again."""
        with self._lock:
            self._faults.clear()
            self.fail_uuids.clear()

    def take_fault(self, method: str) -> grpc.StatusCode | None:
        fault = self._take(lambda f: f.target == method)
        return fault.grpc_code if fault else None

    def take_http_fault(self, method: str, path: str) -> int | None:
        fault = self._take(lambda f: " " in f.target and f"{method} {path}".startswith(f.target))
        return fault.http_status if fault else None

    def _take(self, match: Any) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and match(fault):
                    fault.remaining -= 1
                    return fault
        return None

    # -- direct state access for assertions ------------------------------------------
    def objects(self, collection: str, tenant: str = "") -> dict[str, dict[str, Any]]:
        """Properties of every object of a collection's shard, by uuid."""
        with self.store.lock:
            cls = self.store.get_class(collection)
            shard = cls.shards.get(tenant)
            return {} if shard is None else {u: dict(o.properties) for u, o in shard.objects.items()}


__all__ = ["RecordedCall", "WeaviateError", "WeaviateTestServer"]
