"""A chat model that plays a script: given tool calls first, then a final answer.

Small local models cannot call tools reliably, and a remote model costs money
and changes from day to day. :class:`ScriptedChatModel` makes agent runs
deterministic so that what is tested (or shown in a notebook) is the tools:
the model emits exactly the tool calls you script, the agent framework runs
the real tools, and the final turn can quote what the tools returned.

Example:
    >>> model = ScriptedChatModel.tool_then_answer(
    ...     "search_knowledge_base", {"query": "refund policy", "k": 3},
    ...     answer=ScriptedChatModel.echo_last_tool_result,
    ... )
    >>> agent = create_agent(model, tools)  # langchain.agents
    >>> agent.invoke({"messages": [("user", "How do refunds work?")]})
    >>> model.calls[0][-1].content
    'How do refunds work?'
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolCall, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, Field, PrivateAttr

Turn = Union[AIMessage, str, Callable[[list[BaseMessage]], Union[AIMessage, str]]]
"""One scripted reply: a message, plain text, or a function of the conversation so far."""


def tool_call(name: str, args: dict[str, Any], *, id: str | None = None) -> ToolCall:
    """A LangChain tool call with a fresh id (``call_<hex>``) unless one is given."""
    return ToolCall(name=name, args=dict(args), id=id or f"call_{uuid.uuid4().hex[:12]}", type="tool_call")


class ScriptedChatModel(BaseChatModel):
    """Replies with the scripted turns in order; the last turn repeats once the script runs out.

    Every call records the messages it received in :attr:`calls`, and
    :meth:`bind_tools` records the tools it was offered in :attr:`bound_tools`,
    so tests can assert what the agent sent.

    Args:
        turns: replies in order. An ``AIMessage`` may carry ``tool_calls``; a
            ``str`` is a final text answer; a callable receives the messages
            so far and returns either.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    turns: list[Any] = Field(default_factory=list)
    """The script (see :data:`Turn`)."""
    model_name: str = "scripted"
    """Reported as the model id in usage and traces."""

    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _bound: list[list[str]] = PrivateAttr(default_factory=list)
    _position: int = PrivateAttr(default=0)

    def __init__(self, turns: Sequence[Turn] = (), **kwargs: Any) -> None:
        super().__init__(turns=list(turns), **kwargs)  # type: ignore[call-arg]

    @classmethod
    def tool_then_answer(cls, name: str, args: dict[str, Any], *, answer: Turn, **kwargs: Any) -> ScriptedChatModel:
        """Call one tool, then answer (``answer`` may be :meth:`echo_last_tool_result`)."""
        return cls([AIMessage(content="", tool_calls=[tool_call(name, args)]), answer], **kwargs)

    @classmethod
    def tools_then_answer(
        cls, calls: Sequence[tuple[str, dict[str, Any]]], *, answer: Turn, parallel: bool = False, **kwargs: Any
    ) -> ScriptedChatModel:
        """Call tools one per turn (or all in one turn with ``parallel=True``), then answer."""
        if parallel:
            turns: list[Turn] = [AIMessage(content="", tool_calls=[tool_call(n, a) for n, a in calls])]
        else:
            turns = [AIMessage(content="", tool_calls=[tool_call(n, a)]) for n, a in calls]
        return cls([*turns, answer], **kwargs)

    @staticmethod
    def echo_last_tool_result(messages: list[BaseMessage]) -> str:
        """A final turn that answers with the content of the most recent tool message(s)."""
        results: list[str] = []
        for message in reversed(messages):
            if isinstance(message, ToolMessage) or getattr(message, "type", "") == "tool":
                results.append(str(message.content))
            elif results:
                break
        return "\n\n".join(reversed(results)) or "No tool result."

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The messages of every call, in order."""
        return self._calls

    @property
    def bound_tools(self) -> list[list[str]]:
        """Names of the tools offered by each :meth:`bind_tools` call."""
        return self._bound

    def reset(self) -> None:
        """Start the script again and forget recorded calls."""
        self._position = 0
        self._calls.clear()
        self._bound.clear()

    @property
    def _llm_type(self) -> str:
        return "ragtune-scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Accept tools (the script decides what is called); records their names."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        self._bound.append([convert_to_openai_tool(t)["function"]["name"] for t in tools])
        return self

    def _next_message(self, messages: list[BaseMessage]) -> AIMessage:
        self._calls.append(list(messages))
        if not self.turns:
            return AIMessage(content="")
        turn = self.turns[min(self._position, len(self.turns) - 1)]
        self._position += 1
        reply = turn(list(messages)) if callable(turn) else turn
        message = AIMessage(content=reply) if isinstance(reply, str) else reply.model_copy(deep=True)
        if message.tool_calls:
            # A repeated turn must not reuse tool-call ids: agents match results to calls by id.
            fresh = [tool_call(c["name"], c["args"]) for c in message.tool_calls]
            message = AIMessage(content=message.content, tool_calls=fresh)
        return message.model_copy(update={"response_metadata": {"model_name": self.model_name}})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next_message(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next_message(messages)
        text = message.content if isinstance(message.content, str) else ""
        words = text.split(" ") if text else []
        for i, word in enumerate(words):
            piece = word if i == 0 else f" {word}"
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        tool_chunks = [
            {"name": c["name"], "args": _json(c["args"]), "id": c["id"], "index": i, "type": "tool_call_chunk"}
            for i, c in zip(itertools.count(), message.tool_calls)
        ]
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                tool_call_chunks=tool_chunks,  # type: ignore[arg-type]
                response_metadata=message.response_metadata,
                chunk_position="last",
            )
        )


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


__all__ = ["ScriptedChatModel", "Turn", "tool_call"]
