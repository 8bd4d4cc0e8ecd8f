# %% [markdown]
# # RAG vs fine-tuning, measured on your own data
#
# `ragtune compare` runs three approaches side by side on a corpus and an evaluation file:
#
# - **rag**: retrieve passages, answer with the base model, cite them;
# - **finetuned**: a model fine-tuned on questions generated from the corpus, no retrieval;
# - **hybrid**: retrieve passages, answer with the fine-tuned model.
#
# It measures two needs side by side: **knowledge** (is the answer right? facts that change are
# retrieval's strength) and **behaviour** (does the answer meet the required format, labels, length
# or wording? fine-tuning's strength), plus retrieval quality, latency, cost per 1,000 queries,
# training cost, and **update cost**: how long until each approach answers facts added after the
# first run. The recommendation at the end follows from these numbers and their intervals.
#
# Here the behaviour requirement is `examples/compare/expect.json`: every answer must be a JSON
# object `{"answer": ..., "source": ...}`. rag is asked for it in its prompt; the fine-tuned model
# is trained on generated questions whose answers are rendered as that JSON (never on an evaluation
# question); hybrid is the same model with retrieval.
#
# To keep this notebook to a few minutes on a CPU it compares on half of the sample questions with
# one training epoch. The full run is one command:
#
# ```bash
# ragtune compare examples/compare/corpus --eval examples/compare/eval.jsonl \
#     --expect examples/compare/expect.json \
#     --new-facts examples/compare/new_facts --out compare-out --store compare-store
# ```

# %%
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path.cwd().resolve().parent if Path.cwd().name == "notebooks" else Path.cwd().resolve()
EXAMPLE = REPO / "examples" / "compare"
STORE = Path(os.environ.get("RAGTUNE_STORE") or tempfile.mkdtemp(prefix="ragtune-compare-"))
OUT = STORE.parent / (STORE.name + "-report")

from ragtune.evaluation.eval_file import load_eval, load_expect

expect = load_expect(EXAMPLE / "expect.json")
print("behaviour requirement:", expect.describe())
items = load_eval(EXAMPLE / "eval.jsonl", expect)
questions = [i for i in items if not i.update][::2]
new_fact_questions = [i for i in items if i.update][:2]
print(len(questions), "questions;", len(new_fact_questions), "about new facts")
for item in questions[:3]:
    print(f"  {item.question}  ->  {item.answer}  ({', '.join(item.sources)})")

# %% [markdown]
# ## Run the comparison
#
# A progress callback receives one event per step of each phase.

# %%
import time

from ragtune.config import Settings
from ragtune.evaluation.compare import CompareConfig, compare
from ragtune.workspace import Workspace

last = {"phase": None, "time": 0.0}


def progress(event):
    now = time.monotonic()
    if event.phase != last["phase"] or now - last["time"] > 20:
        print(f"{event.phase:<28} {event.done}/{event.total or '?'}")
        last.update(phase=event.phase, time=now)


with Workspace(Settings.load({"store": str(STORE)})) as workspace:
    results = compare(
        workspace,
        [EXAMPLE / "corpus"],
        [*questions, *new_fact_questions],
        new_facts=[EXAMPLE / "new_facts"],
        config=CompareConfig(train_epochs=1),
        progress=progress,
    )

# %% [markdown]
# ## Knowledge and behaviour, side by side
#
# Knowledge is the share of answers that are correct (judged on the JSON `answer` field);
# behaviour the share meeting every rule of the requirement. Both with 95% bootstrap intervals.

# %%
for name, result in results.approaches.items():
    knowledge = result.quality.intervals["correct"].describe("{:.0%}")
    behaviour = result.behaviour.intervals["compliance"].describe("{:.0%}")
    print(f"{name:>9}: knowledge {knowledge:<22} behaviour {behaviour}")

# %% [markdown]
# ## The numbers

# %%
from ragtune.evaluation.report import summary_rows

approaches = results.approaches
print(f"{'':<28}" + "".join(f"{name:>16}" for name in approaches))
for label, cells in summary_rows(approaches):
    print(f"{label:<28}" + "".join(f"{cell[:15]:>16}" for cell in cells))

# %% [markdown]
# Per question, side by side (the small local model answers clumsily; the metrics say how much):

# %%
for name, result in approaches.items():
    first = result.questions[0]
    print(f"{name:>9}: {first.question}\n           -> {first.answer[:100]!r} (F1 {first.token_f1:.2f}, correct {first.correct})")

# %% [markdown]
# ## Recommendation (derived from the numbers above)

# %%
recommendation = results.recommendation
print(recommendation.summary, "\n")
for name, failed in recommendation.failures.items():
    print(f"{name} fails: {', '.join(failed) or 'nothing'}")
print("behaviour:", recommendation.behaviour.reason)
print("break-even:", recommendation.break_even.statement if recommendation.break_even else "n/a")

# %% [markdown]
# ## Report and charts
#
# `write_report` writes `results.json` (a key per approach), `report.md`, `report.html` and the charts.

# %%
from IPython.display import Image, display

from ragtune.evaluation.report import write_report

paths = write_report(results, OUT)
print(sorted(p.name for p in paths.values()))
for chart in ("axes.png", "quality.png", "latency.png", "cost.png", "update.png"):
    display(Image(filename=str(paths[chart])))
