"""LoRA fine-tuning of the local SmolLM2 model on the CPU, with peft.

Loss is computed on assistant tokens only. After every epoch (or every
``eval_every`` steps) the loss on the validation split is measured; training
stops early when it has not improved for ``patience`` evaluations, and the
best adapter is kept. The adapter folder holds peft's files plus
``manifest.json``: base model, dataset sha256, hyperparameters, metrics,
the loss of every step and the creation time.

Example:
    >>> job = LocalLoRAJob(load_training_data("prepared"), registry=registry, output_dir="adapters/faq", name="faq")
    >>> entry = job.run(progress=print)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from ragtune.errors import InputError
from ragtune.finetune.dataset import TrainingData
from ragtune.finetune.freshness import TENANT_KEY, corpus_snapshot
from ragtune.finetune.job import FineTuneJob, JobEvent, JobState, JobStatus
from ragtune.finetune.lora_data import Encoded, batches, encode_example, token_loss_sum
from ragtune.finetune.progress import ProgressCallback, report
from ragtune.index.base import Index
from ragtune.llm.registry import ModelEntry, ModelRegistry

log = logging.getLogger(__name__)
MANIFEST_NAME = "manifest.json"


class LoraTrainConfig(BaseModel):
    """Hyperparameters of a local LoRA run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(default=3, ge=1)
    learning_rate: float = Field(default=2e-3, gt=0)
    """Peak learning rate (linear decay to 10% over the run)."""
    batch_size: int = Field(default=8, ge=1)
    rank: int = Field(default=8, ge=1)
    """LoRA rank ``r``."""
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    layers: int | None = Field(default=8, ge=1)
    """Adapt only the last ``layers`` decoder layers (``None``: all). Back-propagation stops at the lowest
    adapted layer, so fewer layers train much faster on a CPU; the top layers suffice to learn a format."""
    max_length: int = Field(default=512, ge=8)
    """Examples are truncated to this many tokens."""
    eval_every: int | None = Field(default=None, ge=1)
    """Steps between validation evaluations; default once per epoch."""
    patience: int = Field(default=2, ge=1)
    """Evaluations without improvement before stopping early."""
    min_delta: float = Field(default=0.0, ge=0.0)
    """Smallest drop in validation loss that counts as an improvement."""
    max_steps: int | None = Field(default=None, ge=1)
    threads: int | None = Field(default=None, ge=1)
    """CPU threads for training (``None``: torch's default). One thread is fastest on a busy shared CPU."""
    seed: int = 0
    weight_decay: float = Field(default=0.0, ge=0.0)


