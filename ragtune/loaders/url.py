"""``http(s)`` URLs: fetched with httpx (retrying transient faults), parsed by content type."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

import httpx
from tenacity import before_sleep_log, retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from ragtune import __version__
from ragtune.errors import LoaderError
from ragtune.loaders.base import Source
from ragtune.loaders.options import LoadFailure, LoadOptions
from ragtune.loaders.registry import parser_for_content_type, parser_for_suffix, supported_suffixes
from ragtune.schema import Document

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0
"""Connect/read timeout of one request."""
_VAGUE_TYPES = {"application/octet-stream", "binary/octet-stream", "text/plain", ""}


class _TransientFetchError(LoaderError):
    is_retryable = True


@dataclass(frozen=True)
class Fetched:
    """A URL's response body with what decides how to parse it."""

    data: bytes
    content_type: str
    charset: str | None
    modified: float | None


def is_url(value: str) -> bool:
    """Whether ``value`` is an ``http://`` or ``https://`` URL."""
    return value.lower().startswith(("http://", "https://"))


def iter_url(url: str, options: LoadOptions) -> Iterator[Document | LoadFailure]:
    """Documents of one URL; every problem (HTTP errors included) becomes a :class:`LoadFailure`."""
    try:
        fetched = fetch(url, max_bytes=options.max_file_bytes)
    except LoaderError as exc:
        yield LoadFailure(path=url, reason=exc.message)
        return
    path = PurePosixPath(unquote(urlparse(url).path))
    parser = parser_for_content_type(fetched.content_type)
    if fetched.content_type.split(";")[0].strip().lower() in _VAGUE_TYPES:  # the URL's extension knows better
        parser = parser_for_suffix(path.suffix) or parser
    if parser is None:
        reason = (
            f"unsupported content type {fetched.content_type or '(none)'}; "
            "supported: HTML, Markdown, text, PDF, JSON, JSONL, CSV, DOCX "
            f"(or a URL ending in {', '.join(supported_suffixes())})"
        )
        yield LoadFailure(path=url, reason=reason)
        return
    source = Source(
        source=url, stem=path.stem or urlparse(url).netloc, modified=fetched.modified, charset=fetched.charset
    )
    yield from parser.parse(fetched.data, source, options)


@retry(
    retry=retry_if_exception(lambda exc: getattr(exc, "is_retryable", False)),
    stop=stop_after_attempt(3),
    wait=wait_exponential_jitter(multiplier=0.5, max=4.0),
    before_sleep=before_sleep_log(log, logging.WARNING),
    reraise=True,
)
def fetch(url: str, *, max_bytes: int) -> Fetched:
    """GET ``url`` following redirects, reading at most ``max_bytes``.

    Raises:
        LoaderError: HTTP 4xx, a body over ``max_bytes``, or a network failure that
            persisted over three attempts (5xx, 429 and connection errors are retried).
    """
    headers = {"User-Agent": f"ragtune/{__version__}"}
    try:
        with (
            httpx.Client(follow_redirects=True, timeout=TIMEOUT_S, headers=headers) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                reason = f"HTTP {response.status_code} {response.reason_phrase}"
                if response.status_code >= 500 or response.status_code == 429:
                    raise _TransientFetchError(f"{reason}; the server failed, try again later")
                raise LoaderError(f"{reason}; check the URL")
            body = bytearray()
            for part in response.iter_bytes():
                body += part
                if len(body) > max_bytes:
                    raise LoaderError(f"response is larger than max_file_bytes ({max_bytes} bytes); raise the limit")
            return Fetched(
                data=bytes(body),
                content_type=response.headers.get("content-type", ""),
                charset=response.charset_encoding,
                modified=_last_modified(response.headers.get("last-modified")),
            )
    except httpx.TransportError as exc:
        raise _TransientFetchError(
            f"could not fetch ({type(exc).__name__}: {exc}); check the URL and the network"
        ) from exc
    except httpx.InvalidURL as exc:
        raise LoaderError(f"invalid URL ({exc})") from exc


def _last_modified(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


__all__ = ["Fetched", "fetch", "is_url", "iter_url"]
