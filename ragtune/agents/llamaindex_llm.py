"""Any LangChain chat model as a LlamaIndex ``FunctionCallingLLM``.

ragtune's chat models (the local SmolLM2 model, ``ChatOpenAI``, the
:class:`~ragtune.testing.ScriptedChatModel`) are LangChain ``BaseChatModel``s.
:class:`ChatModelLLM` lets a LlamaIndex ``FunctionAgent`` or query engine use
the same model object: messages are converted at the edge, tools are bound
with the model's own ``bind_tools``, and tool calls come back as LlamaIndex
``ToolCallBlock``s.

Example:
    >>> from llama_index.core.agent.workflow import FunctionAgent
    >>> llm = ChatModelLLM(model=ChatOpenAI(model="gpt-4o-mini"))
    >>> agent = FunctionAgent(tools=tools, llm=llm)
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from pydantic import ConfigDict, Field


def _tool_calls_of(message: ChatMessage) -> list[dict[str, Any]]:
    calls = []
    for block in message.blocks:
        if isinstance(block, ToolCallBlock):
            args = block.tool_kwargs
            if isinstance(args, str):
                try:
                    args = json.loads(args or "{}")
                except json.JSONDecodeError:
                    args = {}
            calls.append({"name": block.tool_name, "args": args, "id": block.tool_call_id or "", "type": "tool_call"})
    for raw in message.additional_kwargs.get("tool_calls", []) or []:
        if isinstance(raw, ToolSelection):
            calls.append({"name": raw.tool_name, "args": raw.tool_kwargs, "id": raw.tool_id, "type": "tool_call"})
    return calls


def to_langchain_messages(messages: Sequence[ChatMessage]) -> list[BaseMessage]:
    """LlamaIndex chat messages as LangChain messages (tool calls and results included)."""
    converted: list[BaseMessage] = []
    for message in messages:
        text = message.content or ""
        if message.role == MessageRole.SYSTEM:
            converted.append(SystemMessage(content=text))
        elif message.role == MessageRole.ASSISTANT:
            converted.append(AIMessage(content=text, tool_calls=_tool_calls_of(message)))  # type: ignore[arg-type]
        elif message.role == MessageRole.TOOL:
            call_id = str(message.additional_kwargs.get("tool_call_id", ""))
            converted.append(ToolMessage(content=text, tool_call_id=call_id))
        else:
            converted.append(HumanMessage(content=text))
    return converted


def from_langchain_message(message: BaseMessage) -> ChatMessage:
    """A LangChain AI message as a LlamaIndex assistant message with text and tool-call blocks."""
    text = message.content if isinstance(message.content, str) else str(message.text)
    blocks: list[Any] = [TextBlock(text=text)] if text else []
    for call in getattr(message, "tool_calls", None) or []:
        blocks.append(ToolCallBlock(tool_call_id=call.get("id"), tool_name=call["name"], tool_kwargs=call["args"]))
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)


class ChatModelLLM(FunctionCallingLLM):
    """A LangChain ``BaseChatModel`` behind LlamaIndex's function-calling LLM interface."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Any = Field(description="The LangChain chat model (BaseChatModel) that does the work.")
    context_window: int = Field(
        default=8192, description="Tokens the model reads; used by LlamaIndex's prompt packing."
    )
    num_output: int = Field(default=512, description="Tokens reserved for the answer.")

    @classmethod
    def class_name(cls) -> str:
        return "RagtuneChatModelLLM"

    @property
    def metadata(self) -> LLMMetadata:
        name = (
            getattr(self.model, "model_name", None) or getattr(self.model, "model", None) or type(self.model).__name__
        )
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.num_output,
            is_chat_model=True,
            is_function_calling_model=True,
            model_name=str(name),
        )

    # -- tools ------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[Any],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(
                ChatMessage(role=MessageRole.USER, content=user_msg) if isinstance(user_msg, str) else user_msg
            )
        specs = [tool.metadata.to_openai_tool() for tool in tools]
        prepared: dict[str, Any] = {"messages": messages, "tools": specs}
        if tool_required:
            prepared["tool_choice"] = "any"
        elif kwargs.get("tool_choice"):
            prepared["tool_choice"] = kwargs["tool_choice"]
        return prepared

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        calls = [
            ToolSelection(tool_id=c["id"], tool_name=c["name"], tool_kwargs=c["args"])
            for c in _tool_calls_of(response.message)
        ]
        if not calls and error_on_no_tool_call:
            msg = f"Expected at least one tool call, got: {response.message.content!r}"
            raise ValueError(msg)
        return calls

    def _runnable(self, kwargs: dict[str, Any]) -> Any:
        tools = kwargs.get("tools")
        if not tools:
            return self.model
        choice = kwargs.get("tool_choice")
        return self.model.bind_tools(tools, tool_choice=choice) if choice else self.model.bind_tools(tools)

    # -- chat -------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        reply = self._runnable(kwargs).invoke(to_langchain_messages(messages))
        message = from_langchain_message(reply)
        return ChatResponse(message=message, raw={"content": message.content}, delta=None)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        reply = await self._runnable(kwargs).ainvoke(to_langchain_messages(messages))
        message = from_langchain_message(reply)
        return ChatResponse(message=message, raw={"content": message.content}, delta=None)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        runnable = self._runnable(kwargs)
        lc_messages = to_langchain_messages(messages)

        def gen() -> Generator[ChatResponse, None, None]:
            total: AIMessageChunk | None = None
            for chunk in runnable.stream(lc_messages):
                total = chunk if total is None else total + chunk
                delta = chunk.content if isinstance(chunk.content, str) else ""
                yield ChatResponse(message=from_langchain_message(total), delta=delta)

        return gen()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        runnable = self._runnable(kwargs)
        lc_messages = to_langchain_messages(messages)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            total: AIMessageChunk | None = None
            async for chunk in runnable.astream(lc_messages):
                total = chunk if total is None else total + chunk
                delta = chunk.content if isinstance(chunk.content, str) else ""
                yield ChatResponse(message=from_langchain_message(total), delta=delta)

        return gen()

    # -- completion -------------------------------------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        reply = self.model.invoke([HumanMessage(content=prompt)])
        return CompletionResponse(text=str(reply.content))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        reply = await self.model.ainvoke([HumanMessage(content=prompt)])
        return CompletionResponse(text=str(reply.content))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> Generator[CompletionResponse, None, None]:
            text = ""
            for chunk in self.model.stream([HumanMessage(content=prompt)]):
                delta = chunk.content if isinstance(chunk.content, str) else ""
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return gen()

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            text = ""
            async for chunk in self.model.astream([HumanMessage(content=prompt)]):
                delta = chunk.content if isinstance(chunk.content, str) else ""
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return gen()


__all__ = ["ChatModelLLM", "from_langchain_message", "to_langchain_messages"]
