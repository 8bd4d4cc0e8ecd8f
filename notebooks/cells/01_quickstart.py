# %% [markdown]
# # Quickstart: ingest, search, ask
#
# Everything here runs offline on the local defaults: MiniLM embeddings, the embedded store
# (SQLite + numpy, no server) and the SmolLM2-135M chat model on the CPU.

# %%
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path.cwd().resolve().parent if Path.cwd().name == "notebooks" else Path.cwd().resolve()
CORPUS = REPO / "examples" / "sample_corpus"
STORE = Path(os.environ.get("RAGTUNE_STORE") or tempfile.mkdtemp(prefix="ragtune-quickstart-"))
print("store:", STORE)

# %% [markdown]
# ## Ingest
#
# `sync_paths` loads, chunks, embeds and indexes incrementally: a second run over unchanged files
# re-embeds nothing.

# %%
from ragtune.config import Settings
from ragtune.ingest import sync_paths
from ragtune.workspace import Workspace

workspace = Workspace(Settings.load({"store": str(STORE)}))
report = sync_paths(workspace, [CORPUS])
print(report.model_dump(include={"added", "updated", "unchanged", "deleted", "chunks_added", "errors"}))
again = sync_paths(workspace, [CORPUS])
print("second run:", again.model_dump(include={"added", "unchanged", "chunks_embedded"}))
print(workspace.index.stats())

# %% [markdown]
# ## Search
#
# Vector, BM25 and hybrid search (Weaviate's `relativeScore` fusion with an explicit `alpha`), with
# metadata filters. Each hit carries the fused `score` and the raw vector `distance` separately.

# %%
from ragtune.filters import F

searcher = workspace.searcher()
query = "What happens when I go over the API rate limit?"
for mode in ("vector", "bm25", "hybrid"):
    hits = searcher.search(query, mode=mode, k=3)
    print(mode, [(Path(h.source).name, round(h.score, 3)) for h in hits])

hits = searcher.search("pricing", k=3, filters=F("source").contains("pricing"))
print("filtered:", [(Path(h.source).name, h.chunk.section) for h in hits])

# %% [markdown]
# The same search as a LangChain retriever and a LlamaIndex retriever:

# %%
from ragtune.retrievers.langchain import RagtuneRetriever
from ragtune.retrievers.llamaindex import RagtuneLlamaRetriever

docs = RagtuneRetriever(searcher=searcher, k=2).invoke(query)
print([d.metadata["source"].split("/")[-1] for d in docs])
nodes = RagtuneLlamaRetriever(searcher, k=2).retrieve(query)
print([n.node.metadata["source"].split("/")[-1] for n in nodes])

# %% [markdown]
# ## Ask
#
# `build_chain` routes each question (`rag`, `finetuned`, `hybrid` or `direct`), retrieves where the
# route needs it, and answers with numbered citations, usage, latency and cost. Its defaults are
# `ragtune ask`'s: with the tiny local model under strict grounding, a `rag` answer quotes the
# passages (mode `extract`, no generator call); the `direct` route below shows the model writing.

# %%
from ragtune.chains import ChainOptions, build_chain

chain = build_chain(workspace, options=ChainOptions(max_new_tokens=64))
answer = chain.invoke("What happens when a request goes over the API rate limit?")
print(answer.text)
print("route:", answer.route, "|", answer.decision.reason if answer.decision else "")
for citation in answer.citations:
    print(f"[{citation.number}] {Path(citation.source).name} chunk {citation.chunk_id[:12]}")
print("tokens in/out:", answer.usage.input_tokens, answer.usage.output_tokens, "| latency ms:", answer.usage.latency_ms)

# %% [markdown]
# Force a route, and stream: tokens first, then the final `Answer`.

# %%
for piece in chain.stream({"question": "Say hello in five words.", "route": "direct"}):
    print(piece if isinstance(piece, str) else f"\n[{piece.route}, {piece.usage.output_tokens} tokens]", end="")

# %%
workspace.close()
