# %% [markdown]
# # Fine-tuning: prepare, local LoRA, evaluate, register
#
# The behaviour to teach: label a support ticket with exactly one word (`billing`, `bug` or
# `account`). The base SmolLM2 model chats instead; a few minutes of LoRA on the CPU teach it the format.

# %%
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

STORE = Path(os.environ.get("RAGTUNE_STORE") or tempfile.mkdtemp(prefix="ragtune-finetune-"))
WORK = STORE / "finetune-demo"
WORK.mkdir(parents=True, exist_ok=True)

tickets = {
    "billing": [
        "I was charged twice this month", "Please send me last year's invoices", "My card payment failed",
        "Can I get a refund for the annual plan?", "Why did my bill go up?", "Change the VAT number on invoices",
        "The discount code was not applied", "Switch me to monthly billing", "Remove the extra seat from my bill",
        "I need a receipt for my purchase",
    ],
    "bug": [
        "The export button does nothing", "App crashes when I open settings", "Search returns no results anymore",
        "Images do not load on the dashboard", "Sync stopped working after the update", "Dark mode text is unreadable",
        "The editor freezes on long notes", "Notifications arrive twice", "Login page shows a blank screen",
        "Attachments fail to upload",
    ],
    "account": [
        "How do I change my email address?", "Please delete my account", "I forgot my password",
        "Add a new admin to our workspace", "Enable two-factor authentication", "Transfer ownership to my colleague",
        "Rename our team workspace", "Merge my two accounts", "Unlock my account after failed logins",
        "Change my display name",
    ],
}
raw = WORK / "tickets.jsonl"
with raw.open("w", encoding="utf-8") as handle:
    for label, texts in tickets.items():
        for text in texts:
            handle.write(json.dumps({"text": text, "label": label}) + "\n")
    handle.write('{"text": "broken record with no label"}\n')  # rejected, with file and line
print(raw.read_text().count("\n"), "records written to", raw)

# %% [markdown]
# ## Prepare
#
# Records in any common shape become OpenAI chat fine-tuning JSONL. Bad records are never dropped
# silently: they go to `rejects.jsonl` with file, line and reason. The split is by source document,
# and the report counts tokens and estimates what the same data would cost to train on OpenAI.

# %%
from ragtune.finetune.prepare import PrepareConfig, prepare
from ragtune.llm.registry import LOCAL_MODEL_ID

config = PrepareConfig(
    model=LOCAL_MODEL_ID,
    provider="local",
    labels=("billing", "bug", "account"),
    val_fraction=0.2,
    system_prompt="Label the support ticket: billing, bug or account. Reply with the label only.",
)
prepared = prepare([raw], WORK / "prepared", config)
print(prepared.model_dump(include={"read", "train", "val", "rejected", "rejected_by_code"}))
print((WORK / "prepared" / "rejects.jsonl").read_text().strip()[:200])

# %% [markdown]
# ## Train a LoRA adapter on the CPU
#
# Loss is computed on the assistant tokens only; the validation loss drives early stopping, and the
# best adapter is saved with a manifest (base model, dataset hash, hyperparameters, metrics).

# %%
from ragtune.config import Settings
from ragtune.finetune.dataset import load_training_data
from ragtune.finetune.local_lora import LocalLoRAJob, LoraTrainConfig
from ragtune.workspace import Workspace

registry = Workspace(Settings.load({"store": str(STORE)})).registry
data = load_training_data(WORK / "prepared")
job = LocalLoRAJob(
    data,
    registry=registry,
    output_dir=WORK / "adapter",
    name="ticket-labeller",
    config=LoraTrainConfig(epochs=4, learning_rate=3e-3, batch_size=4, max_length=64),
)
losses = []
entry = job.run(progress=lambda e: losses.append(e.metrics["loss"]) if "loss" in e.metrics else None)
print("registered:", entry.name, entry.adapter_path)
print("metrics:", {k: round(v, 3) for k, v in entry.metrics.items()})

# %%
import io

from IPython.display import Image
from matplotlib.figure import Figure


def show(figure):
    """The figure as a PNG (works whatever matplotlib backend the kernel has)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return Image(buffer.getvalue())


figure = Figure(figsize=(5, 2.5))
ax = figure.add_subplot()
ax.plot(range(1, len(losses) + 1), losses, marker="o")
ax.set_xlabel("step")
ax.set_ylabel("training loss")
ax.set_title("LoRA training loss")
figure.tight_layout()
show(figure)

# %% [markdown]
# ## Evaluate base vs fine-tuned, and record the metrics in the registry

# %%
from ragtune.finetune.evaluate import EvalConfig, evaluate_models, record_metrics
from ragtune.llm import make_chat_model

base_model = make_chat_model(registry.get("base"), max_new_tokens=8)
tuned_model = make_chat_model(registry.get("ticket-labeller"), max_new_tokens=8)
result = evaluate_models(
    base_model, tuned_model, data.val, EvalConfig(pattern="billing|bug|account", samples=0, limit=6, max_new_tokens=8)
)
print(f"{'metric':<18}{'base':>8}{'tuned':>8}")
for metric, value in result.tuned.values().items():
    print(f"{metric:<18}{result.base.values().get(metric, 0):>8.2f}{value:>8.2f}")
for row in result.rows[:4]:
    print(f"{row.prompt[:40]!r:<44} expected {row.expected!r:<10} base {row.base[:30]!r:<34} tuned {row.tuned[:20]!r}")
_ = record_metrics(registry, "ticket-labeller", result)

# %%
for model in registry.list():
    print(f"{model.name:<16} {model.provider:<6} {model.model_id:<24} adapter={model.adapter_path} metrics={len(model.metrics)}")
