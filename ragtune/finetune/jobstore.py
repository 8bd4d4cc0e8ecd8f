"""What a started job needs to be resumed after a crash, kept on disk by job id.

An OpenAI job runs remotely for minutes to hours. If the process that started
it dies, ``OpenAIFineTuneJob.attach(job_id, ...)`` reads the job's record from
here (registry name, base model, dataset hash and corpus snapshot) so the model
it produces is registered exactly as if the first process had waited for it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

JOBS_DIR = "finetune_jobs"
"""Folder of job records inside the store folder."""


class JobRecord(BaseModel):
    """A started job, as persisted for resuming."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    backend: str
    name: str
    """Registry name the trained model gets."""
    base: str
    notes: str = ""
    data: str | None = None
    """The prepared data folder or training file the job was started from."""
    dataset_sha256: str | None = None
    training_file: str | None = None
    """Backend file id of the uploaded training data."""
    validation_file: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    tenant: str | None = None
    """The index tenant the training data came from (freshness is checked there)."""
    snapshot: dict[str, str] = Field(default_factory=dict)
    snapshot_chunks: dict[str, list[str]] = Field(default_factory=dict)
    created: float = Field(default_factory=time.time)


class JobStore:
    """Job records as one JSON file per job id in a folder (written atomically)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def save(self, record: JobRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".job.", suffix=".tmp", dir=self.folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(record.model_dump_json(indent=2))
        os.replace(tmp, self._path(record.job_id))

    def load(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id``, or ``None`` when this store never saw it."""
        path = self._path(job_id)
        if not path.is_file():
            return None
        return JobRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))

    def list(self) -> list[JobRecord]:
        if not self.folder.is_dir():
            return []
        records = [JobRecord.model_validate_json(p.read_text(encoding="utf-8")) for p in self.folder.glob("*.json")]
        return sorted(records, key=lambda r: r.created)

    def _path(self, job_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in job_id)
        return self.folder / f"{safe}.json"


__all__ = ["JOBS_DIR", "JobRecord", "JobStore"]
