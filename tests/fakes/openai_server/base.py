"""The server core: HTTP plumbing, route and extension registries, request log, fault injection.

Routes live in their own modules and register themselves with :func:`route`;
per-server state (a reply script, uploaded files, fine-tuning jobs) registers
with :func:`extension` and is reachable as an attribute of the server::

    @extension("files")
    class FileStore:
        def __init__(self, server): self.files = {}
        def reset(self): self.files.clear()

    @route("GET", "/v1/files/{file_id}")
    def retrieve_file(server, request, file_id):
        if file_id not in server.files.files:
            return error_response(404, f"No such File object: {file_id}", code="not_found")
        return server.files.files[file_id]          # a dict -> 200 JSON

A handler returns a :class:`Response`, a JSON-able ``dict``/``list`` (200), or
``Response(stream=...)`` for server-sent events.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Handler = Callable[..., Any]

_ROUTES: list[Route] = []
_EXTENSIONS: dict[str, Callable[[FakeOpenAIServer], Any]] = {}
_ids = itertools.count(1)

ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", "request_timeout"),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}


def next_id(prefix: str) -> str:
    """A unique, deterministic-looking id such as ``chatcmpl-fake000007``."""
    return f"{prefix}-fake{next(_ids):06d}"


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    """Register ``handler(server, request, **path_params)`` for ``METHOD /path/{param}``."""

    def decorate(handler: Handler) -> Handler:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        _ROUTES.append(Route(method.upper(), template, handler, re.compile(f"^{regex}$")))
        return handler

    return decorate


def extension(name: str) -> Callable[[Any], Any]:
    """Register a per-server state factory ``factory(server)``; reachable as ``server.<name>``.

    The object is rebuilt by :meth:`FakeOpenAIServer.reset` unless it has a ``reset()`` method,
    which is called instead.
    """

    def decorate(factory: Any) -> Any:
        _EXTENSIONS[name] = factory
        return factory

    return decorate


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased header names."""
    body: Any
    """The parsed JSON body, or ``None`` when the body is not JSON."""
    raw: bytes
    time: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        return self.body

    def multipart(self) -> dict[str, tuple[str | None, bytes]]:
        """Parts of a ``multipart/form-data`` body: field name -> (filename, content)."""
        ctype = self.headers.get("content-type", "")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + self.raw
        )
        parts: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            parts[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
        return parts


@dataclass
class Response:
    """What a handler returns: a JSON body, or a stream of server-sent events."""

    status: int = 200
    body: Any = None
    """JSON-able value, or ``bytes`` sent as-is."""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[Any] | None = None
    """SSE events: dicts are sent as ``data: <json>``, strings as ``data: <string>`` (e.g. ``[DONE]``)."""
    content_type: str = "application/json"


def error_response(
    status: int, message: str, *, code: str | None = None, type: str | None = None, param: str | None = None
) -> Response:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    fallback = ("server_error" if status >= 500 else "invalid_request_error", None)
    default_type, default_code = ERROR_TYPES.get(status, fallback)
    body = {"error": {"message": message, "type": type or default_type, "param": param, "code": code or default_code}}
    return Response(status=status, body=body)


@dataclass
class Fault:
    remaining: int
    status: int
    path_prefix: str
    method: str | None
    message: str | None
    code: str | None
    retry_after: float | None
    delay: float = 0.0


class FakeOpenAIServer:
    """An in-process OpenAI API on ``127.0.0.1:<random port>`` for the real ``openai`` client.

    Example:
        >>> with FakeOpenAIServer() as server:
        ...     client = openai.OpenAI(api_key="test", base_url=server.url, max_retries=0)
        ...     server.chat.reply("Paris.")
        ...     client.chat.completions.create(model="gpt-4o-mini", messages=[...]).choices[0].message.content
        'Paris.'

    Args:
        api_key: when set, requests without ``Authorization: Bearer <api_key>`` get 401.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None) -> None:
        self.host = host
        self.api_key = api_key
        self._requested_port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.unimplemented: list[str] = []
        self._faults: list[Fault] = []
        self._extensions: dict[str, Any] = {name: factory(self) for name, factory in _EXTENSIONS.items()}

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        server = self

        class _Handler(_RequestHandler):
            owner = server

        self._httpd = ThreadingHTTPServer((self.host, self._requested_port), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not started; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The ``base_url`` for the openai client: ``http://127.0.0.1:<port>/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    base_url = url

    def reset(self) -> None:
        """Forget requests, faults and extension state (scripts, files, jobs)."""
        with self._lock:
            self.requests.clear()
            self.unimplemented.clear()
            self._faults.clear()
        for name, ext in list(self._extensions.items()):
            if hasattr(ext, "reset"):
                ext.reset()
            else:
                self._extensions[name] = _EXTENSIONS[name](self)

    def __getattr__(self, name: str) -> Any:
        extensions = self.__dict__.get("_extensions", {})
        if name in extensions:
            return extensions[name]
        raise AttributeError(f"FakeOpenAIServer has no attribute or extension {name!r}")

    # -- inspection and faults ------------------------------------------------------------------

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path is ``path`` (``/v1/...`` or without the ``/v1`` prefix)."""
        if not path.startswith("/v1"):
            path = "/v1" + (path if path.startswith("/") else "/" + path)
        return [r for r in self.requests if r.path == path and (method is None or r.method == method.upper())]

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        path_prefix: str = "/v1/",
        *,
        method: str | None = None,
        message: str | None = None,
        code: str | None = None,
        retry_after: float | None = 0.0,
    ) -> None:
        """Answer the next ``n`` requests under ``path_prefix`` with an OpenAI error of ``status``.

        429 responses carry ``Retry-After`` (seconds, rounded up) and ``retry-after-ms`` headers
        from ``retry_after``; pass ``None`` to omit them.
        """
        with self._lock:
            self._faults.append(Fault(n, status, path_prefix, method, message, code, retry_after))

    def delay_next(
        self, n: int = 1, seconds: float = 1.0, path_prefix: str = "/v1/", *, method: str | None = None
    ) -> None:
        """Answer the next ``n`` matching requests only after ``seconds`` (to provoke client timeouts)."""
        with self._lock:
            self._faults.append(Fault(n, 0, path_prefix, method, None, None, None, delay=seconds))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                matches_method = fault.method is None or fault.method.upper() == method
                if fault.remaining > 0 and path.startswith(fault.path_prefix) and matches_method:
                    fault.remaining -= 1
                    return fault
        return None

    # -- dispatch -------------------------------------------------------------------------------

    def _dispatch(self, request: RecordedRequest) -> tuple[Response, float]:
        with self._lock:
            self.requests.append(request)
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return error_response(401, "Incorrect API key provided.", code="invalid_api_key"), 0.0
        fault = self._take_fault(request.method, request.path)
        delay = 0.0
        if fault is not None and fault.status == 0:
            delay = fault.delay
        elif fault is not None:
            message = fault.message or _default_fault_message(fault.status)
            response = error_response(fault.status, message, code=fault.code)
            if fault.status == 429 and fault.retry_after is not None:
                response.headers["Retry-After"] = str(math.ceil(fault.retry_after))
                response.headers["retry-after-ms"] = str(int(fault.retry_after * 1000))
            return response, 0.0
        for candidate in _ROUTES:
            if candidate.method != request.method:
                continue
            match = candidate.pattern.match(request.path)
            if match:
                result = candidate.handler(self, request, **match.groupdict())
                if not isinstance(result, Response):
                    result = Response(body=result)
                return result, delay
        with self._lock:
            self.unimplemented.append(f"{request.method} {request.path}")
        return error_response(404, f"Unknown request URL: {request.method} {request.path}.", code="unknown_url"), delay


