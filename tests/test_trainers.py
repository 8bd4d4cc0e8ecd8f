"""``make_trainer`` picks the fine-tuning job; ``finetune train --trainer`` uses it, ``--backend`` still works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.config import Settings
from ragtune.errors import ConfigError
from ragtune.finetune.dataset import TrainingData, load_training_data
from ragtune.finetune.local_lora import LocalLoRAJob
from ragtune.finetune.openai_job import OpenAIFineTuneJob
from ragtune.finetune.prepare import PrepareConfig, prepare
from ragtune.finetune.trainers import ADAPTERS_DIR, TrainOptions, make_trainer, registry_for
from ragtune.workspace import Workspace

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


@pytest.fixture
def openai_env(openai_server, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    return openai_server


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    rows = [
        {"question": f"Q{i}?", "answer": f"A{i}.", "doc_id": f"d{i % 4}", "doc_hash": f"h{i % 4}"} for i in range(12)
    ]
    source = tmp_path / "qa.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    prepare([source], tmp_path / "prepared", PrepareConfig(val_fraction=0.25))
    return tmp_path / "prepared"


@pytest.fixture
def data(prepared: Path) -> TrainingData:
    return load_training_data(prepared)


def test_local_trainer_defaults_to_the_store_adapter_folder(data: TrainingData, tmp_path: Path) -> None:
    settings = Settings.load({"store": tmp_path / "store"})
    job = make_trainer("local", data, settings=settings, name="tuned", options=TrainOptions(epochs=2))
    assert isinstance(job, LocalLoRAJob)
    assert job.output_dir == tmp_path / "store" / ADAPTERS_DIR / "tuned"
    assert job.config.epochs == 2
    assert job.registry.path == Workspace(settings).registry_path == registry_for(settings).path


def test_openai_trainer_maps_the_options(openai_env, data: TrainingData, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.load({"store": tmp_path / "store"})
    options = TrainOptions(epochs=3, learning_rate=0.5, suffix="faq", poll_interval=0)
    job = make_trainer("openai", data, settings=settings, name="faq", options=options)
    assert isinstance(job, OpenAIFineTuneJob)
    assert job.config.hyperparameters() == {"n_epochs": 3, "learning_rate_multiplier": 0.5}
    assert (job.config.suffix, job.config.poll_interval) == ("faq", 0)


def test_unknown_trainer_is_a_config_error(data: TrainingData, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="local, openai"):
        make_trainer("nope", data, settings=Settings.load({"store": tmp_path}))


def test_cli_trainer_flag_and_the_deprecated_backend_spelling(openai_env, prepared: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = str(tmp_path / "store")
    common = ("--data", str(prepared), "--no-wait", "--store", store, "--json")
    code, out, err = run("finetune", "train", "--trainer", "openai", "--name", "a", *common)
    assert code == 0 and json.loads(out)["state"] == "validating_files"
    assert "deprecated" not in err
    code, out, err = run("finetune", "train", "--backend", "openai", "--name", "b", *common)
    assert code == 0 and json.loads(out)["state"] == "validating_files"
    assert "--backend local|openai` is deprecated; use --trainer" in err
    assert len(openai_env.requests_to("/v1/fine_tuning/jobs", "POST")) == 2


def test_cli_trainer_flag_errors(prepared: Path) -> None:
    code, _, err = run("finetune", "train", "--trainer", "nope", "--data", str(prepared))
    assert code == 2 and "--trainer must be local or openai" in err
    code, _, err = run("finetune", "train", "--trainer", "local", "--backend", "openai", "--data", str(prepared))
    assert code == 2 and "disagree" in err
    code, _, err = run("finetune", "train", "--index-backend", "nope", "--data", str(prepared))
    assert code == 2
