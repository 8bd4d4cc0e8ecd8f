"""The part of the ``openai`` client that OpenAI fine-tuning uses, as protocols.

:class:`~ragtune.finetune.openai_job.OpenAIFineTuneJob` calls five endpoints: upload a file,
then create, retrieve, cancel a job and page through its events. Typing the client as
:class:`FineTuningClient` rather than ``Any`` lets mypy check those calls and what is read from
the replies, while ``openai.OpenAI`` (the real client, also pointed at the tests' in-process
API) and any stand-in with the same shape fit without subclassing.

Example:
    >>> client: FineTuningClient = openai.OpenAI(api_key=key, max_retries=0)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO, Literal, Protocol


class UploadedFile(Protocol):
    """A file the API stored (``openai.types.FileObject``)."""

    @property
    def id(self) -> str: ...


class RemoteJob(Protocol):
    """A fine-tuning job as the API reports it (``openai.types.fine_tuning.FineTuningJob``).

    Fields a server may leave out (``fine_tuned_model``, ``error``, ``trained_tokens``,
    ``metadata``) are read with ``getattr`` and not listed here.
    """

    @property
    def id(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def training_file(self) -> str: ...
    @property
    def validation_file(self) -> str | None: ...
    @property
    def created_at(self) -> float: ...
    @property
    def finished_at(self) -> float | None: ...


class RemoteEvent(Protocol):
    """One event of a job (``openai.types.fine_tuning.FineTuningJobEvent``); ``level``, ``message``
    and ``data`` are read with ``getattr``."""

    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> float: ...


class EventPage(Protocol):
    """A page of events, newest first (``openai.pagination.SyncCursorPage``); ``has_more`` is read with ``getattr``."""

    @property
    def data(self) -> Sequence[RemoteEvent]: ...


class FilesAPI(Protocol):
    """``client.files``."""

    def create(self, *, file: tuple[str, BinaryIO], purpose: Literal["fine-tune"]) -> UploadedFile: ...


class JobsAPI(Protocol):
    """``client.fine_tuning.jobs``."""

    def create(
        self,
        *,
        model: str,
        training_file: str,
        method: Any = ...,
        metadata: dict[str, str] | None = ...,
        validation_file: str | None = ...,
        suffix: str | None = ...,
        seed: int | None = ...,
    ) -> RemoteJob: ...

    def retrieve(self, fine_tuning_job_id: str, /) -> RemoteJob: ...

    def cancel(self, fine_tuning_job_id: str, /) -> RemoteJob: ...

    def list_events(self, fine_tuning_job_id: str, /, *, after: str = ..., limit: int = ...) -> EventPage: ...


class FineTuningAPI(Protocol):
    """``client.fine_tuning``."""

    @property
    def jobs(self) -> JobsAPI: ...


class FineTuningClient(Protocol):
    """What :class:`~ragtune.finetune.openai_job.OpenAIFineTuneJob` needs of an ``openai.OpenAI`` client."""

    @property
    def files(self) -> FilesAPI: ...
    @property
    def fine_tuning(self) -> FineTuningAPI: ...


__all__ = [
    "EventPage",
    "FilesAPI",
    "FineTuningAPI",
    "FineTuningClient",
    "JobsAPI",
    "RemoteEvent",
    "RemoteJob",
    "UploadedFile",
]
