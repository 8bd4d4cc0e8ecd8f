"""``POST /v1/chat/completions``: scripted or echo replies, JSON or server-sent events.

Tests script replies on ``server.chat``; without a script the reply is
``"Echo: <last user message>"``::

    server.chat.reply("Paris is the capital of France.")
    server.chat.reply(tool_calls=[{"name": "search", "arguments": {"query": "capital of France"}}])
    server.chat.reply(status=400, content="This model's maximum context length is 128000 tokens.",
                      code="context_length_exceeded")
    server.chat.known_models = {"gpt-4o-mini"}   # other models -> 404 model_not_found
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .base import FakeOpenAIServer, RecordedRequest, Response, error_response, extension, next_id, route

_PIECES = re.compile(r"\s*\S+\s*|\s+")


@dataclass
class ScriptedReply:
    """One reply: text and/or tool calls, or an error when ``status`` is set."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """``{"name": ..., "arguments": dict | str, "id": optional}`` each."""
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    """Override ``prompt_tokens`` / ``completion_tokens``."""
    status: int | None = None
    code: str | None = None
    model: str | None = None
    """Override the ``model`` field of the response (the real API returns the dated snapshot)."""


@extension("chat")
class ChatScript:
    """Reply script of one server: a queue of :class:`ScriptedReply`, then the default reply."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.queue: deque[ScriptedReply] = deque()
        self.default: Callable[[dict[str, Any]], str] = echo_reply
        self.known_models: set[str] | None = None

    def reply(
        self,
        content: str | None = None,
        *,
        tool_calls: list[dict[str, Any]] | None = None,
        finish_reason: str | None = None,
        usage: dict[str, int] | None = None,
        status: int | None = None,
        code: str | None = None,
        model: str | None = None,
    ) -> ChatScript:
        """Queue one reply (chainable)."""
        self.queue.append(ScriptedReply(content, list(tool_calls or []), finish_reason, usage, status, code, model))
        return self

    def replies(self, *contents: str) -> ChatScript:
        for content in contents:
            self.reply(content)
        return self

    def reset(self) -> None:
        self.queue.clear()
        self.default = echo_reply
        self.known_models = None

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests_to("/v1/chat/completions")

    def last_messages(self) -> list[dict[str, Any]]:
        """The ``messages`` of the last chat request."""
        return list(self.requests[-1].body["messages"])


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def echo_reply(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return f"Echo: {message_text(users[-1])}" if users else "Echo."


def count_tokens(text: str) -> int:
    import bpe_openai

    return len(bpe_openai.get_encoding("o200k_base").encode_ordinary(text))


def _prompt_tokens(body: dict[str, Any]) -> int:
    total = 3
    for message in body.get("messages", []):
        total += 3 + count_tokens(message_text(message))
        if message.get("tool_calls"):
            total += count_tokens(json.dumps(message["tool_calls"]))
    return total


def _tool_calls(reply: ScriptedReply) -> list[dict[str, Any]]:
    calls = []
    for call in reply.tool_calls:
        args = call.get("arguments", {})
        calls.append(
            {
                "id": call.get("id") or next_id("call"),
                "type": "function",
                "function": {"name": call["name"], "arguments": args if isinstance(args, str) else json.dumps(args)},
            }
        )
    return calls


@route("POST", "/v1/chat/completions")
def chat_completions(server: FakeOpenAIServer, request: RecordedRequest) -> Response:
    body = request.body
    if not isinstance(body, dict) or "model" not in body or not body.get("messages"):
        return error_response(400, "'model' and a non-empty 'messages' are required.", param="messages")
    script: ChatScript = server.chat
    model = body["model"]
    if script.known_models is not None and model not in script.known_models:
        message = f"The model `{model}` does not exist or you do not have access to it."
        return error_response(404, message, code="model_not_found", param="model")
    reply = script.queue.popleft() if script.queue else ScriptedReply(content=script.default(body))
    if reply.status is not None:
        return error_response(reply.status, reply.content or f"Scripted error {reply.status}.", code=reply.code)
    calls = _tool_calls(reply)
    content = reply.content if reply.content is not None or calls else ""
    finish = reply.finish_reason or ("tool_calls" if calls else "stop")
    completion = count_tokens(content or "") + sum(count_tokens(c["function"]["arguments"]) for c in calls)
    prompt = _prompt_tokens(body)
    if reply.usage:
        prompt = reply.usage.get("prompt_tokens", prompt)
        completion = reply.usage.get("completion_tokens", completion)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    meta = {
        "id": next_id("chatcmpl"),
        "created": int(time.time()),
        "model": reply.model or model,
        "system_fingerprint": "fp_fake",
    }
    n = int(body.get("n") or 1)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return Response(stream=_stream(meta, content, calls, finish, usage if include_usage else None, n))
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    choices = [{"index": i, "message": message, "logprobs": None, "finish_reason": finish} for i in range(n)]
    return Response(body={**meta, "object": "chat.completion", "choices": choices, "usage": usage})


def _stream(
    meta: dict[str, Any],
    content: str | None,
    calls: list[dict[str, Any]],
    finish: str,
    usage: dict[str, Any] | None,
    n: int,
) -> Iterator[Any]:
    base = {**meta, "object": "chat.completion.chunk"}
    if usage is not None:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choices = [{"index": i, "delta": delta, "logprobs": None, "finish_reason": finish_reason} for i in range(n)]
        return {**base, "choices": choices}

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in _PIECES.findall(content or ""):
        yield chunk({"content": piece})
    for index, call in enumerate(calls):
        head = {"index": index, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"]}}
        head["function"]["arguments"] = ""
        yield chunk({"tool_calls": [head]})
        args = call["function"]["arguments"]
        middle = len(args) // 2
        for part in (args[:middle], args[middle:]):
            if part:
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    yield chunk({}, finish)
    if usage is not None:
        yield {**base, "choices": [], "usage": usage}
    yield "[DONE]"


__all__ = ["ChatScript", "ScriptedReply", "echo_reply", "message_text"]
