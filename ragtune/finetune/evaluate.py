"""Compare a base and a fine-tuned model on held-out examples.

Metrics, each for both models:

- ``exact_match``: the answer equals the expected one (whitespace, case and a
  final period ignored; JSON answers compared as parsed values);
- ``accuracy``: the same, reported for classification data (records with labels);
- ``format_compliance``: share of answers in the required format: valid JSON
  against ``json_schema``, a full match of ``pattern``, or (when neither is given
  and every expected answer is a JSON object) JSON with the expected keys;
- ``consistency``: ask each prompt ``samples`` times at ``temperature`` > 0 and
  average the share of samples that agree with the most common answer.

The report renders as a side-by-side rich table; :func:`record_metrics` stores
the fine-tuned model's metrics (and the base's, prefixed ``base_``) in its
registry entry.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ragtune.errors import ConfigError
from ragtune.finetune.progress import ProgressCallback, report
from ragtune.finetune.records import Example
from ragtune.llm.registry import ModelEntry, ModelRegistry


class EvalConfig(BaseModel):
    """What to measure and how much to sample."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    json_schema: dict[str, Any] | None = None
    """Answers must be JSON valid against this schema."""
    pattern: str | None = None
    """Answers must fully match this regular expression."""
    samples: int = Field(default=3, ge=0)
    """Samples per prompt for consistency (0 or 1: not measured)."""
    temperature: float = Field(default=0.7, gt=0.0)
    """Sampling temperature for the consistency samples."""
    limit: int | None = Field(default=50, ge=1)
    """Evaluate at most this many examples (the first ones)."""
    max_new_tokens: int = Field(default=64, ge=1)


class ModelScores(BaseModel):
    """One model's metrics; ``None`` where a metric does not apply."""

    name: str
    exact_match: float
    accuracy: float | None = None
    format_compliance: float | None = None
    consistency: float | None = None

    def values(self) -> dict[str, float]:
        fields = ("exact_match", "accuracy", "format_compliance", "consistency")
        return {f: getattr(self, f) for f in fields if getattr(self, f) is not None}


class EvalRow(BaseModel):
    """One example, side by side."""

    prompt: str
    expected: str
    base: str
    tuned: str
    base_correct: bool
    tuned_correct: bool


class EvalReport(BaseModel):
    """Base vs fine-tuned on the same examples."""

    examples: int
    format: str | None
    """``json_schema``, ``regex``, ``json`` or ``None`` (format not checked)."""
    base: ModelScores
    tuned: ModelScores
    rows: list[EvalRow]

    def metrics(self) -> dict[str, float]:
        """Flat metrics for the registry: the tuned model's, and the base's prefixed ``base_``."""
        out = {f"eval_{k}": v for k, v in self.tuned.values().items()}
        out.update({f"eval_base_{k}": v for k, v in self.base.values().items()})
        out["eval_examples"] = float(self.examples)
        return out

    def table(self, *, max_rows: int = 10) -> Any:
        """A rich renderable: metrics side by side, then the first ``max_rows`` examples."""
        from rich.console import Group
        from rich.table import Table

        summary = Table(title=f"Base vs fine-tuned on {self.examples} held-out examples")
        summary.add_column("metric")
        summary.add_column(self.base.name, justify="right")
        summary.add_column(self.tuned.name, justify="right")
        summary.add_column("change", justify="right")
        base, tuned = self.base.values(), self.tuned.values()
        for metric in tuned:
            delta = tuned[metric] - base.get(metric, 0.0)
            summary.add_row(metric, f"{base.get(metric, 0.0):.3f}", f"{tuned[metric]:.3f}", f"{delta:+.3f}")
        rows = Table(title="Examples", show_lines=True)
        for column in ("prompt", "expected", self.base.name, self.tuned.name):
            rows.add_column(column, overflow="fold", max_width=40)
        for row in self.rows[:max_rows]:
            mark = {True: "[green]✓[/] ", False: "[red]✗[/] "}
            rows.add_row(
                row.prompt, row.expected, mark[row.base_correct] + row.base, mark[row.tuned_correct] + row.tuned
            )
        return Group(summary, rows)


