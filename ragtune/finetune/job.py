"""The one interface of a fine-tuning run, whatever trains the model.

Users call the public methods; a backend implements the underscored hooks::

    job = OpenAIFineTuneJob(data, client=client, registry=registry, name="support-bot")
    job.start()                        # upload, create the job
    entry = job.wait(progress=print)   # follow it; registers the model on success
    job.result                         # the registered ModelEntry

``wait`` raises :class:`~ragtune.errors.ModelError` when the job fails or is
cancelled, with the backend's own error message.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ragtune.errors import ConfigError, ModelError
from ragtune.finetune.progress import ProgressCallback
from ragtune.llm.registry import ModelEntry, ModelRegistry


class JobState(str, Enum):
    """Life cycle of a job; the values are OpenAI's job statuses."""

    PENDING = "pending"
    """Created locally, not started."""
    VALIDATING = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class JobStatus(BaseModel):
    """Where a job stands."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    """The backend's job id (OpenAI ``ftjob-...``; the adapter folder for local jobs)."""
    backend: str
    state: JobState = JobState.PENDING
    model_id: str | None = None
    """The fine-tuned model id once the job succeeded (``ft:...`` for OpenAI)."""
    base: str | None = None
    error: str | None = None
    """Why the job failed, as the backend said it."""
    step: int | None = None
    total_steps: int | None = None
    trained_tokens: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    """Latest training metrics (``train_loss``, ``val_loss`` ...)."""
    created: float | None = None
    finished: float | None = None
    registered_as: str | None = None
    """Registry name of the model once registered."""


class JobEvent(BaseModel):
    """One event of a job: a message and, for metric events, the step's metrics."""

    model_config = ConfigDict(extra="forbid")

    id: str
    created: float
    level: str = "info"
    message: str = ""
    step: int | None = None
    total_steps: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


class FineTuneJob(ABC):
    """A fine-tuning run: start it, follow it, cancel it, get the registered model.

    Args:
        registry: Where the trained model is registered on success.
        name: Registry name of the trained model.
        notes: Free text stored with the registry entry.
    """

    backend: str = "base"

    def __init__(self, *, registry: ModelRegistry, name: str, notes: str = "") -> None:
        if not name.strip():
            raise ConfigError("A fine-tuned model needs a non-empty registry name (--name).")
        self.registry = registry
        self.name = name
        self.notes = notes
        self._result: ModelEntry | None = None

    # -- public API -----------------------------------------------------------
    @property
    def id(self) -> str | None:
        """The backend's job id, once started."""
        return self._job_id()

    def start(self) -> JobStatus:
        """Start the job (upload data and create it, or prepare local training)."""
        if self.id is not None:
            msg = f"Job {self.id} was already started; call wait() or status(), or create a new job."
            raise ConfigError(msg)
        return self._start()

    def status(self) -> JobStatus:
        """The job's current status (one API call for remote jobs)."""
        self._require_started("status")
        return self._status()

    def events(self) -> list[JobEvent]:
        """Every event of the job so far, oldest first."""
        self._require_started("events")
        return self._events()

    def wait(self, progress: ProgressCallback | None = None, *, timeout: float | None = None) -> ModelEntry:
        """Follow the job to its end and return the registered model.

        Args:
            progress: Called with a ProgressEvent per new event, step and state change.
            timeout: Seconds to wait before giving up (the job keeps running remotely).

        Raises:
            ModelError: the job failed, was cancelled, or ``timeout`` passed.
        """
        if self._result is not None:
            return self._result
        if self.id is None:
            self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        status = self._follow(progress, deadline)
        if status.state is JobState.SUCCEEDED:
            self._result = self._register(status)
            return self._result
        if status.state is JobState.CANCELLED:
            raise ModelError(f"Fine-tuning job {status.id} was cancelled; nothing was registered.", code="cancelled")
        if status.state is JobState.FAILED:
            msg = f"Fine-tuning job {status.id} failed: {status.error or 'no reason given'}. Fix the cause and retrain."
            raise ModelError(msg, code="job_failed")
        msg = (
            f"Fine-tuning job {status.id} is still {status.state.value} after {timeout}s; "
            f"resume with `ragtune finetune status {status.id}`."
        )
        raise ModelError(msg, code="timeout")

    def run(self, progress: ProgressCallback | None = None) -> ModelEntry:
        """``start()`` then ``wait()``."""
        if self.id is None:
            self.start()
        return self.wait(progress)

    def cancel(self) -> JobStatus:
        """Ask the backend to stop the job; returns the status after the request."""
        self._require_started("cancel")
        return self._cancel()

    @property
    def result(self) -> ModelEntry | None:
        """The registered model once :meth:`wait` returned, else ``None``."""
        return self._result

    def _register(self, status: JobStatus) -> ModelEntry:
        entry = self._entry(status)
        self.registry.register(entry)
        return entry

    def _require_started(self, what: str) -> None:
        if self.id is None:
            raise ConfigError(f"Cannot get {what} of a job that was not started; call start() first.")

    # -- hooks -------------------------------------------------------------------
    @abstractmethod
    def _job_id(self) -> str | None: ...

    @abstractmethod
    def _start(self) -> JobStatus: ...

    @abstractmethod
    def _status(self) -> JobStatus: ...

    @abstractmethod
    def _events(self) -> list[JobEvent]: ...

    @abstractmethod
    def _follow(self, progress: ProgressCallback | None, deadline: float | None) -> JobStatus:
        """Block until the job is terminal or ``deadline`` (monotonic) passes; return the last status."""

    @abstractmethod
    def _cancel(self) -> JobStatus: ...

    @abstractmethod
    def _entry(self, status: JobStatus) -> ModelEntry:
        """The registry entry of a succeeded job."""


def numeric_metrics(data: Any) -> dict[str, float]:
    """The numeric fields of an event's data (``step`` and ``total_steps`` excluded)."""
    if not isinstance(data, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in data.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "total_steps")
    }


__all__ = ["FineTuneJob", "JobEvent", "JobState", "JobStatus", "numeric_metrics"]
