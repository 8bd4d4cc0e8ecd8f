"""Model registry, price table, token counters and context windows (no model loaded)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from ragtune.errors import ConfigError
from ragtune.llm import LOCAL_MODEL_ID, ModelEntry, ModelRegistry, Price, PriceTable, context_window, token_counter
from ragtune.llm.tokens import _encoding, count_chat_tokens, encoding_name, training_token_limit
from ragtune.workspace import REGISTRY_NAME

FT_ID = "ft:gpt-4o-mini-2024-07-18:acme::abc123"


# -- registry ---------------------------------------------------------------------------------------


def test_registry_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "store" / REGISTRY_NAME
    registry = ModelRegistry(path)
    assert [e.name for e in registry.list()] == ["base"]
    assert registry.get("base").provider == "local" and registry.get("base").model_id == LOCAL_MODEL_ID
    assert not path.exists()  # reading never writes

    tuned = ModelEntry(
        name="finetuned",
        provider="openai",
        model_id=FT_ID,
        base="gpt-4o-mini-2024-07-18",
        metrics={"exact_match": 0.71},
        snapshot={"doc-1": "sha256:aa", "doc-2": "sha256:bb"},
        snapshot_chunks={"doc-1": ["doc-1#0", "doc-1#1"]},
        extra={"job_id": "ftjob-1", "hyperparameters": {"n_epochs": 3}},
    )
    registry.register(tuned)
    registry.register(ModelEntry(name="lora", provider="local", model_id=LOCAL_MODEL_ID, adapter_path="adapters/x"))

    reopened = ModelRegistry(path)
    assert reopened.get("finetuned") == tuned
    assert [e.name for e in reopened.list()] == ["base", "finetuned", "lora"]
    assert "lora" in reopened and "missing" not in reopened
    assert reopened.get("finetuned").is_finetuned and not reopened.get("base").is_finetuned
    assert reopened.get("finetuned").stale_documents({"doc-1": "sha256:aa", "doc-2": "sha256:changed"}) == ["doc-2"]
    assert reopened.get("finetuned").stale_documents({"doc-1": "sha256:aa"}) == ["doc-2"]  # removed doc

    reopened.register(tuned.model_copy(update={"notes": "v2"}))  # same name replaces
    assert registry.get("finetuned").notes == "v2"
    assert len(json.loads(path.read_text())["models"]) == 2

    registry.remove("lora")
    assert "lora" not in registry
    with pytest.raises(ConfigError, match="not registered"):
        registry.remove("lora")


def test_registry_missing_name_lists_known(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / REGISTRY_NAME)
    registry.register(ModelEntry(name="finetuned", provider="local", model_id=LOCAL_MODEL_ID, adapter_path="a"))
    with pytest.raises(ConfigError, match=r"known models: base, finetuned") as info:
        registry.get("nope")
    assert isinstance(info.value, ValueError)


def test_registry_base_can_be_overridden_and_restored(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / REGISTRY_NAME)
    registry.register(ModelEntry(name="base", provider="openai", model_id="gpt-4o-mini"))
    assert registry.get("base").provider == "openai"
    registry.remove("base")
    assert registry.get("base").model_id == LOCAL_MODEL_ID
    with pytest.raises(ConfigError):
        registry.remove("base")  # the built-in one cannot be removed


def test_registry_writes_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / REGISTRY_NAME
    registry = ModelRegistry(path)
    registry.register(ModelEntry(name="a", provider="openai", model_id="gpt-4o"))
    before = path.read_text()

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        registry.register(ModelEntry(name="b", provider="openai", model_id="gpt-4o"))
    monkeypatch.undo()
    assert path.read_text() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == [REGISTRY_NAME]  # no temp file left behind
    assert "b" not in registry


def test_registry_rejects_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / REGISTRY_NAME
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ModelRegistry(path).list()
    path.write_text(json.dumps({"models": [{"name": "x", "provider": "azure", "model_id": "m"}]}))
    with pytest.raises(ConfigError, match=r"entry 0 is invalid.*provider"):
        ModelRegistry(path).get("x")


# -- pricing ----------------------------------------------------------------------------------------


def test_prices_resolve_snapshots_and_finetuned_ids() -> None:
    table = PriceTable.default()
    assert table.as_of
    mini = table.price("gpt-4o-mini")
    assert mini == Price(input_per_1m=0.15, output_per_1m=0.60)
    assert table.price("gpt-4o-mini-2024-07-18") == mini
    assert table.price("gpt-3.5-turbo-0125") == table.price("gpt-3.5-turbo")

    tuned = table.price(FT_ID)
    assert tuned is not None and tuned.input_per_1m > mini.input_per_1m  # never the base price, never zero
    assert tuned == Price(input_per_1m=0.30, output_per_1m=1.20, training_per_1m=3.00)
    assert table.price("ft:gpt-4o-2024-08-06:acme:support:xyz") == table.price("ft:gpt-4o")
    assert table.price("ft:unknown-model:acme::1") is None
    assert table.price("no-such-model") is None
    assert table.price(LOCAL_MODEL_ID) == Price(input_per_1m=0, output_per_1m=0, training_per_1m=0)


def test_costs() -> None:
    table = PriceTable.default()
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert table.cost(FT_ID, 2_000, 500) == pytest.approx((2_000 * 0.30 + 500 * 1.20) / 1e6)
    assert table.cost(LOCAL_MODEL_ID, 10_000, 10_000) == 0.0
    assert table.cost("mystery-model", 1000, 1000) == 0.0  # unknown: 0 with a warning
    assert table.training_cost("gpt-4o-mini-2024-07-18", 1_000_000) == pytest.approx(3.00)
    assert table.training_cost(FT_ID, 500_000) == pytest.approx(1.50)  # continued fine-tuning
    assert table.training_cost("gpt-4.1-nano", 3 * 100_000) == pytest.approx(0.45)
    assert table.training_cost(LOCAL_MODEL_ID, 10**9) == 0.0
    assert table.training_cost("text-embedding-3-small", 1000) == 0.0  # not fine-tunable


def test_price_file_merges_over_default(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    custom = {"input_per_1m": 1.0, "output_per_1m": 2.0}
    path.write_text(
        json.dumps({"as_of": "2030-01-01", "my-model": custom, "ft:gpt-4o-mini": {**custom, "training_per_1m": 9}})
    )
    table = PriceTable.from_file(path)
    assert table.as_of == "2030-01-01"
    assert table.price("my-model") == Price(**custom)
    assert table.training_cost("gpt-4o-mini", 1_000_000) == 9.0
    assert table.price("gpt-4o") == PriceTable.default().price("gpt-4o")

    path.write_text(json.dumps({"bad": {"input_per_1m": -1, "output_per_1m": 0}}))
    with pytest.raises(ConfigError, match="'bad'"):
        PriceTable.from_file(path)
    with pytest.raises(ConfigError, match="not found"):
        PriceTable.from_file(tmp_path / "missing.json")


# -- tokens and context windows ---------------------------------------------------------------------


def test_openai_token_counts_match_tiktoken() -> None:
    # Counts published for tiktoken's encodings (OpenAI cookbook "How to count tokens with tiktoken").
    assert encoding_name("gpt-4o-mini") == encoding_name(FT_ID) == "o200k_base"
    assert encoding_name("gpt-3.5-turbo") == encoding_name("gpt-4") == "cl100k_base"
    assert token_counter("gpt-3.5-turbo")("tiktoken is great!") == 6
    # The same ids tiktoken gives (cl100k_base: cookbook example; o200k_base: "Hello, world!").
    assert _encoding("cl100k_base").encode_ordinary("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert _encoding("o200k_base").encode_ordinary("Hello, world!") == [13225, 11, 2375, 0]
    assert _encoding("cl100k_base").encode_ordinary("Hello, world!") == [9906, 11, 1917, 0]
    assert token_counter("gpt-4o-mini")("Hello, world!") == 4
    assert token_counter(FT_ID)("") == 0
    assert token_counter("gpt-4o")("a <|endoftext|> b") > 3  # special markers count as text, no error
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello, world!"}]
    # cookbook formula: 3 per message + tokens of every value (role and content), 3 to prime the reply
    assert count_chat_tokens(messages, "gpt-4o-mini") == 3 + (3 + 1 + 3) + (3 + 1 + 4)


def test_token_counter_rejects_unknown_provider() -> None:
    with pytest.raises(ConfigError, match="provider"):
        token_counter("gpt-4o", provider="azure")


def test_context_windows() -> None:
    assert context_window("gpt-4o-mini") == 128_000
    assert context_window("gpt-4o-mini-2024-07-18") == 128_000
    assert context_window(FT_ID) == 128_000
    assert context_window("gpt-3.5-turbo-0125") == 16_385
    assert context_window("gpt-4.1-mini") == 1_047_576
    assert context_window(LOCAL_MODEL_ID) == 8_192
    assert context_window("some-local-vllm-model") == 4096
    with pytest.raises(ConfigError, match="Unknown context window"):
        context_window("some-local-vllm-model", default=None)
    assert training_token_limit(FT_ID) == 65_536
    assert training_token_limit("gpt-3.5-turbo-0125") == 16_385
    assert training_token_limit("o3") is None


def test_llm_package_imports_lazily() -> None:
    import subprocess

    code = (
        "import sys, ragtune.llm as l; l.ModelRegistry; l.PriceTable; l.token_counter('gpt-4o')('x');"
        "print('torch' in sys.modules, 'openai' in sys.modules, 'tiktoken' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]  # counting OpenAI tokens never needs tiktoken
