"""Validation of one chat record: OpenAI's chat-format checks plus ragtune's own.

Each check yields a :class:`Problem` with a stable ``code``. The codes of
OpenAI's guidance are kept (``data_type``, ``missing_messages_list``,
``message_missing_key``, ``message_unrecognized_key``, ``unrecognized_role``,
``missing_content``, ``example_missing_assistant_message``); ragtune adds
``wrong_type``, ``empty_content``, ``invalid_weight``, ``invalid_tool_call``,
``unrecognized_key``, ``label_not_allowed`` and ``too_many_tokens``.

One label rule holds for every shape: with a declared label set, a record's
label (:func:`record_label`: its own ``label`` field, else, for a chat record,
its last assistant turn, the shape OpenAI classification fine-tunes use) must
be one of the labels. Question/answer and instruction records have free-text
answers, so they carry a label only through a ``label`` field.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import Any, NamedTuple

from ragtune.finetune.formats import CHAT_TOP_LEVEL_KEYS
from ragtune.finetune.records import Shape

ROLES = frozenset({"system", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id", "refusal"}
)


class Problem(NamedTuple):
    """One thing wrong with a record."""

    code: str
    reason: str


def validate_chat(chat: Any, *, labels: Collection[str] | None = None, label: str | None = None) -> list[Problem]:
    """Every problem of one chat record (empty when it is fine to train on).

    Args:
        chat: The record after shape conversion and fixes.
        labels: The declared label set, if any.
        label: The record's label (:func:`record_label`).
    """
    problems = list(_check(chat))
    if labels is not None and label is not None and label not in labels:
        allowed = ", ".join(sorted(labels))
        reason = f"label {label!r} is not one of the declared labels ({allowed}); fix the record or add it to --labels"
        problems.append(Problem("label_not_allowed", reason))
    return problems


def record_label(shape: Shape, chat: Any, label: str | None) -> str | None:
    """The record's label: its ``label`` field, else a chat record's last assistant answer (stripped)."""
    if label is not None or shape is not Shape.CHAT:
        return label
    messages = chat.get("messages") if isinstance(chat, dict) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "assistant":
            content = message.get("content")
            return content.strip() if isinstance(content, str) and content.strip() else None
    return None


def _check(chat: Any) -> Iterator[Problem]:
    if not isinstance(chat, dict):
        yield Problem("data_type", f"each line must be a JSON object, got {type(chat).__name__}")
        return
    unknown = sorted(set(chat) - CHAT_TOP_LEVEL_KEYS)
    if unknown:
        yield Problem("unrecognized_key", f"unrecognised top-level keys {unknown}; allowed: messages, tools")
    messages = chat.get("messages")
    if not isinstance(messages, list) or not messages:
        yield Problem("missing_messages_list", '"messages" must be a non-empty list of messages')
        return
    if "tools" in chat and not _is_list_of_dicts(chat["tools"]):
        yield Problem("wrong_type", '"tools" must be a list of tool definitions')
    call_ids: set[str] = set()
    for i, message in enumerate(messages, start=1):
        yield from _check_message(i, message, call_ids)
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        yield Problem("example_missing_assistant_message", "no assistant message: nothing to learn from")


def _check_message(i: int, message: Any, call_ids: set[str]) -> Iterator[Problem]:
    where = f"message {i}"
    if not isinstance(message, dict):
        yield Problem("data_type", f"{where} must be an object, got {type(message).__name__}")
        return
    if "role" not in message:
        yield Problem("message_missing_key", f'{where} has no "role"')
    unknown = sorted(set(message) - MESSAGE_KEYS)
    if unknown:
        yield Problem("message_unrecognized_key", f"{where} has unrecognised keys {unknown}")
    role = message.get("role")
    if "role" in message and role not in ROLES:
        yield Problem("unrecognized_role", f"{where} has role {role!r}; expected one of {sorted(ROLES)}")
    content = message.get("content")
    has_call = bool(message.get("function_call") or message.get("tool_calls"))
    if content is None and not has_call:
        yield Problem("missing_content", f'{where} ({role}) has no "content"')
    elif content is not None and not isinstance(content, str):
        yield Problem("wrong_type", f"{where} content must be a string, got {type(content).__name__}")
    elif isinstance(content, str) and not content.strip() and not has_call:
        yield Problem("empty_content", f"{where} ({role}) has empty content")
    if "name" in message and not isinstance(message["name"], str):
        yield Problem("wrong_type", f'{where} "name" must be a string')
    if "weight" in message:
        weight = message["weight"]
        if role != "assistant":
            yield Problem("invalid_weight", f'{where}: "weight" is only allowed on assistant messages')
        elif weight not in (0, 1) or isinstance(weight, bool):
            yield Problem("invalid_weight", f'{where}: "weight" must be 0 or 1, got {weight!r}')
    if "tool_calls" in message:
        yield from _check_tool_calls(where, role, message["tool_calls"], call_ids)
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or call_id not in call_ids:
            yield Problem("invalid_tool_call", f'{where}: tool message needs the "tool_call_id" of an earlier call')


def _check_tool_calls(where: str, role: Any, calls: Any, call_ids: set[str]) -> Iterator[Problem]:
    if role != "assistant":
        yield Problem("invalid_tool_call", f'{where}: "tool_calls" is only allowed on assistant messages')
        return
    if not _is_list_of_dicts(calls) or not calls:
        yield Problem("invalid_tool_call", f'{where}: "tool_calls" must be a non-empty list of objects')
        return
    for j, call in enumerate(calls, start=1):
        function = call.get("function")
        if not isinstance(call.get("id"), str) or call.get("type", "function") != "function":
            yield Problem("invalid_tool_call", f'{where} tool call {j}: needs a string "id" and type "function"')
            continue
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            yield Problem("invalid_tool_call", f'{where} tool call {j}: "function" needs a "name"')
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str) or not _is_json(arguments):
            yield Problem("invalid_tool_call", f'{where} tool call {j}: "arguments" must be a JSON string')
            continue
        call_ids.add(call["id"])


def _is_list_of_dicts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


__all__ = ["MESSAGE_KEYS", "Problem", "ROLES", "record_label", "validate_chat"]
