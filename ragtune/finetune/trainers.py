"""Pick and build a fine-tuning job by name: ``local`` (LoRA on SmolLM2) or ``openai``.

The CLI's ``finetune train --trainer`` and notebooks call :func:`make_trainer`
rather than choosing a job class themselves, so both see the same defaults
(adapter folder, job store, which options apply to which trainer).

Example:
    >>> job = make_trainer("local", load_training_data("prepared"), settings=settings)  # doctest: +SKIP
    >>> entry = job.run()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from ragtune.config import Settings
from ragtune.errors import ConfigError

if TYPE_CHECKING:
    from ragtune.finetune.dataset import TrainingData
    from ragtune.finetune.job import FineTuneJob
    from ragtune.index.base import Index
    from ragtune.llm.registry import ModelRegistry

TrainerKind = Literal["local", "openai"]
TRAINERS: tuple[str, ...] = get_args(TrainerKind)
ADAPTERS_DIR = "adapters"
"""Local adapters go to ``STORE/adapters/NAME`` unless an output folder is given."""


class TrainOptions(BaseModel):
    """What a user may set for either trainer; ``None`` leaves the trainer's default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int | None = Field(default=None, ge=1)
    learning_rate: float | None = Field(default=None, gt=0)
    """Local: the learning rate; OpenAI: the learning-rate multiplier."""
    batch_size: int | None = Field(default=None, ge=1)
    model: str | None = None
    """OpenAI: the base model to fine-tune."""
    suffix: str | None = None
    """OpenAI: text added to the fine-tuned model id."""
    output_dir: Path | None = None
    """Local: adapter folder (default ``STORE/adapters/NAME``)."""
    poll_interval: float = Field(default=10.0, ge=0)
    """OpenAI: seconds between status polls."""


def registry_for(settings: Settings) -> ModelRegistry:
    """The store's model registry (:attr:`Workspace.registry <ragtune.workspace.Workspace.registry>`)."""
    from ragtune.workspace import Workspace

    return Workspace(settings).registry


def make_trainer(
    kind: str,
    data: TrainingData,
    *,
    settings: Settings,
    name: str = "finetuned",
    options: TrainOptions | None = None,
    registry: ModelRegistry | None = None,
    index: Index | None = None,
) -> FineTuneJob:
    """The fine-tuning job for ``kind`` (``local`` or ``openai``), not started yet.

    Args:
        kind: ``local`` (LoRA adapter on the local SmolLM2) or ``openai``.
        data: The prepared data (:func:`ragtune.finetune.dataset.load_training_data`).
        settings: The store (registry, adapters, job records) and the OpenAI key.
        name: Registry name of the fine-tuned model.
        options: Hyperparameters and trainer-specific settings.
        registry: Default: the store's registry (:func:`registry_for`).
        index: Fills in document hashes of the corpus snapshot when examples lack them.

    Raises:
        ConfigError: ``kind`` is not a trainer, or OpenAI has no API key.
    """
    build = _BUILDERS.get(kind)
    if build is None:
        raise ConfigError(f"trainer must be one of {', '.join(TRAINERS)}, got {kind!r}")
    registry = registry if registry is not None else registry_for(settings)
    return build(_Spec(data, settings, name, options or TrainOptions(), registry, index))


@dataclass(frozen=True)
class _Spec:
    """Everything a trainer builder needs, resolved."""

    data: TrainingData
    settings: Settings
    name: str
    options: TrainOptions
    registry: ModelRegistry
    index: Index | None


def _local(spec: _Spec) -> FineTuneJob:
    from ragtune.finetune.local_lora import LocalLoRAJob, LoraTrainConfig
    from ragtune.llm.registry import resolve_base_entry

    options = spec.options
    values = {"epochs": options.epochs, "learning_rate": options.learning_rate, "batch_size": options.batch_size}
    config = LoraTrainConfig.model_validate({k: v for k, v in values.items() if v is not None})
    target = options.output_dir or Path(spec.settings.store) / ADAPTERS_DIR / spec.name
    base = resolve_base_entry(spec.registry, spec.settings)  # --chat-model local:<model> trains on that model
    return LocalLoRAJob(
        spec.data,
        registry=spec.registry,
        output_dir=target,
        name=spec.name,
        config=config,
        index=spec.index,
        base_model=base.model_id if base.provider == "local" else None,
    )


def _openai(spec: _Spec) -> FineTuneJob:
    from ragtune.finetune.jobstore import JOBS_DIR, JobStore
    from ragtune.finetune.openai_job import OpenAIFineTuneJob, OpenAITrainConfig, openai_client

    options = spec.options
    values = {
        "model": options.model,
        "n_epochs": options.epochs,
        "batch_size": options.batch_size,
        "learning_rate_multiplier": options.learning_rate,
        "suffix": options.suffix,
        "poll_interval": options.poll_interval,
    }
    config = OpenAITrainConfig.model_validate({k: v for k, v in values.items() if v is not None})
    return OpenAIFineTuneJob(
        spec.data,
        client=openai_client(spec.settings),
        registry=spec.registry,
        name=spec.name,
        config=config,
        jobs=JobStore(Path(spec.settings.store) / JOBS_DIR),
        index=spec.index,
    )


_BUILDERS: dict[str, Callable[[_Spec], FineTuneJob]] = {"local": _local, "openai": _openai}


__all__ = ["ADAPTERS_DIR", "TRAINERS", "TrainOptions", "TrainerKind", "make_trainer", "registry_for"]
