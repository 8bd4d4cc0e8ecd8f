"""Base vs fine-tuned evaluation through real OpenAI chat models served by the in-process fake API."""

from __future__ import annotations

import itertools
import json

import pytest

from ragtune.config import Settings
from ragtune.errors import ConfigError
from ragtune.finetune.evaluate import EvalConfig, base_entry, evaluate_models, record_metrics, same_answer
from ragtune.finetune.records import Example, Provenance, Shape
from ragtune.llm.factory import make_chat_model
from ragtune.llm.registry import ModelEntry, ModelRegistry

BASE = "gpt-4o-mini-2024-07-18"
TUNED = f"ft:{BASE}:ragtune:tickets:abc123"


def example(text: str, label: str) -> Example:
    return Example(
        messages=[{"role": "user", "content": text}, {"role": "assistant", "content": json.dumps({"label": label})}],
        source=Provenance(file="val.jsonl", line=1, shape=Shape.CLASSIFICATION, label=label),
    )


EXAMPLES = [example("My card was charged twice", "billing"), example("The app crashes on start", "bug")]


@pytest.fixture
def models(openai_server):  # type: ignore[no-untyped-def]
    """The base model rambles and changes its mind; the tuned one answers the expected JSON."""
    counter = itertools.count()

    def reply(body):  # type: ignore[no-untyped-def]
        text = body["messages"][-1]["content"]
        if body["model"] == TUNED:
            return json.dumps({"label": "billing" if "charged" in text else "bug"})
        return f"Thanks for reaching out! Variant {next(counter) % 2}."

    openai_server.chat.default = reply
    settings = Settings(openai_api_key="test", openai_base_url=openai_server.url)
    base = make_chat_model(ModelEntry(name="gpt", provider="openai", model_id=BASE), settings)
    tuned = make_chat_model(ModelEntry(name="tickets", provider="openai", model_id=TUNED, base=BASE), settings)
    return base, tuned


def test_metrics_side_by_side(models, openai_server):  # type: ignore[no-untyped-def]
    base, tuned = models
    report = evaluate_models(base, tuned, EXAMPLES, EvalConfig(samples=3), base_name="gpt", tuned_name="tickets")
    assert report.format == "json"
    assert report.base.values() == {
        "exact_match": 0.0,
        "accuracy": 0.0,
        "format_compliance": 0.0,
        "consistency": pytest.approx(2 / 3),
    }
    assert report.tuned.values() == {"exact_match": 1.0, "accuracy": 1.0, "format_compliance": 1.0, "consistency": 1.0}
    assert [r.tuned_correct for r in report.rows] == [True, True]
    sampled = [r.body for r in openai_server.chat.requests if r.body.get("temperature") == 0.7]
    assert len(sampled) == 2 * 2 * 3  # models x examples x samples
    metrics = report.metrics()
    assert metrics["eval_exact_match"] == 1.0 and metrics["eval_base_exact_match"] == 0.0


def test_schema_and_regex_format_checks(models):  # type: ignore[no-untyped-def]
    base, tuned = models
    schema = {"type": "object", "properties": {"label": {"enum": ["billing"]}}, "required": ["label"]}
    report = evaluate_models(base, tuned, EXAMPLES, EvalConfig(json_schema=schema, samples=0))
    assert report.format == "json_schema" and report.tuned.format_compliance == 0.5
    report = evaluate_models(base, tuned, EXAMPLES, EvalConfig(pattern=r"Thanks.*", samples=0))
    assert report.format == "regex" and report.base.format_compliance == 1.0 and report.tuned.format_compliance == 0
    assert report.base.consistency is None
    with pytest.raises(ConfigError, match="Invalid format pattern"):
        evaluate_models(base, tuned, EXAMPLES, EvalConfig(pattern="(", samples=0))


def test_the_table_renders_and_metrics_are_recorded(models, tmp_path):  # type: ignore[no-untyped-def]
    from rich.console import Console

    base, tuned = models
    report = evaluate_models(base, tuned, EXAMPLES, EvalConfig(samples=0), base_name="gpt", tuned_name="tickets")
    console = Console(record=True, width=160)
    console.print(report.table())
    text = console.export_text()
    assert "exact_match" in text and "+1.000" in text and "My card was charged twice" in text
    registry = ModelRegistry(tmp_path / "models.json")
    registry.register(ModelEntry(name="tickets", provider="openai", model_id=TUNED, base=BASE, metrics={"x": 1.0}))
    stored = record_metrics(registry, "tickets", report)
    assert stored.metrics["x"] == 1.0 and stored.metrics["eval_exact_match"] == 1.0
    assert registry.get("tickets").metrics == stored.metrics
    assert base_entry(stored, registry).model_id == BASE
    with pytest.raises(ConfigError, match="not a fine-tuned model"):
        base_entry(registry.get("base"), registry)


def test_answers_compare_as_json_or_normalised_text() -> None:
    assert same_answer('{ "label":"a" }', '{"label": "a"}')
    assert same_answer("Paris.", "paris")
    assert not same_answer('{"label": "b"}', '{"label": "a"}')
