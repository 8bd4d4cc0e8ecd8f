"""An in-process OpenAI API for tests: the real ``openai`` client (and ``ChatOpenAI``) talk to it over HTTP.

Implemented: ``POST /v1/chat/completions`` (JSON and SSE streaming, usage,
tool calls, scripted replies and errors), ``POST /v1/embeddings``, ``/v1/files``
and ``/v1/fine_tuning/jobs`` (jobs advance as they are polled; see
:mod:`.fine_tuning`). Every
request is recorded; faults are injected per path::

    with FakeOpenAIServer() as server:
        llm = ChatOpenAI(model="gpt-4o-mini", api_key="test", base_url=server.url)
        server.chat.reply("Paris.")
        server.fail_next(1, status=429, path_prefix="/v1/chat")
        ...
        assert server.requests_to("/v1/chat/completions")[-1].body["model"] == "gpt-4o-mini"

More routes go in their own module of this package (``@route`` and
``@extension`` from :mod:`.base`), imported below so every server has them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from . import chat, embeddings, files, fine_tuning  # noqa: F401  (register their routes)
from .base import FakeOpenAIServer, RecordedRequest, Response, error_response, extension, next_id, route
from .chat import ChatScript, ScriptedReply
from .embeddings import fake_embedding


def openai_server_fixture(scope: str = "function", **server_kwargs: Any) -> Callable[..., Iterator[FakeOpenAIServer]]:
    """A pytest fixture yielding a started :class:`FakeOpenAIServer`, stopped afterwards.

    Example:
        >>> openai_server = openai_server_fixture()          # in a test module or conftest
        >>> def test_x(openai_server): ...
    """
    import pytest

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def _fixture() -> Iterator[FakeOpenAIServer]:
        with FakeOpenAIServer(**server_kwargs) as server:
            yield server

    return _fixture  # type: ignore[no-any-return]


__all__ = [
    "ChatScript",
    "FakeOpenAIServer",
    "RecordedRequest",
    "Response",
    "ScriptedReply",
    "error_response",
    "extension",
    "fake_embedding",
    "next_id",
    "openai_server_fixture",
    "route",
]