def evaluate_models(
    base_model: Any,
    tuned_model: Any,
    examples: Sequence[Example],
    config: EvalConfig | None = None,
    *,
    base_name: str = "base",
    tuned_name: str = "finetuned",
    progress: ProgressCallback | None = None,
) -> EvalReport:
    """Score both models on ``examples`` (their last assistant turn is the expected answer).

    Args:
        base_model: A chat model (``invoke(messages, **kwargs)`` returning a message with ``content``).
        tuned_model: The fine-tuned chat model.
        examples: Held-out examples, typically the validation split.

    Raises:
        ConfigError: no examples, or an invalid ``pattern``.
    """
    config = config or EvalConfig()
    chosen = [e for e in examples if e.completion][: config.limit]
    if not chosen:
        raise ConfigError("Nothing to evaluate: no example has an expected assistant answer.")
    check, fmt = _format_check(config, chosen)
    classification = any(e.source.label is not None for e in chosen)
    scores: dict[str, tuple[ModelScores, list[str]]] = {}
    total = len(chosen) * 2
    done = 0
    for name, model in ((base_name, base_model), (tuned_name, tuned_model)):
        answers, consistency = [], []
        for example in chosen:
            answers.append(_ask(model, example.prompt_messages, config, temperature=None))
            if config.samples > 1:
                samples = [
                    _normalise(_ask(model, example.prompt_messages, config, temperature=config.temperature))
                    for _ in range(config.samples)
                ]
                consistency.append(Counter(samples).most_common(1)[0][1] / len(samples))
            done += 1
            report(progress, "eval", done, total, name)
        correct = [same_answer(a, e.completion) for a, e in zip(answers, chosen, strict=True)]
        exact = sum(correct) / len(chosen)
        scores[name] = (
            ModelScores(
                name=name,
                exact_match=exact,
                accuracy=exact if classification else None,
                format_compliance=sum(map(check, answers)) / len(answers) if check else None,
                consistency=sum(consistency) / len(consistency) if consistency else None,
            ),
            answers,
        )
    (base, base_answers), (tuned, tuned_answers) = scores[base_name], scores[tuned_name]
    rows = [
        EvalRow(
            prompt=_last_user(e),
            expected=e.completion,
            base=b,
            tuned=t,
            base_correct=same_answer(b, e.completion),
            tuned_correct=same_answer(t, e.completion),
        )
        for e, b, t in zip(chosen, base_answers, tuned_answers, strict=True)
    ]
    return EvalReport(examples=len(chosen), format=fmt, base=base, tuned=tuned, rows=rows)


def record_metrics(registry: ModelRegistry, name: str, result: EvalReport) -> ModelEntry:
    """Store the evaluation metrics in the registry entry ``name``; returns the updated entry."""
    entry = registry.get(name)
    updated = entry.model_copy(update={"metrics": {**entry.metrics, **result.metrics()}})
    registry.register(updated)
    return updated


def base_entry(entry: ModelEntry, registry: ModelRegistry) -> ModelEntry:
    """The registry entry of the model ``entry`` was fine-tuned from.

    ``entry.base`` is a registry name (``base`` for local adapters) or, for
    OpenAI models, the base model id, which gets an ad-hoc entry.

    Raises:
        ConfigError: ``entry`` is not a fine-tuned model.
    """
    if entry.base is None:
        raise ConfigError(f"Model {entry.name!r} has no base model recorded; it is not a fine-tuned model.")
    if entry.base in registry:
        return registry.get(entry.base)
    return ModelEntry(name=entry.base, provider=entry.provider, model_id=entry.base, created=0.0)


def same_answer(answer: str, expected: str) -> bool:
    """Equal after normalisation, or equal as parsed JSON."""
    parsed_a, parsed_e = _json(answer), _json(expected)
    if parsed_e is not None and parsed_a is not None:
        return bool(parsed_a == parsed_e)
    return _normalise(answer) == _normalise(expected)


def _ask(model: Any, messages: list[dict[str, Any]], config: EvalConfig, *, temperature: float | None) -> str:
    kwargs: dict[str, Any] = {"max_new_tokens": config.max_new_tokens} if _is_local(model) else {}
    if temperature is not None:
        kwargs["temperature"] = temperature
    reply = model.invoke(messages, **kwargs)
    content = getattr(reply, "content", reply)
    return content.strip() if isinstance(content, str) else str(content)


def _is_local(model: Any) -> bool:
    from ragtune.llm.local import LocalChatModel

    return isinstance(model, LocalChatModel)


def _format_check(config: EvalConfig, examples: Sequence[Example]) -> tuple[Any, str | None]:
    if config.json_schema is not None:
        import jsonschema

        validator = jsonschema.Draft202012Validator(config.json_schema)

        def valid_schema(answer: str) -> bool:
            value = _json(answer)
            return value is not None and validator.is_valid(value)

        return valid_schema, "json_schema"
    if config.pattern is not None:
        try:
            regex = re.compile(config.pattern, re.DOTALL)
        except re.error as exc:
            raise ConfigError(f"Invalid format pattern {config.pattern!r}: {exc}") from exc
        return (lambda answer: regex.fullmatch(answer.strip()) is not None), "regex"
    expected = [_json(e.completion) for e in examples]
    if all(isinstance(v, dict) for v in expected):
        keys = {frozenset(v) for v in expected if isinstance(v, dict)}

        def same_keys(answer: str) -> bool:
            value = _json(answer)
            return isinstance(value, dict) and frozenset(value) in keys

        return same_keys, "json"
    return None, None


def _json(text: str) -> Any:
    try:
        return json.loads(text.strip())
    except ValueError:
        return None


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".").strip()


def _last_user(example: Example) -> str:
    for message in reversed(example.prompt_messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


__all__ = [
    "EvalConfig",
    "EvalReport",
    "EvalRow",
    "ModelScores",
    "base_entry",
    "evaluate_models",
    "record_metrics",
    "same_answer",
]
