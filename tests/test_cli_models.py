"""``ragtune models add|list|warm``, ``--chat-model`` over OpenAI, ``--json`` errors and hidden secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.config import Settings
from ragtune.errors import ConfigError
from ragtune.llm.registry import LOCAL_MODEL_ID, ModelRegistry, parse_chat_model, resolve_base_entry
from ragtune.workspace import REGISTRY_NAME, Workspace

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_parse_chat_model_forms() -> None:
    assert parse_chat_model("local").model_id == LOCAL_MODEL_ID
    assert parse_chat_model("local:smollm2-135m-instruct").model_id == LOCAL_MODEL_ID
    own = parse_chat_model("local:/models/qwen")
    assert (own.name, own.provider, own.model_id) == ("base", "local", "/models/qwen")
    remote = parse_chat_model("openai:gpt-4o-mini")
    assert (remote.provider, remote.model_id) == ("openai", "gpt-4o-mini")
    for bad in ("gpt-4o-mini", "openai:", "azure:gpt-4o", "local:"):
        with pytest.raises(ConfigError, match="local:<hf-id-or-path>"):
            parse_chat_model(bad)


def test_chat_model_setting_replaces_base_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ModelRegistry(tmp_path / REGISTRY_NAME)
    assert resolve_base_entry(registry, Settings()).model_id == LOCAL_MODEL_ID
    monkeypatch.setenv("RAGTUNE_CHAT_MODEL", "openai:gpt-4o-mini")
    settings = Settings.load()
    assert settings.chat_model == "openai:gpt-4o-mini"
    assert resolve_base_entry(registry, settings).provider == "openai"
    monkeypatch.delenv("RAGTUNE_CHAT_MODEL")
    config = tmp_path / "ragtune.toml"
    config.write_text('chat_model = "local:/models/mine"\n', encoding="utf-8")
    assert Settings.load(config_file=config).chat_model == "local:/models/mine"
    with pytest.raises(ConfigError, match="chat_model"):
        Settings.load({"chat_model": "mistral"})


def test_api_keys_are_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    settings = Settings.load({"weaviate_api_key": "wv-very-secret"})
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert "very-secret" not in shown
    assert settings.secret("openai_api_key") == "sk-very-secret"
    assert settings.weaviate_api_key is not None
    assert settings.weaviate_api_key.get_secret_value() == "wv-very-secret"


def test_models_add_then_list(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    code, out, _ = run(
        "models", "add", "gpt", "--provider", "openai", "--model-id", "gpt-4o-mini", "--store", store, "--json"
    )
    assert code == 0 and json.loads(out)["model_id"] == "gpt-4o-mini"
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}", encoding="utf-8")
    code, out, _ = run("models", "add", "mine", "--provider", "local", "--model-id", str(model_dir), "--store", store)
    assert code == 0 and out == ""
    code, out, _ = run("models", "list", "--store", store, "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and set(rows) == {"base", "gpt", "mine"}
    assert (rows["gpt"]["provider"], rows["mine"]["model_id"]) == ("openai", str(model_dir.resolve()))
    registry = Workspace(Settings.load({"store": store})).registry  # where the CLI wrote
    assert registry.path == Path(store) / REGISTRY_NAME and registry.names() == ["base", "gpt", "mine"]


def test_models_add_rejects_bad_input_as_json(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    code, out, _ = run("models", "add", "x", "--provider", "azure", "--model-id", "m", "--store", store, "--json")
    assert code == 2 and json.loads(out)["error"]["type"] == "usage"
    code, out, _ = run(
        "models", "add", "x", "--provider", "local", "--model-id", str(tmp_path / "none"), "--store", store, "--json"
    )
    error = json.loads(out)["error"]
    assert code == 2 and error["type"] == "ModelError" and str(tmp_path / "none") in error["message"]
    code, out, _ = run(
        "models", "add", "x", "--provider", "openai", "--model-id", "m", "--adapter", str(tmp_path), "--json"
    )
    assert code == 2 and "only for local models" in json.loads(out)["error"]["message"]
    assert not (tmp_path / "store" / REGISTRY_NAME).exists()


def test_models_warm_is_fast_when_warm(tmp_path: Path) -> None:
    code, out, _ = run("models", "warm", "--store", str(tmp_path), "--json")
    first = json.loads(out)
    assert code == 0 and first["model"] == LOCAL_MODEL_ID and first["provider"] == "local"
    code, out, _ = run("models", "warm", "--store", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["built"] is False  # the second call finds the cache


def test_ask_with_openai_chat_model(openai_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    openai_server.chat.reply("Four.")
    code, out, err = run(
        "ask",
        "What is 2 + 2?",
        "--route",
        "direct",
        "--chat-model",
        "openai:gpt-4o-mini",
        "--store",
        str(tmp_path),
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["answer"] == "Four." and doc["model"] == "gpt-4o-mini"
    (request,) = openai_server.chat.requests
    assert request.body["model"] == "gpt-4o-mini"
    assert request.headers["authorization"] == "Bearer test-key"


def test_json_errors_are_one_document(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    code, out, _ = run("search", "x", "--filter", "no operator here", "--store", store, "--json")
    assert code == 2 and json.loads(out) == {"error": {"type": "usage", "message": json.loads(out)["error"]["message"]}}
    assert "Cannot parse filter" in json.loads(out)["error"]["message"]

    missing = tmp_path / "missing.jsonl"
    code, out, _ = run("finetune", "prepare", str(missing), "--out", str(tmp_path / "prep"), "--json")
    error = json.loads(out)["error"]
    assert code == 1 and error["type"] == "InputError" and str(missing) in error["message"]

    code, out, _ = run("ask", "Hi", "--chat-model", "mistral", "--store", store, "--json")
    error = json.loads(out)["error"]
    assert code == 2 and error["type"] == "ConfigError" and "openai:<model-id>" in error["message"]

    code, out, err = run("ask", "Hi", "--chat-model", "mistral", "--store", store)
    assert code == 2 and out == "" and "openai:<model-id>" in err  # without --json: stderr only
