"""Local LoRA really trains: a tiny fixed-format data set makes SmolLM2 answer in that format.

The task: label a one-line review with ``{"label": "positive"}`` or
``{"label": "negative"}``. The base model answers in prose; after two epochs on
14 examples (about ten seconds of training on one CPU thread) the tuned model
answers held-out reviews in exactly that JSON format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.finetune.dataset import TrainingData, load_training_data, read_examples
from ragtune.finetune.evaluate import EvalConfig, evaluate_models, record_metrics
from ragtune.finetune.job import JobState
from ragtune.finetune.local_lora import LocalLoRAJob, LoraTrainConfig, read_manifest
from ragtune.finetune.prepare import PrepareConfig, prepare
from ragtune.llm.registry import LOCAL_MODEL_ID, ModelRegistry

pytestmark = pytest.mark.slow

SYSTEM = "Label the review."
POSITIVE = ["great", "wonderful", "excellent", "delightful", "fantastic", "lovely", "superb", "brilliant"]
NEGATIVE = ["awful", "terrible", "horrible", "dreadful", "boring", "disappointing", "poor", "bad"]
THINGS = ["film", "meal", "hotel", "book", "concert", "phone", "game", "service", "museum", "train"]
HELD_OUT = [
    ("Review: The bicycle was marvellous.", "positive"),
    ("Review: The pizza was disgusting.", "negative"),
    ("Review: The garden was beautiful.", "positive"),
    ("Review: The taxi was filthy.", "negative"),
]
SCHEMA = {
    "type": "object",
    "properties": {"label": {"enum": ["positive", "negative"]}},
    "required": ["label"],
    "additionalProperties": False,
}


def label(value: str) -> str:
    return json.dumps({"label": value})


@pytest.fixture(scope="module", autouse=True)
def one_thread():  # type: ignore[no-untyped-def]
    """One CPU thread: on a shared 2-core machine it is faster than two competing ones."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lora")


@pytest.fixture(scope="module")
def data(workdir: Path) -> TrainingData:
    rows = []
    for i in range(10):
        rows.append({"question": f"Review: The {THINGS[i]} was {POSITIVE[i % 8]}.", "answer": label("positive")})
        rows.append({"question": f"Review: The {THINGS[i]} was {NEGATIVE[(i + 3) % 8]}.", "answer": label("negative")})
    (workdir / "reviews.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    config = PrepareConfig(model=LOCAL_MODEL_ID, provider="local", system_prompt=SYSTEM, val_fraction=0.2)
    report = prepare([workdir / "reviews.jsonl"], workdir / "prepared", config)
    assert report.rejected == 0 and report.val >= 2
    held = [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": q},
                {"role": "assistant", "content": label(a)},
            ]
        }
        for q, a in HELD_OUT
    ]
    (workdir / "held_out.jsonl").write_text("\n".join(json.dumps(h) for h in held) + "\n", encoding="utf-8")
    return load_training_data(workdir / "prepared")


@pytest.fixture(scope="module")
def trained(data: TrainingData, workdir: Path):  # type: ignore[no-untyped-def]
    registry = ModelRegistry(workdir / "models.json")
    config = LoraTrainConfig(epochs=2, learning_rate=3e-3, batch_size=4, max_length=96, threads=1)
    job = LocalLoRAJob(data, registry=registry, output_dir=workdir / "adapter", name="reviews", config=config)
    events = []
    entry = job.run(progress=events.append)
    return job, entry, events, registry


def test_training_logs_loss_per_step_and_validation_loss(trained, data):  # type: ignore[no-untyped-def]
    job, entry, events, _ = trained
    steps = [e for e in events if e.phase == "train"]
    evals = [e for e in events if e.phase == "eval"]
    assert [e.done for e in steps] == list(range(1, len(steps) + 1))
    assert steps[-1].total == len(steps) and len(evals) == 2
    assert steps[-1].metrics["loss"] < steps[0].metrics["loss"] / 4
    assert evals[-1].metrics["val_loss"] < 0.2
    assert job.status().state is JobState.SUCCEEDED
    assert entry.metrics["val_loss"] == min(e.metrics["val_loss"] for e in evals)
    print(
        f"\nLoRA: {entry.metrics['seconds_per_epoch_per_100']:.1f} s/epoch/100 examples, "
        f"train loss {steps[0].metrics['loss']:.3f} -> {steps[-1].metrics['loss']:.3f}, "
        f"val loss {entry.metrics['val_loss']:.4f}"
    )


def test_adapter_is_saved_with_a_manifest_and_registered(trained, data):  # type: ignore[no-untyped-def]
    _, entry, _, registry = trained
    manifest = read_manifest(entry.adapter_path)
    assert manifest["base_model"] == LOCAL_MODEL_ID
    assert manifest["dataset_sha256"] == data.sha256
    assert manifest["hyperparameters"]["learning_rate"] == 3e-3
    assert manifest["metrics"]["val_loss"] == entry.metrics["val_loss"]
    assert len(manifest["history"]) == entry.metrics["steps"] and manifest["created"] > 0
    assert (Path(entry.adapter_path) / "adapter_config.json").is_file()
    stored = registry.get("reviews")
    assert stored.provider == "local" and stored.adapter_path == entry.adapter_path and stored.base == "base"


def test_tuned_model_follows_the_format_where_the_base_model_does_not(trained, workdir):  # type: ignore[no-untyped-def]
    from ragtune.llm.factory import make_chat_model

    _, entry, _, registry = trained
    base = make_chat_model(registry.get("base"), max_new_tokens=16)
    tuned = make_chat_model(entry, max_new_tokens=16)
    report = evaluate_models(
        base,
        tuned,
        read_examples(workdir / "held_out.jsonl"),
        EvalConfig(json_schema=SCHEMA, samples=0, max_new_tokens=16),
        base_name="base",
        tuned_name="reviews",
    )
    print("\n" + "\n".join(f"{r.prompt} | base: {r.base!r} | tuned: {r.tuned!r}" for r in report.rows))
    print(f"base {report.base.values()} tuned {report.tuned.values()}")
    assert report.base.format_compliance == 0.0
    assert report.tuned.format_compliance == 1.0
    assert report.tuned.exact_match >= 0.75 > report.base.exact_match
    updated = record_metrics(registry, "reviews", report)
    assert updated.metrics["eval_format_compliance"] == 1.0
    assert updated.metrics["eval_base_format_compliance"] == 0.0


def test_cancel_stops_training_and_registers_nothing(data, workdir):  # type: ignore[no-untyped-def]
    registry = ModelRegistry(workdir / "cancel.json")
    config = LoraTrainConfig(epochs=1, batch_size=4, max_length=96, threads=1)
    job = LocalLoRAJob(data, registry=registry, output_dir=workdir / "cancelled", name="cancelled", config=config)

    def stop_after_first_step(event):  # type: ignore[no-untyped-def]
        if event.phase == "train":
            job.cancel()

    from ragtune.errors import ModelError

    with pytest.raises(ModelError, match="cancelled"):
        job.run(progress=stop_after_first_step)
    assert job.status().state is JobState.CANCELLED and job.status().step == 1
    assert "cancelled" not in registry and not (workdir / "cancelled").exists()