def _default_fault_message(status: int) -> str:
    if status == 429:
        return "Rate limit reached for requests. Please try again later."
    if status >= 500:
        return "The server had an error while processing your request. Sorry about that!"
    return f"Injected error {status}."


class _RequestHandler(BaseHTTPRequestHandler):
    owner: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        raw = self._read_body()
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        body: Any = None
        if raw and "json" in headers.get("content-type", "json"):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        request = RecordedRequest(self.command, parts.path, parse_qs(parts.query), headers, body, raw)
        try:
            response, delay = self.owner._dispatch(request)
        except Exception as exc:  # a bug in a handler: answer 500 so the test sees it
            response, delay = error_response(500, f"fake server handler crashed: {exc!r}"), 0.0
        if delay:
            time.sleep(delay)
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            self.close_connection = True

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("x-request-id", next_id("req"))
        for key, value in response.headers.items():
            self.send_header(key, value)
        if response.stream is not None:
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in response.stream:
                data = event if isinstance(event, str) else json.dumps(event)
                self._chunk(f"data: {data}\n\n".encode())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        payload = response.body if isinstance(response.body, bytes) else json.dumps(response.body).encode()
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle


__all__ = [
    "FakeOpenAIServer",
    "RecordedRequest",
    "Response",
    "error_response",
    "extension",
    "next_id",
    "route",
]
