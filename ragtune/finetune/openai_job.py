"""Fine-tuning through OpenAI's API (or any server speaking ``/v1/files`` and ``/v1/fine_tuning/jobs``).

Every API call goes through one tenacity policy that retries only transient
faults (429, 5xx, timeouts, dropped connections); the ``openai`` client's own
retries are switched off so there is exactly one retry layer. A job can be
followed again after a crash with :meth:`OpenAIFineTuneJob.attach`.

Example:
    >>> data = load_training_data("prepared")  # doctest: +SKIP
    >>> job = OpenAIFineTuneJob(data, client=openai_client(settings), registry=registry, name="support-bot")
    >>> entry = job.run(progress=print)  # doctest: +SKIP
    >>> entry.model_id  # doctest: +SKIP
    'ft:gpt-4o-mini-2024-07-18:acme:support-bot:AbC123'
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ragtune.config import Settings
from ragtune.errors import ConfigError
from ragtune.finetune.dataset import TrainingData
from ragtune.finetune.freshness import TENANT_KEY, corpus_snapshot
from ragtune.finetune.job import FineTuneJob, JobEvent, JobState, JobStatus, numeric_metrics
from ragtune.finetune.jobstore import JobRecord, JobStore
from ragtune.finetune.openai_api import EventPage, FineTuningClient, RemoteEvent, RemoteJob, UploadedFile
from ragtune.finetune.prepare import DEFAULT_OPENAI_BASE
from ragtune.index.base import Index
from ragtune.llm.registry import ModelEntry, ModelRegistry
from ragtune.progress import ProgressCallback, report
from ragtune.retry import RetryPolicy as _RetryPolicy
from ragtune.retry import call_openai

log = logging.getLogger(__name__)
T = TypeVar("T")
EVENT_PAGE = 100


JOB_RETRY = _RetryPolicy(attempts=6, initial_wait=1.0, max_wait=30.0, max_delay=300.0)
"""Fine-tuning API calls: 6 attempts, 1 s doubling to 30 s, giving up after 5 minutes of retrying."""


class RetryPolicy(_RetryPolicy):
    """Deprecated spelling: use :class:`ragtune.retry.RetryPolicy` (``initial`` is ``initial_wait``,
    ``deadline`` is ``max_delay``). Defaults are :data:`JOB_RETRY`'s."""

    def __init__(
        self,
        attempts: int = JOB_RETRY.attempts,
        initial: float | None = None,
        max_wait: float = JOB_RETRY.max_wait,
        deadline: float | None = None,
        *,
        initial_wait: float | None = None,
        max_delay: float | None = None,
    ) -> None:
        if initial is not None or deadline is not None:
            warnings.warn(
                "RetryPolicy(initial=, deadline=) is deprecated: "
                "use ragtune.retry.RetryPolicy(initial_wait=, max_delay=)",
                DeprecationWarning,
                stacklevel=2,
            )
        super().__init__(
            attempts=attempts,
            initial_wait=next(v for v in (initial_wait, initial, JOB_RETRY.initial_wait) if v is not None),
            max_wait=max_wait,
            max_delay=next(v for v in (max_delay, deadline, JOB_RETRY.max_delay) if v is not None),
        )

    @property
    def initial(self) -> float:
        return self.initial_wait

    @property
    def deadline(self) -> float | None:
        return self.max_delay


