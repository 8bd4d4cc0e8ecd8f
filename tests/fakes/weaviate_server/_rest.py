"""The REST side of the test server: health, meta, schema and tenants."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ._store import WeaviateError

if TYPE_CHECKING:
    from . import WeaviateTestServer

SERVER_VERSION = "1.32.0"
GRPC_MAX_MESSAGE_SIZE = 104_858_000

Route = Callable[["RestHandler", "re.Match[str]", Any], tuple[int, Any]]
_ROUTES: list[tuple[str, re.Pattern[str], Route]] = []


def route(method: str, pattern: str) -> Callable[[Route], Route]:
    def register(func: Route) -> Route:
        _ROUTES.append((method, re.compile(f"^{pattern}$"), func))
        return func

    return register


class RestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each keep-alive reply waits on the client's delayed ACK
    server_ref: WeaviateTestServer

    def setup(self) -> None:
        super().setup()
        self.server_ref.connection_opened()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server_ref.connection_closed()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        path = unquote(urlsplit(self.path).path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        server = self.server_ref
        server.record("http", f"{method} {path}", body)
        status = server.take_http_fault(method, path)
        if status is not None:
            self._reply(status, {"error": [{"message": f"injected HTTP {status}"}]}, method)
            return
        for route_method, pattern, func in _ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                try:
                    with server.store.lock:
                        code, payload = func(self, match, body)
                except WeaviateError as exc:
                    code, payload = exc.status, {"error": [{"message": exc.message}]}
                self._reply(code, payload, method)
                return
        server.unimplemented.append(f"http {method} {path}")
        self._reply(404, {"error": [{"message": f"{method} {path} is not implemented by the test server"}]}, method)

    def _reply(self, status: int, payload: Any, method: str) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)


# -- routes -------------------------------------------------------------------
@route("GET", r"/v1/\.well-known/(ready|live)")
def _ready(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, None


@route("GET", r"/v1/\.well-known/openid-configuration")
def _oidc(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    return 404, None


@route("GET", r"/v1/meta")
def _meta(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, {
        "hostname": "http://[::]:8080",
        "modules": {},
        "version": SERVER_VERSION,
        "grpcMaxMessageSize": GRPC_MAX_MESSAGE_SIZE,
    }


@route("GET", r"/v1/nodes")
def _nodes(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    node = {"name": "node1", "status": "HEALTHY", "version": SERVER_VERSION, "gitHash": "test", "shards": None}
    return 200, {"nodes": [node]}


@route("GET", r"/v1/schema")
def _schema(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, {"classes": [c.config for c in h.server_ref.store.classes.values()]}


@route("POST", r"/v1/schema")
def _create_class(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, h.server_ref.store.create_class(body)


@route("GET", r"/v1/schema/([^/]+)")
def _get_class(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, h.server_ref.store.get_class(m.group(1)).config


@route("DELETE", r"/v1/schema/([^/]+)")
def _delete_class(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    store = h.server_ref.store
    store.classes.pop(m.group(1)[:1].upper() + m.group(1)[1:], None)
    return 200, None


@route("POST", r"/v1/schema/([^/]+)/properties")
def _add_property(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, h.server_ref.store.add_property(m.group(1), body)


@route("GET", r"/v1/schema/([^/]+)/tenants")
def _get_tenants(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    cls = h.server_ref.store.get_class(m.group(1))
    return 200, [{"name": name, "activityStatus": shard.activity} for name, shard in cls.shards.items()]


@route("POST", r"/v1/schema/([^/]+)/tenants")
def _add_tenants(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    store = h.server_ref.store
    cls = store.get_class(m.group(1))
    for tenant in body:
        store.add_tenant(cls, tenant["name"])
    return 200, [{"name": t["name"], "activityStatus": "HOT"} for t in body]


@route("DELETE", r"/v1/schema/([^/]+)/tenants")
def _delete_tenants(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    cls = h.server_ref.store.get_class(m.group(1))
    for name in body or []:
        cls.shards.pop(name, None)
    return 200, None


@route("GET", r"/v1/schema/([^/]+)/tenants/([^/]+)")
def _get_tenant(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    cls = h.server_ref.store.get_class(m.group(1))
    shard = cls.shards.get(m.group(2))
    if shard is None:
        return 404, None
    return 200, {"name": m.group(2), "activityStatus": shard.activity}


@route("HEAD", r"/v1/schema/([^/]+)/tenants/([^/]+)")
def _head_tenant(h: RestHandler, m: re.Match[str], body: Any) -> tuple[int, Any]:
    cls = h.server_ref.store.get_class(m.group(1))
    return (200 if m.group(2) in cls.shards else 404), None


__all__ = ["GRPC_MAX_MESSAGE_SIZE", "SERVER_VERSION", "RestHandler"]
