"""The Index contract against a real Weaviate server; runs when ``WEAVIATE_URL`` is set.

``WEAVIATE_GRPC_PORT`` (default 50051) and ``WEAVIATE_API_KEY`` are read too. Each
test works in a fresh, uniquely named collection that is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from ragtune.filters import F
from ragtune.index.base import Index, SearchRequest
from ragtune.index.weaviate import WeaviateIndex
from ragtune.schema import Chunk, DocumentState
from ragtune.testing.index_contract import IndexContract

WEAVIATE_URL = os.environ.get("WEAVIATE_URL")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not WEAVIATE_URL, reason="WEAVIATE_URL not set: live Weaviate tests need a running server"),
]


def open_live_index() -> WeaviateIndex:
    assert WEAVIATE_URL is not None
    return WeaviateIndex(
        url=WEAVIATE_URL,
        grpc_port=int(os.environ.get("WEAVIATE_GRPC_PORT", "50051")),
        api_key=os.environ.get("WEAVIATE_API_KEY") or None,
        collection=f"RagtuneTest{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
def live_index() -> Iterator[WeaviateIndex]:
    index = open_live_index()
    try:
        yield index
    finally:
        if not index._closed:
            index.drop()


class TestWeaviateLiveContract(IndexContract):
    """The shared contract, against the real server."""

    @pytest.fixture
    def index(self, live_index: WeaviateIndex) -> Iterator[Index]:
        yield live_index


def test_live_round_trip_with_metadata_filters_and_tenants(live_index: WeaviateIndex) -> None:
    chunks = [
        Chunk(id=f"doc#{i}", doc_id="doc", text=text, position=i, source="/live/doc.md", metadata=meta)
        for i, (text, meta) in enumerate(
            [("zebras have stripes", {"year": 2020, "tags": ["a"]}), ("lions roar", {"year": "2020"})]
        )
    ]
    vectors = np.eye(2, 4, dtype=np.float32)
    state = DocumentState(doc_id="doc", source="/live/doc.md", doc_hash="h", chunk_ids=("doc#0", "doc#1"))
    live_index.replace_document(state, chunks, vectors, tenant="live-tenant")
    request = SearchRequest(query_text="zebras", query_vector=vectors[0], tenant="live-tenant", k=5)
    hits = live_index.search(request)
    assert hits[0].chunk_id == "doc#0" and hits[0].distance is not None
    filtered = live_index.search(request.model_copy(update={"filters": F("year") == "2020"}))
    assert [h.chunk_id for h in filtered] == ["doc#1"]
    assert live_index.tenants() == ["live-tenant"]
