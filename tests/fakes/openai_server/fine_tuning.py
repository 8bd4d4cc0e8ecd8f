"""``/v1/fine_tuning/jobs``: create, list, retrieve, list events, cancel.

A job advances one step each time it is retrieved, the way a client polling
the real API sees it: ``validating_files`` -> ``queued`` -> ``running`` (for
``running_polls`` retrievals, each adding a metrics event) -> ``succeeded``
with ``fine_tuned_model = "ft:<base>:ragtune:<suffix>:<id>"``. Tests steer it
on ``server.fine_tuning``::

    server.fine_tuning.running_polls = 3
    server.fine_tuning.fail_next_job("Training file has too few examples.", code="invalid_n_examples")
    server.fine_tuning.jobs["ftjob-..."]       # the job object as the API returns it

A training file whose lines are not chat records (``{"messages": [...]}``)
fails validation with ``invalid_training_file``, as the real service does.
Transient errors come from the base server's ``fail_next``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .base import FakeOpenAIServer, RecordedRequest, Response, error_response, extension, next_id, route

TERMINAL = {"succeeded", "failed", "cancelled"}
STEPS_PER_POLL = 5


@dataclass
class PlannedFailure:
    message: str
    code: str
    param: str | None = None


@extension("fine_tuning")
class FineTuningJobs:
    """Fine-tuning jobs of one server and the knobs tests turn."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.jobs: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.running_polls = 2
        """Retrievals a job spends in ``running`` before it finishes."""
        self.known_models: set[str] | None = None
        self._failures: list[PlannedFailure] = []
        self._ticks: dict[str, int] = {}

    def fail_next_job(
        self, message: str = "Fine-tuning failed.", *, code: str = "training_failed", param: str | None = None
    ) -> None:
        """The next job created fails when it would have finished, with this error."""
        self._failures.append(PlannedFailure(message, code, param))

    def reset(self) -> None:
        self.jobs.clear()
        self.events.clear()
        self._failures.clear()
        self._ticks.clear()
        self.running_polls = 2
        self.known_models = None

    # -- state machine ------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        job_id = next_id("ftjob")
        method = body.get("method") or {"type": "supervised", "supervised": {}}
        hyper = dict(body.get("hyperparameters") or {})
        hyper.update(((method.get(method.get("type", "supervised")) or {}).get("hyperparameters")) or {})
        resolved = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto", **hyper}
        job = {
            "object": "fine_tuning.job",
            "id": job_id,
            "model": body["model"],
            "created_at": int(time.time()),
            "finished_at": None,
            "fine_tuned_model": None,
            "organization_id": "org-ragtune",
            "result_files": [],
            "status": "validating_files",
            "validation_file": body.get("validation_file"),
            "training_file": body["training_file"],
            "hyperparameters": resolved,
            "trained_tokens": None,
            "error": None,
            "seed": body.get("seed", 42),
            "user_provided_suffix": body.get("suffix"),
            "estimated_finish": None,
            "integrations": None,
            "metadata": body.get("metadata"),
            "method": {**method, "type": method.get("type", "supervised")},
        }
        self.jobs[job_id] = job
        self.events[job_id] = []
        self._ticks[job_id] = 0
        if self._failures:
            job["_planned_failure"] = self._failures.pop(0)
        self._event(job_id, f"Created fine-tuning job: {job_id}")
        return job

    def advance(self, job_id: str) -> None:
        job = self.jobs[job_id]
        if job["status"] in TERMINAL:
            return
        self._ticks[job_id] += 1
        if job["status"] == "validating_files":
            problem = self._validate(job)
            if problem is not None:
                self._finish(
                    job, "failed", error={"code": "invalid_training_file", "message": problem, "param": "training_file"}
                )
                return
            self._event(job_id, "Validating training file: " + job["training_file"])
            job["status"] = "queued"
            return
        if job["status"] == "queued":
            job["status"] = "running"
            self._event(job_id, "Fine-tuning job started")
            return
        running = sum(1 for e in self.events[job_id] if e["type"] == "metrics")
        total = self.running_polls * STEPS_PER_POLL
        if running < self.running_polls:
            step = (running + 1) * STEPS_PER_POLL
            loss = round(2.0 / (running + 1), 4)
            data = {"step": step, "total_steps": total, "train_loss": loss, "train_mean_token_accuracy": 0.5}
            if job["validation_file"]:
                data["valid_loss"] = round(loss * 1.1, 4)
            self._event(job_id, f"Step {step}/{total}: training loss={loss}", type="metrics", data=data)
            return
        failure: PlannedFailure | None = job.pop("_planned_failure", None)
        if failure is not None:
            self._finish(
                job, "failed", error={"code": failure.code, "message": failure.message, "param": failure.param}
            )
            return
        suffix = job["user_provided_suffix"] or ""
        job["fine_tuned_model"] = f"ft:{job['model']}:ragtune:{suffix}:{job_id.split('-')[-1]}"
        job["trained_tokens"] = self._training_bytes(job) // 4 * self._epochs(job)
        job["result_files"] = [self.server.files.add("step_metrics.csv", b"step,train_loss\n", "fine-tune")["id"]]
        self._event(job_id, "New fine-tuned model created")
        self._finish(job, "succeeded")

    def cancel(self, job_id: str) -> Response | dict[str, Any]:
        job = self.jobs[job_id]
        if job["status"] in TERMINAL:
            return error_response(400, f"Job has already completed with status {job['status']}.", code="invalid_state")
        self._finish(job, "cancelled")
        return public(job)

    def _finish(self, job: dict[str, Any], status: str, *, error: dict[str, Any] | None = None) -> None:
        job["status"] = status
        job["finished_at"] = int(time.time())
        job["error"] = error
        message = {"succeeded": "The job has successfully completed", "cancelled": "Fine-tuning job cancelled"}
        level = "error" if status == "failed" else "info"
        self._event(job["id"], (error or {}).get("message") or message.get(status, status), level=level)

    def _event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.events[job_id].append(
            {
                "object": "fine_tuning.job.event",
                "id": next_id("ftevent"),
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data or {},
                "type": type,
            }
        )

    def _validate(self, job: dict[str, Any]) -> str | None:
        for key in ("training_file", "validation_file"):
            file_id = job[key]
            if file_id is None:
                continue
            for number, line in enumerate(self.server.files.content(file_id).decode().splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    return f"Invalid file format. Line {number} is not valid JSON."
                if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
                    return f'Invalid file format. Line {number}, key "messages": missing or not a list.'
        return None

    def _training_bytes(self, job: dict[str, Any]) -> int:
        return len(self.server.files.content(job["training_file"]))

    @staticmethod
    def _epochs(job: dict[str, Any]) -> int:
        n = job["hyperparameters"].get("n_epochs")
        return n if isinstance(n, int) else 3


def public(job: dict[str, Any]) -> dict[str, Any]:
    """The job as the API shows it (test-only keys removed)."""
    return {k: v for k, v in job.items() if not k.startswith("_")}


def _missing(job_id: str) -> Response:
    return error_response(404, f"Could not find fine-tune: {job_id}", code="fine_tune_not_found", param="id")


@route("POST", "/v1/fine_tuning/jobs")
def create(server: FakeOpenAIServer, request: RecordedRequest) -> Response | dict[str, Any]:
    body = request.body
    if not isinstance(body, dict) or not body.get("model") or not body.get("training_file"):
        return error_response(400, "'model' and 'training_file' are required.", param="training_file")
    jobs: FineTuningJobs = server.fine_tuning
    if jobs.known_models is not None and body["model"] not in jobs.known_models:
        return error_response(
            400, f"Model {body['model']} is not available for fine-tuning.", param="model", code="model_not_available"
        )
    for key in ("training_file", "validation_file"):
        file_id = body.get(key)
        if file_id is not None and file_id not in server.files.objects:
            return error_response(400, f"invalid {key}: {file_id}", param=key, code="invalid_request")
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
        return error_response(400, "suffix must be a string of at most 64 characters.", param="suffix")
    return public(jobs.create(body))


@route("GET", "/v1/fine_tuning/jobs")
def list_jobs(server: FakeOpenAIServer, request: RecordedRequest) -> dict[str, Any]:
    jobs = sorted(server.fine_tuning.jobs.values(), key=lambda j: j["id"], reverse=True)
    return _page([public(j) for j in jobs], request)


@route("GET", "/v1/fine_tuning/jobs/{job_id}")
def retrieve(server: FakeOpenAIServer, request: RecordedRequest, job_id: str) -> Response | dict[str, Any]:
    if job_id not in server.fine_tuning.jobs:
        return _missing(job_id)
    server.fine_tuning.advance(job_id)
    return public(server.fine_tuning.jobs[job_id])


@route("GET", "/v1/fine_tuning/jobs/{job_id}/events")
def list_events(server: FakeOpenAIServer, request: RecordedRequest, job_id: str) -> Response | dict[str, Any]:
    if job_id not in server.fine_tuning.jobs:
        return _missing(job_id)
    return _page(list(reversed(server.fine_tuning.events[job_id])), request)


@route("POST", "/v1/fine_tuning/jobs/{job_id}/cancel")
def cancel(server: FakeOpenAIServer, request: RecordedRequest, job_id: str) -> Response | dict[str, Any]:
    if job_id not in server.fine_tuning.jobs:
        return _missing(job_id)
    return server.fine_tuning.cancel(job_id)


def _page(items: list[dict[str, Any]], request: RecordedRequest) -> dict[str, Any]:
    """OpenAI cursor pagination: items newest first, ``after`` = the last id of the previous page."""
    limit = int(request.query.get("limit", ["20"])[0])
    after = request.query.get("after", [None])[0]
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit}
