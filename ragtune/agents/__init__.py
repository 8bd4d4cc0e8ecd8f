"""Agent tools over a ragtune store: LangChain, LlamaIndex and MCP.

The tool logic lives once in :class:`~ragtune.agents.toolkit.RagtuneToolkit`;
the framework adapters are thin. Names load lazily, so importing
``ragtune.agents`` does not import LangChain, LlamaIndex or ``mcp``.

Example:
    >>> from ragtune.agents import create_ragtune_agent
    >>> agent = create_ragtune_agent(model, workspace)
"""

from __future__ import annotations

from ragtune._lazy import lazy_getattr

_LAZY = {
    "RagtuneToolkit": "ragtune.agents.toolkit",
    "ToolOutput": "ragtune.agents.toolkit",
    "ToolFailure": "ragtune.agents.toolkit",
    "SearchInput": "ragtune.agents.toolkit",
    "AskInput": "ragtune.agents.toolkit",
    "AskFinetunedInput": "ragtune.agents.toolkit",
    "IngestInput": "ragtune.agents.toolkit",
    "as_tool": "ragtune.agents.langchain",
    "create_search_tool": "ragtune.agents.langchain",
    "create_ask_tool": "ragtune.agents.langchain",
    "create_ask_finetuned_tool": "ragtune.agents.langchain",
    "create_ingest_tool": "ragtune.agents.langchain",
    "create_ragtune_tools": "ragtune.agents.langchain",
    "create_ragtune_agent": "ragtune.agents.langchain",
    "as_function_tool": "ragtune.agents.llamaindex",
    "create_llamaindex_tools": "ragtune.agents.llamaindex",
    "create_query_engine_tool": "ragtune.agents.llamaindex",
    "create_llamaindex_agent": "ragtune.agents.llamaindex",
    "ChatModelLLM": "ragtune.agents.llamaindex_llm",
    "create_mcp_server": "ragtune.agents.mcp_server",
    "run_stdio": "ragtune.agents.mcp_server",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
__all__ = sorted(_LAZY)
