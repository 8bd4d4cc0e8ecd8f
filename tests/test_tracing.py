"""Tracing: retrieval inside ``RagChain`` and ``Router`` is a child retriever run; synthesis a child run.

Real store (the compare corpus), real MiniLM router and searcher; the chat model is scripted
(what is under test is what the callbacks and ``astream_events`` see, not the words). Before
issue 24 none of the retriever events below existed: the chain called ``searcher.search`` directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document

from ragtune.chains.build import build_workspace_router
from ragtune.chains.models import ChainModel
from ragtune.chains.rag_chain import ChainConfig, RagChain
from ragtune.config import Settings
from ragtune.testing.scripted import ScriptedChatModel
from ragtune.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "examples" / "compare" / "corpus"
QUESTION = "What is the national dish of Veloria?"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from ragtune.ingest import sync_paths

    store = tmp_path_factory.mktemp("tracing") / "store"
    with Workspace(Settings.load({"store": str(store)})) as ws:
        sync_paths(ws, [CORPUS])
        yield ws


def _chain(ws: Workspace, mode: str = "stuff") -> RagChain:
    model = ChainModel.of(ScriptedChatModel(["Brine pie is the national dish [1]."] * 4), model_id="scripted")
    return RagChain(
        base=model,
        router=build_workspace_router(ws),
        retriever=ws.searcher().search,
        config=ChainConfig(mode=mode, grounding="off"),  # type: ignore[arg-type]
        embedder=ws.embedder,
    )


class Recorder(BaseCallbackHandler):
    """Every run start/end a tracer would see: (event, name, run_id, parent_run_id, payload)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, UUID, UUID | None, Any]] = []
        self.names: dict[UUID, str] = {}

    def _start(self, event: str, name: str, run_id: UUID, parent: UUID | None, payload: Any) -> None:
        self.names[run_id] = name
        self.events.append((event, name, run_id, parent, payload))

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self._start("chain_start", kw.get("name") or "", run_id, parent_run_id, inputs)

    def on_retriever_start(
        self, serialized: Any, query: str, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self._start("retriever_start", kw.get("name") or "", run_id, parent_run_id, query)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any) -> None:
        self.events.append(("retriever_end", self.names[run_id], run_id, parent_run_id, documents))

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self._start("chat_model_start", kw.get("name") or "chat", run_id, parent_run_id, messages)

    def first(self, event: str) -> tuple[str, str, UUID, UUID | None, Any]:
        return next(e for e in self.events if e[0] == event)

    def parent_names(self, run_id: UUID) -> list[str]:
        """Names of the runs above ``run_id``, nearest first."""
        parents = {e[2]: e[3] for e in self.events if e[0].endswith("_start")}
        names, current = [], parents.get(run_id)
        while current is not None:
            names.append(self.names.get(current, "?"))
            current = parents.get(current)
        return names


def test_callback_handler_sees_retrieval_inside_the_routed_chain(workspace: Workspace) -> None:
    recorder = Recorder()
    answer = _chain(workspace).invoke(QUESTION, {"callbacks": [recorder]})
    assert answer.route == "rag" and answer.citations

    _, _, run_id, _, query = recorder.first("retriever_start")
    assert query == QUESTION
    assert recorder.parent_names(run_id) == ["Router", "RagChain"]  # the router searched, inside the chain
    documents = recorder.first("retriever_end")[4]
    assert documents and all(isinstance(d, Document) for d in documents)
    assert [d.id for d in documents] == [h.chunk_id for h in answer.decision.hits]
    assert any(d.metadata["source"].endswith("cuisine.md") for d in documents)

    synth = next(e for e in recorder.events if e[0] == "chain_start" and e[1] == "synthesize")
    assert recorder.parent_names(synth[2]) == ["RagChain"]
    chat = recorder.first("chat_model_start")
    assert recorder.parent_names(chat[2])[:2] == ["synthesize", "RagChain"]


def test_forced_route_retrieves_as_a_child_of_the_chain(workspace: Workspace) -> None:
    recorder = Recorder()
    _chain(workspace).invoke({"question": QUESTION, "route": "rag"}, {"callbacks": [recorder]})
    run_id = recorder.first("retriever_start")[2]
    assert recorder.parent_names(run_id) == ["RagChain"]  # no router ran: the chain searched itself
    assert recorder.first("retriever_end")[4]


def test_router_alone_traces_its_search(workspace: Workspace) -> None:
    recorder = Recorder()
    decision = build_workspace_router(workspace).invoke(QUESTION, {"callbacks": [recorder]})
    assert decision.hits
    run_id = recorder.first("retriever_start")[2]
    assert recorder.parent_names(run_id) == ["Router"]
    assert len(recorder.first("retriever_end")[4]) == len(decision.hits)


async def test_astream_events_v2_show_retriever_and_synthesis(workspace: Workspace) -> None:
    events = [e async for e in _chain(workspace).astream_events(QUESTION, version="v2")]
    kinds = [e["event"] for e in events]
    assert "on_retriever_start" in kinds and "on_retriever_end" in kinds
    end = next(e for e in events if e["event"] == "on_retriever_end")
    documents = end["data"]["output"]
    assert documents and all(isinstance(d, Document) for d in documents)
    assert any(d.metadata["source"].endswith("cuisine.md") for d in documents)
    assert any(e["event"] == "on_chat_model_start" for e in events)
    assert any(e["event"] == "on_chain_end" and e["name"] == "synthesize" for e in events)
    final = next(e for e in reversed(events) if e["event"] == "on_chain_end" and e["name"] == "RagChain")
    assert final["data"]["output"].route == "rag"


async def test_astream_events_v2_extractive_synthesis_is_a_chain_event(workspace: Workspace) -> None:
    """No model writes an extractive answer: synthesis still shows, as a chain run with the answer text."""
    events = [e async for e in _chain(workspace, mode="extract").astream_events(QUESTION, version="v2")]
    assert [e["event"] for e in events].count("on_retriever_end") == 1
    synth = next(e for e in events if e["event"] == "on_chain_end" and e["name"] == "synthesize")
    assert "brine pie" in synth["data"]["output"]["text"].lower()
    assert not any(e["event"] == "on_chat_model_start" for e in events)
