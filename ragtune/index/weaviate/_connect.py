"""Where the Weaviate server is and how to open sync and async clients to it."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import weaviate
from weaviate.auth import Auth

from ragtune.errors import ConfigError, TransientIndexError

_CLOUD_SUFFIXES = (".weaviate.cloud", ".weaviate.network")
GRPC_CHECK_TIMEOUT = 5.0
"""Seconds the gRPC port gets to answer before connecting fails."""


@dataclass(frozen=True)
class Endpoint:
    """HTTP and gRPC addresses of one Weaviate server (``embedded`` for embedded Weaviate)."""

    http_host: str
    http_port: int
    http_secure: bool
    grpc_host: str
    grpc_port: int
    api_key: str | None = None
    embedded: bool = False

    @classmethod
    def parse(cls, url: str, grpc_port: int, *, grpc_host: str | None = None, api_key: str | None = None) -> Endpoint:
        """Split ``http(s)://host:port`` (or ``embedded://``) into the client's connection parameters.

        The gRPC host defaults to the HTTP host, or ``grpc-<host>`` on Weaviate Cloud.
        """
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme == "embedded":
            return cls("127.0.0.1", parts.port or 8079, False, "127.0.0.1", grpc_port, api_key, embedded=True)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = f"Invalid Weaviate URL {url!r}: expected http://host:port, https://host or embedded://"
            raise ConfigError(msg)
        secure = parts.scheme == "https"
        host = parts.hostname
        if grpc_host is None:
            grpc_host = f"grpc-{host}" if host.endswith(_CLOUD_SUFFIXES) else host
        return cls(host, parts.port or (443 if secure else 80), secure, grpc_host, grpc_port, api_key)

    @property
    def url(self) -> str:
        return f"{'https' if self.http_secure else 'http'}://{self.http_host}:{self.http_port}"

    def _kwargs(self) -> dict[str, object]:
        return {
            "http_host": self.http_host,
            "http_port": self.http_port,
            "http_secure": self.http_secure,
            "grpc_host": self.grpc_host,
            "grpc_port": self.grpc_port,
            "grpc_secure": self.http_secure,
            "auth_credentials": Auth.api_key(self.api_key) if self.api_key else None,
            # The init checks ping PyPI for a newer client; the gRPC port is checked in connect() instead.
            "skip_init_checks": True,
        }

    def connect(self) -> weaviate.WeaviateClient:
        """A connected sync client; raises :class:`TransientIndexError` when the server does not answer."""
        if self.embedded:
            return weaviate.connect_to_embedded(port=self.http_port, grpc_port=self.grpc_port)
        self.check_grpc()
        return weaviate.connect_to_custom(**self._kwargs())  # type: ignore[arg-type]

    def async_client(self) -> weaviate.WeaviateAsyncClient:
        """An async client, not yet connected (``await client.connect()``); for embedded Weaviate it
        talks to the instance :meth:`connect` started."""
        return weaviate.use_async_with_custom(**self._kwargs())  # type: ignore[arg-type]

    def check_grpc(self, timeout: float = GRPC_CHECK_TIMEOUT) -> None:
        """Fail fast when nothing listens on the gRPC port (the client would retry for half a minute)."""
        try:
            socket.create_connection((self.grpc_host, self.grpc_port), timeout=timeout).close()
        except OSError as exc:
            msg = (
                f"Nothing answers on Weaviate's gRPC port {self.grpc_host}:{self.grpc_port} ({exc}). "
                "Check that Weaviate runs and --weaviate-grpc-port (RAGTUNE_WEAVIATE_GRPC_PORT) is right."
            )
            raise TransientIndexError(msg) from exc


__all__ = ["Endpoint"]