class LocalLoRAJob(FineTuneJob):
    """Train a LoRA adapter in this process; :meth:`wait` runs the training.

    ``start()`` only checks and tokenises the data; ``wait()`` (or ``run()``)
    trains, blocking, and registers the adapter as ``name``. :meth:`cancel`
    may be called from another thread or from the progress callback: training
    stops after the current step and nothing is saved or registered.

    Args:
        data: Prepared training data (the validation split drives early stopping).
        registry: Where the adapter is registered.
        output_dir: Adapter folder (created; an existing adapter there is replaced).
        name: Registry name.
        config: Hyperparameters.
        index: Fills in document hashes of the corpus snapshot when the data lacks them.
        tenant: The index tenant the data was generated from.
        base_model: The local model the adapter is trained on: the packaged SmolLM2 (default), a model
            folder, a ``.gguf`` file or a Hugging Face id (see :mod:`ragtune.llm.loader`).
    """

    backend = "local"

    def __init__(
        self,
        data: TrainingData,
        *,
        registry: ModelRegistry,
        output_dir: str | Path,
        name: str = "finetuned",
        config: LoraTrainConfig | None = None,
        index: Index | None = None,
        tenant: str | None = None,
        notes: str = "",
        base_model: str | None = None,
    ) -> None:
        from ragtune.llm.loader import normalize_spec

        super().__init__(registry=registry, name=name, notes=notes)
        self.base_model = normalize_spec(base_model)
        self.data = data
        self.output_dir = Path(output_dir)
        self.config = config or LoraTrainConfig()
        self.index = index
        self.tenant = tenant
        self._cancel_requested = threading.Event()
        self._state = JobState.PENDING
        self._started = False
        self._error: str | None = None
        self._events_log: list[JobEvent] = []
        self._metrics: dict[str, float] = {}
        self._step = 0
        self._total_steps: int | None = None
        self._train_items: list[Encoded] = []
        self._val_items: list[Encoded] = []
        self._tokenizer: Any = None

    # -- hooks -----------------------------------------------------------------
    def _job_id(self) -> str | None:
        return str(self.output_dir) if self._started else None

    def _start(self) -> JobStatus:
        from ragtune.llm.loader import load_local_tokenizer

        if not self.data.train:
            raise InputError(f"{self.data.train_path}: no training examples.", path=self.data.train_path)
        self._tokenizer = load_local_tokenizer(self.base_model)
        self._train_items = self._encode(self.data.train)
        self._val_items = self._encode(self.data.val)
        if not self._train_items:
            msg = (
                f"{self.data.train_path}: no example has an assistant token within max_length={self.config.max_length}"
            )
            raise InputError(msg, path=self.data.train_path)
        steps_per_epoch = math.ceil(len(self._train_items) / self.config.batch_size)
        total = steps_per_epoch * self.config.epochs
        self._total_steps = min(total, self.config.max_steps) if self.config.max_steps else total
        self._started = True
        self._state = JobState.QUEUED
        self._log(f"{len(self._train_items)} training / {len(self._val_items)} validation examples tokenised")
        return self._status()

    def _status(self) -> JobStatus:
        return JobStatus(
            id=self._job_id(),
            backend=self.backend,
            state=self._state,
            model_id=self.base_model if self._state is JobState.SUCCEEDED else None,
            base=self.base_model,
            error=self._error,
            step=self._step,
            total_steps=self._total_steps,
            metrics=dict(self._metrics),
            registered_as=self._result.name if self._result is not None else None,
        )

    def _events(self) -> list[JobEvent]:
        return list(self._events_log)

    def _cancel(self) -> JobStatus:
        self._cancel_requested.set()
        if not self._state.is_terminal and self._state is not JobState.RUNNING:
            self._state = JobState.CANCELLED
        return self._status()

    def _follow(self, progress: ProgressCallback | None, deadline: float | None) -> JobStatus:
        if self._state.is_terminal:
            return self._status()
        self._state = JobState.RUNNING
        threads = torch.get_num_threads()
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        try:
            self._train(progress)
        except BaseException as exc:
            self._state = JobState.FAILED
            self._error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            torch.set_num_threads(threads)
        return self._status()

    def _entry(self, status: JobStatus) -> ModelEntry:
        snapshot, chunks = corpus_snapshot(self.data.examples, index=self.index, tenant=self.tenant)
        extra: dict[str, Any] = {
            "backend": self.backend,
            "data": str(Path(self.data.train_path).parent),
            "dataset_sha256": self.data.sha256,
            "hyperparameters": self.config.model_dump(mode="json"),
        }
        if self.tenant is not None:
            extra[TENANT_KEY] = self.tenant
        return ModelEntry(
            name=self.name,
            provider="local",
            model_id=self.base_model,
            adapter_path=str(self.output_dir.resolve()),
            base="base",
            notes=self.notes or f"LoRA adapter trained on {len(self.data.train)} examples",
            metrics=dict(self._metrics),
            snapshot=snapshot,
            snapshot_chunks=chunks,
            extra=extra,
        )

    # -- training ------------------------------------------------------------------
    def _encode(self, examples: list[Any]) -> list[Encoded]:
        items = []
        for example in examples:
            encoded = encode_example(self._tokenizer, example, max_length=self.config.max_length)
            if encoded is None:
                log.warning(
                    "%s:%s has no assistant token within max_length; skipped", example.source.file, example.source.line
                )
                continue
            items.append(encoded)
        return items

    def _train(self, progress: ProgressCallback | None) -> None:
        from peft import LoraConfig, get_peft_model

        from ragtune.llm.loader import load_local_model

        cfg = self.config
        torch.manual_seed(cfg.seed)
        base, tokenizer = load_local_model(fresh=True, model=self.base_model)
        base.requires_grad_(False)
        lora = LoraConfig(
            r=cfg.rank,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=list(cfg.target_modules),
            layers_to_transform=_top_layers(base, cfg.layers),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(base, lora)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        total = self._total_steps or 1
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - 0.9 * min(step / total, 1.0))
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        stopper = _EarlyStopper(cfg.patience, cfg.min_delta)
        history: list[dict[str, float]] = []
        started = time.perf_counter()
        epoch = 0
        while epoch < cfg.epochs and not stopper.stop and self._step < total:
            epoch += 1
            model.train()
            evaluated = False
            order_seed = cfg.seed + epoch
            for batch in batches(
                self._train_items, batch_size=cfg.batch_size, pad_id=pad_id, shuffle=True, seed=order_seed
            ):
                if self._cancel_requested.is_set():
                    self._state = JobState.CANCELLED
                    self._log("cancelled")
                    return
                loss_sum, n = token_loss_sum(model, _to_device(batch, model))
                loss = loss_sum / max(n, 1)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                self._step += 1
                value = float(loss.detach())
                history.append({"step": self._step, "epoch": epoch, "loss": value})
                self._metrics["train_loss"] = value
                self._log(f"step {self._step}/{total} loss {value:.4f}", step=self._step, train_loss=value)
                report(progress, "train", self._step, total, f"epoch {epoch}", loss=value, epoch=epoch)
                evaluated = cfg.eval_every is not None and self._step % cfg.eval_every == 0
                if evaluated and self._val_items:
                    stopper.update(self._val_loss(model, pad_id), self._step, model)
                    self._eval_event(stopper, epoch, progress)
                if stopper.stop or self._step >= total:
                    break
            if self._val_items and not evaluated:
                stopper.update(self._val_loss(model, pad_id), self._step, model)
                self._eval_event(stopper, epoch, progress)
        if stopper.best_state is not None:
            model.load_state_dict(stopper.best_state, strict=False)
            self._metrics["val_loss"] = stopper.best
            self._metrics["best_step"] = float(stopper.best_step)
        seconds = time.perf_counter() - started
        self._metrics.update(
            {
                "epochs": float(epoch),
                "steps": float(self._step),
                "train_seconds": round(seconds, 3),
                "seconds_per_epoch_per_100": round(seconds / max(epoch, 1) / len(self._train_items) * 100, 3),
            }
        )
        if stopper.stop:
            self._log(f"early stop at step {self._step}: no validation improvement for {cfg.patience} evaluations")
        self._save(model, history, stopper.history, stopper.stop)
        self._state = JobState.SUCCEEDED
        self._log(f"adapter saved to {self.output_dir}")

    def _val_loss(self, model: Any, pad_id: int) -> float:
        model.eval()
        total_loss, total_tokens = 0.0, 0
        with torch.no_grad():
            for batch in batches(
                self._val_items, batch_size=self.config.batch_size, pad_id=pad_id, shuffle=False, seed=0
            ):
                loss_sum, n = token_loss_sum(model, _to_device(batch, model))
                total_loss += float(loss_sum)
                total_tokens += n
        model.train()
        return total_loss / max(total_tokens, 1)

    def _eval_event(self, stopper: _EarlyStopper, epoch: int, progress: ProgressCallback | None) -> None:
        val = stopper.history[-1]["val_loss"]
        self._metrics["last_val_loss"] = val
        self._log(f"step {self._step} validation loss {val:.4f}", step=self._step, val_loss=val)
        report(progress, "eval", self._step, self._total_steps, f"epoch {epoch}", val_loss=val, epoch=epoch)

    def _save(self, model: Any, history: list[dict[str, float]], evals: list[dict[str, float]], early: bool) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(self.output_dir))
        manifest = {
            "base_model": self.base_model,
            "name": self.name,
            "dataset_sha256": self.data.sha256,
            "train_path": self.data.train_path,
            "val_path": self.data.val_path,
            "train_examples": len(self._train_items),
            "val_examples": len(self._val_items),
            "hyperparameters": self.config.model_dump(mode="json"),
            "metrics": self._metrics,
            "stopped_early": early,
            "history": history,
            "evals": evals,
            "created": time.time(),
        }
        (self.output_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    def _log(self, message: str, *, step: int | None = None, **metrics: float) -> None:
        event = JobEvent(
            id=f"local-{len(self._events_log)}",
            created=time.time(),
            message=message,
            step=step,
            total_steps=self._total_steps,
            metrics=metrics,
        )
        self._events_log.append(event)
        log.debug(message)


def _to_device(batch: dict[str, torch.Tensor], model: Any) -> dict[str, torch.Tensor]:
    """The batch on the model's device (the loader puts models on CUDA when there is one)."""
    target = getattr(model, "device", None)
    if target is None or target.type == "cpu":
        return batch
    return {key: value.to(target) for key, value in batch.items()}


def _top_layers(model: Any, count: int | None) -> list[int] | None:
    total = int(getattr(model.config, "num_hidden_layers", 0))
    if count is None or total == 0 or count >= total:
        return None
    return list(range(total - count, total))


class _EarlyStopper:
    """Keeps the best adapter weights by validation loss and says when to stop."""

    def __init__(self, patience: int, min_delta: float) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.best_step = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad = 0
        self.history: list[dict[str, float]] = []

    @property
    def stop(self) -> bool:
        return self.bad >= self.patience

    def update(self, val_loss: float, step: int, model: Any) -> None:
        self.history.append({"step": step, "val_loss": val_loss})
        if val_loss < self.best - self.min_delta:
            self.best, self.best_step, self.bad = val_loss, step, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}
        else:
            self.bad += 1


def read_manifest(adapter_dir: str | Path) -> dict[str, Any]:
    """The ``manifest.json`` of an adapter folder.

    Raises:
        InputError: the folder has no manifest.
    """
    path = Path(adapter_dir) / MANIFEST_NAME
    if not path.is_file():
        raise InputError(f"{path}: no adapter manifest; was the adapter trained by ragtune?", path=str(path))
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


__all__ = ["LocalLoRAJob", "LoraTrainConfig", "MANIFEST_NAME", "read_manifest"]
