# %% [markdown]
# # Routing: which questions go to the documents, the fine-tuned model, both, or neither
#
# A `Router` stacks strategies (keyword **rules**, **semantic** similarity to route descriptions and
# examples, an **llm** classifier) and returns a `RouteDecision`: the route, a confidence, per-route
# scores and a reason. This notebook uses the packaged default routes and the local MiniLM embedder,
# then fits the semantic strategy on labelled queries and measures it with a confusion matrix.

# %%
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path.cwd().resolve().parent if Path.cwd().name == "notebooks" else Path.cwd().resolve()
STORE = Path(os.environ.get("RAGTUNE_STORE") or tempfile.mkdtemp(prefix="ragtune-routing-"))

from ragtune.config import Settings
from ragtune.ingest import sync_paths
from ragtune.routing import Rule, build_router
from ragtune.workspace import Workspace

workspace = Workspace(Settings.load({"store": str(STORE)}))
sync_paths(workspace, [REPO / "examples" / "compare" / "corpus"])
router = build_router(embedder=workspace.embedder)
for name, route in router.routes.routes.items():
    print(f"{name:>9}: {route.description[:90]}...")

# %% [markdown]
# ## Decisions
#
# Each decision says which strategy decided and why; `confident=False` means the no-confident-route
# policy chose (by default: fall back to `rag`).

# %%
queries = [
    "What is the national dish of Veloria?",
    "Rewrite this apology in our usual support tone.",
    "Explain the festival dates to a customer in our friendly house style.",
    "Tell me a joke about penguins.",
]
for decision, query in zip(router.route_many(queries), queries):
    scores = ", ".join(f"{k} {v:.2f}" for k, v in sorted(decision.scores.items()))
    print(f"{query[:60]:<62} -> {decision.route:<9} conf {decision.confidence:.2f} ({decision.strategy}; {scores})")

# %% [markdown]
# Rules run first and override everything else, e.g. to pin anything that mentions a ticket id to the
# fine-tuned model:

# %%
ruled = build_router(embedder=workspace.embedder, rules=[Rule(pattern=r"\bTICKET-\d+\b", kind="regex", route="finetuned")])
decision = ruled.route("Summarise TICKET-4411 for the weekly report")
print(decision.route, decision.strategy, "|", decision.reason)

# %% [markdown]
# ## Retrieval confidence
#
# With a retriever, a `rag` decision whose best passage is too weak either abstains or goes `direct`
# (answered without documents, and saying so) instead of citing irrelevant text.

# %%
from ragtune.routing import RouterConfig

checked = build_router(
    embedder=workspace.embedder,
    retriever=workspace.searcher().search,
    config=RouterConfig(retrieval_threshold=0.45, on_weak_retrieval="direct"),
)
for query in ["What is the national dish of Veloria?", "What does the handbook say about quantum tax law?"]:
    d = checked.route(query)
    score = "n/a" if d.retrieval_score is None else f"{d.retrieval_score:.2f}"
    print(f"{query:<52} -> {d.route:<7} retrieval {score} | {d.reason}")

# %% [markdown]
# ## Fit and evaluate
#
# Labelled queries (different from the route examples) choose the semantic thresholds; a held-out
# half measures accuracy and the confusion matrix. `None` marks out-of-scope queries that no route
# should claim confidently.

# %%
labelled = [
    ("Which year was the university founded according to the docs?", "rag"),
    ("What does the policy document say about refunds after 30 days?", "rag"),
    ("How many days does the festival last?", "rag"),
    ("Look up the speed limit stated in the transport guide.", "rag"),
    ("Which team owns the billing service per the runbook?", "rag"),
    ("What is the default port in the installation manual?", "rag"),
    ("Make this paragraph sound like our brand voice.", "finetuned"),
    ("Label this support ticket with the right category.", "finetuned"),
    ("Write a short thank-you note the way our team does.", "finetuned"),
    ("Turn this bug report into our standard changelog entry.", "finetuned"),
    ("Reply to this angry review in our calm support style.", "finetuned"),
    ("Rephrase this announcement in our house format.", "finetuned"),
    ("Tell the customer what the warranty document says, in our support tone.", "hybrid"),
    ("Draft our usual newsletter blurb about the festival dates from the docs.", "hybrid"),
    ("Write a friendly reply quoting the refund rules from the policy.", "hybrid"),
    ("Summarise the handbook's holiday policy as one of our team updates.", "hybrid"),
    ("Explain the documented API limits in our onboarding email style.", "hybrid"),
    ("Answer this client's question about the contract in our formal template.", "hybrid"),
    ("What's the weather like on Mars today?", None),
    ("Play some jazz music.", None),
]
fit_set, eval_set = labelled[0::2], labelled[1::2]
report = router.evaluate(eval_set)
print(f"before fitting: accuracy {report.accuracy:.2f} on {report.n}")
fits = router.fit(fit_set)
print(f"fitted threshold {fits[0].threshold:.2f}, k {fits[0].k}, knn weight {fits[0].knn_weight:.2f}")
report = router.evaluate(eval_set)
print(f"after fitting:  accuracy {report.accuracy:.2f}, in-scope {report.in_scope_accuracy:.2f}")

# %%
import io

from IPython.display import Image
from matplotlib.figure import Figure


def show(figure):
    """The figure as a PNG (works whatever matplotlib backend the kernel has)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return Image(buffer.getvalue())


labels = sorted({*report.confusion, *(p for row in report.confusion.values() for p in row)})
matrix = [[report.confusion.get(t, {}).get(p, 0) for p in labels] for t in labels]
figure = Figure(figsize=(4.5, 4))
ax = figure.add_subplot()
ax.imshow(matrix, cmap="Blues")
ax.set_xticks(range(len(labels)), labels, rotation=30)
ax.set_yticks(range(len(labels)), labels)
ax.set_xlabel("predicted")
ax.set_ylabel("labelled")
for i, row in enumerate(matrix):
    for j, count in enumerate(row):
        ax.text(j, i, count, ha="center", va="center")
ax.set_title("Routing confusion matrix (held-out half)")
figure.tight_layout()
show(figure)

# %%
workspace.close()