class OpenAITrainConfig(BaseModel):
    """What to fine-tune and how; ``None`` hyperparameters are left to OpenAI ("auto")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = DEFAULT_OPENAI_BASE
    """The base model to fine-tune."""
    n_epochs: int | None = Field(default=None, ge=1, le=50)
    batch_size: int | None = Field(default=None, ge=1)
    learning_rate_multiplier: float | None = Field(default=None, gt=0)
    suffix: str | None = Field(default=None, max_length=64)
    """Up to 64 characters added to the fine-tuned model id."""
    seed: int | None = None
    poll_interval: float = Field(default=10.0, ge=0)
    """Seconds between status polls while waiting."""
    retry: _RetryPolicy = JOB_RETRY
    """How transient API faults are retried (see :class:`ragtune.retry.RetryPolicy`)."""

    def hyperparameters(self) -> dict[str, Any]:
        values = {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }
        return {k: v for k, v in values.items() if v is not None}


def openai_client(settings: Settings, *, timeout: float = 60.0) -> FineTuningClient:
    """An ``openai.OpenAI`` client for fine-tuning, with its own retries off (ragtune retries).

    Raises:
        ConfigError: no API key is configured.
    """
    import openai

    if not settings.openai_api_key:
        raise ConfigError("OpenAI fine-tuning needs an API key: set OPENAI_API_KEY or RAGTUNE_OPENAI_API_KEY.")
    return openai.OpenAI(
        api_key=settings.secret("openai_api_key"), base_url=settings.openai_base_url, max_retries=0, timeout=timeout
    )


class OpenAIFineTuneJob(FineTuneJob):
    """A supervised fine-tuning job on OpenAI.

    Args:
        data: The prepared data (``None`` only for jobs made by :meth:`attach`).
        client: An ``openai.OpenAI`` client (see :func:`openai_client`), or anything with the
            same :class:`~ragtune.finetune.openai_api.FineTuningClient` endpoints.
        registry: Where the ``ft:`` model is registered when the job succeeds.
        name: Registry name of the fine-tuned model.
        config: Base model, hyperparameters, polling and retries.
        jobs: Where the job's record is saved so it can be resumed after a crash.
        index: Used to fill in document hashes of the corpus snapshot.
        tenant: The index tenant the data was generated from.
        sleep: Injectable sleep (tests).
    """

    backend = "openai"

    def __init__(
        self,
        data: TrainingData | None,
        *,
        client: FineTuningClient,
        registry: ModelRegistry,
        name: str = "finetuned",
        config: OpenAITrainConfig | None = None,
        jobs: JobStore | None = None,
        index: Index | None = None,
        tenant: str | None = None,
        notes: str = "",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(registry=registry, name=name, notes=notes)
        self.data = data
        self.client = client
        self.config = config or OpenAITrainConfig()
        self.jobs = jobs
        self.index = index
        self.tenant = tenant
        self._sleep = sleep
        self._record: JobRecord | None = None
        self._seen: dict[str, JobEvent] = {}

    @classmethod
    def attach(
        cls,
        job_id: str,
        *,
        client: FineTuningClient,
        registry: ModelRegistry,
        jobs: JobStore | None = None,
        name: str | None = None,
        config: OpenAITrainConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> OpenAIFineTuneJob:
        """Follow an existing job, e.g. after the process that started it crashed.

        The job's saved record (registry name, snapshot, dataset hash) is used
        when ``jobs`` has one; otherwise the name comes from the job's
        ``metadata`` (set by ragtune at creation), then ``name``, then ``finetuned``.
        """
        record = jobs.load(job_id) if jobs is not None else None
        job = cls(
            None, client=client, registry=registry, name=name or "finetuned", config=config, jobs=jobs, sleep=sleep
        )
        remote = job._call("retrieve job", lambda: client.fine_tuning.jobs.retrieve(job_id))
        if record is None:
            metadata = getattr(remote, "metadata", None) or {}
            record = JobRecord(
                job_id=job_id,
                backend=cls.backend,
                name=name or metadata.get("ragtune_name") or "finetuned",
                base=remote.model,
                training_file=remote.training_file,
                validation_file=remote.validation_file,
            )
        job.name = name or record.name
        job.notes = record.notes
        job._record = record
        return job

    # -- hooks -----------------------------------------------------------------
    def _job_id(self) -> str | None:
        return self._record.job_id if self._record is not None else None

    def _start(self) -> JobStatus:
        if self.data is None:
            raise ConfigError("This job was attached to an existing job id; it cannot be started again.")
        train_id = self._upload(Path(self.data.train_path))
        val_id = self._upload(Path(self.data.val_path)) if self.data.val and self.data.val_path else None
        hyper = self.config.hyperparameters()
        request: dict[str, Any] = {
            "model": self.config.model,
            "training_file": train_id,
            "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
            "metadata": {"ragtune_name": self.name},
        }
        if val_id is not None:
            request["validation_file"] = val_id
        if self.config.suffix:
            request["suffix"] = self.config.suffix
        if self.config.seed is not None:
            request["seed"] = self.config.seed
        remote = self._call("create job", lambda: self.client.fine_tuning.jobs.create(**request))
        snapshot, chunks = corpus_snapshot(self.data.examples, index=self.index, tenant=self.tenant)
        self._record = JobRecord(
            job_id=remote.id,
            backend=self.backend,
            name=self.name,
            base=self.config.model,
            notes=self.notes,
            data=str(Path(self.data.train_path).parent),
            dataset_sha256=self.data.sha256,
            training_file=train_id,
            validation_file=val_id,
            hyperparameters=hyper,
            tenant=self.tenant,
            snapshot=snapshot,
            snapshot_chunks=chunks,
        )
        if self.jobs is not None:
            self.jobs.save(self._record)
        log.info("Created fine-tuning job %s on %s", remote.id, self.config.model)
        return self._to_status(remote)

    def _status(self) -> JobStatus:
        job_id = self._require_id()
        remote = self._call("retrieve job", lambda: self.client.fine_tuning.jobs.retrieve(job_id))
        return self._to_status(remote)

    def _events(self) -> list[JobEvent]:
        self._fetch_new_events()
        return sorted(self._seen.values(), key=lambda e: (e.created, e.id))

    def _follow(self, progress: ProgressCallback | None, deadline: float | None) -> JobStatus:
        last_state: JobState | None = None
        while True:
            status = self._status()
            for event in self._fetch_new_events():
                report(progress, "train", event.step or 0, event.total_steps, event.message, **event.metrics)
            if status.state is not last_state:
                report(progress, "poll", status.step or 0, status.total_steps, f"job {status.id}: {status.state.value}")
                last_state = status.state
            if status.state.is_terminal or (deadline is not None and time.monotonic() >= deadline):
                return status
            self._sleep(self.config.poll_interval)

    def _cancel(self) -> JobStatus:
        job_id = self._require_id()
        remote = self._call("cancel job", lambda: self.client.fine_tuning.jobs.cancel(job_id))
        return self._to_status(remote)

    def _entry(self, status: JobStatus) -> ModelEntry:
        record = self._record
        assert record is not None and status.model_id is not None
        metrics = dict(status.metrics)
        if status.trained_tokens is not None:
            metrics["trained_tokens"] = float(status.trained_tokens)
        return ModelEntry(
            name=self.name,
            provider="openai",
            model_id=status.model_id,
            base=record.base,
            notes=self.notes or f"OpenAI fine-tuning job {record.job_id}",
            metrics=metrics,
            snapshot=record.snapshot,
            snapshot_chunks=record.snapshot_chunks,
            extra={
                "job_id": record.job_id,
                "backend": self.backend,
                "data": record.data,
                "dataset_sha256": record.dataset_sha256,
                "training_file": record.training_file,
                "validation_file": record.validation_file,
                "hyperparameters": record.hyperparameters,
                **({TENANT_KEY: record.tenant} if record.tenant else {}),
            },
        )

    # -- helpers -----------------------------------------------------------------
    def _upload(self, path: Path) -> str:
        def upload() -> UploadedFile:
            with path.open("rb") as handle:
                return self.client.files.create(file=(path.name, handle), purpose="fine-tune")

        uploaded = self._call(f"upload {path.name}", upload)
        log.info("Uploaded %s as %s", path, uploaded.id)
        return str(uploaded.id)

    def _fetch_new_events(self) -> list[JobEvent]:
        job_id = self._require_id()
        fresh: list[JobEvent] = []
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": EVENT_PAGE}
            if after is not None:
                kwargs["after"] = after
            page: EventPage = self._call(
                "list events", functools.partial(self.client.fine_tuning.jobs.list_events, job_id, **kwargs)
            )
            data = list(page.data)
            reached_seen = False
            for item in data:  # newest first
                if item.id in self._seen:
                    reached_seen = True
                    break
                fresh.append(_to_event(item))
            if reached_seen or not data or not getattr(page, "has_more", False):
                break
            after = data[-1].id
        fresh.reverse()
        for event in fresh:
            self._seen[event.id] = event
        return fresh

    def _to_status(self, remote: RemoteJob) -> JobStatus:
        error = getattr(remote, "error", None)
        message = None
        if error is not None and (getattr(error, "message", None) or getattr(error, "code", None)):
            message = f"{error.message} ({error.code})" if getattr(error, "code", None) else str(error.message)
        metrics: dict[str, float] = {}
        step = total = None
        for event in sorted(self._seen.values(), key=lambda e: (e.created, e.id)):
            if event.metrics:
                metrics.update(event.metrics)
                step, total = event.step, event.total_steps
        return JobStatus(
            id=remote.id,
            backend=self.backend,
            state=_state(remote.status),
            model_id=getattr(remote, "fine_tuned_model", None),
            base=remote.model,
            error=message,
            step=step,
            total_steps=total,
            trained_tokens=getattr(remote, "trained_tokens", None),
            metrics=metrics,
            created=float(remote.created_at) if getattr(remote, "created_at", None) else None,
            finished=float(finished) if (finished := getattr(remote, "finished_at", None)) else None,
            registered_as=self._result.name if self._result is not None else None,
        )

    def _require_id(self) -> str:
        job_id = self._job_id()
        if job_id is None:
            raise ConfigError("The job has not been started.")
        return job_id

    def _call(self, what: str, func: Callable[[], T]) -> T:
        return call_openai(self.config.retry, what, func, logger=log, sleep=self._sleep)


def _state(status: str) -> JobState:
    """OpenAI's status as a :class:`JobState`; statuses newer than this client (``paused`` ...) count as running."""
    try:
        return JobState(status)
    except ValueError:
        log.info("Unknown fine-tuning job status %r; treating it as running", status)
        return JobState.RUNNING


def _to_event(item: RemoteEvent) -> JobEvent:
    data = getattr(item, "data", None)
    data = data if isinstance(data, dict) else {}
    step = data.get("step")
    total = data.get("total_steps")
    return JobEvent(
        id=item.id,
        created=float(item.created_at),
        level=str(getattr(item, "level", "info")),
        message=str(getattr(item, "message", "")),
        step=int(step) if isinstance(step, (int, float)) else None,
        total_steps=int(total) if isinstance(total, (int, float)) else None,
        metrics=numeric_metrics(data),
    )


__all__ = ["JOB_RETRY", "OpenAIFineTuneJob", "OpenAITrainConfig", "RetryPolicy", "openai_client"]
