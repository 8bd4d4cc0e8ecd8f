"""OpenAI fine-tuning through the real ``openai`` client against the in-process fake API."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from ragtune.errors import ModelError, RetryableModelError
from ragtune.finetune import openai_job
from ragtune.finetune.dataset import TrainingData, load_training_data
from ragtune.finetune.job import JobState
from ragtune.finetune.jobstore import JobStore
from ragtune.finetune.openai_job import OpenAIFineTuneJob, OpenAITrainConfig
from ragtune.finetune.prepare import PrepareConfig, prepare
from ragtune.llm.registry import ModelRegistry
from ragtune.retry import RetryPolicy

BASE = "gpt-4o-mini-2024-07-18"
FAST = RetryPolicy(attempts=4, initial_wait=0.0, max_wait=0.0, max_delay=30.0)


@pytest.fixture
def data(tmp_path: Path) -> TrainingData:
    rows = [
        {
            "question": f"What does section {i} of the handbook say?",
            "answer": f"Section {i} covers topic {i}.",
            "doc_id": f"doc-{i % 5}",
            "chunk_id": f"doc-{i % 5}#{i}",
            "doc_hash": f"hash-{i % 5}",
        }
        for i in range(20)
    ]
    source = tmp_path / "qa.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    prepare([source], tmp_path / "prepared", PrepareConfig(val_fraction=0.3))
    return load_training_data(tmp_path / "prepared")


@pytest.fixture
def client(openai_server):  # type: ignore[no-untyped-def]
    return openai.OpenAI(api_key="test", base_url=openai_server.url, max_retries=0)


def make_job(data, client, tmp_path, **config):  # type: ignore[no-untyped-def]
    settings = {"poll_interval": 0.0, "retry": FAST, **config}
    return OpenAIFineTuneJob(
        data,
        client=client,
        registry=ModelRegistry(tmp_path / "models.json"),
        name="support",
        config=OpenAITrainConfig(**settings),
        jobs=JobStore(tmp_path / "jobs"),
        sleep=lambda _: None,
    )


def test_upload_create_and_follow_to_a_registered_ft_model(data, client, openai_server, tmp_path):  # type: ignore[no-untyped-def]
    job = make_job(data, client, tmp_path, n_epochs=2, batch_size=4, learning_rate_multiplier=0.5, suffix="support")
    progress = []
    entry = job.run(progress=progress.append)

    uploads = openai_server.requests_to("/v1/files", "POST")
    assert len(uploads) == 2
    parts = uploads[0].multipart()
    assert parts["purpose"][1] == b"fine-tune"
    assert parts["file"][1] == Path(data.train_path).read_bytes()
    create = openai_server.requests_to("/v1/fine_tuning/jobs", "POST")[0].body
    assert create["model"] == BASE
    assert create["suffix"] == "support"
    assert create["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": 4,
        "learning_rate_multiplier": 0.5,
    }
    assert openai_server.files.content(create["training_file"]) == Path(data.train_path).read_bytes()
    assert openai_server.files.content(create["validation_file"]) == Path(data.val_path).read_bytes()

    assert entry.model_id.startswith(f"ft:{BASE}:ragtune:support:")
    registered = ModelRegistry(tmp_path / "models.json").get("support")
    assert registered.model_id == entry.model_id
    assert registered.provider == "openai" and registered.base == BASE
    assert registered.extra["job_id"] == job.id
    assert registered.metrics["train_loss"] == pytest.approx(1.0)
    assert registered.metrics["trained_tokens"] > 0
    assert set(registered.snapshot) == {f"doc-{i}" for i in range(5)}
    assert registered.snapshot["doc-3"] == "hash-3"
    assert sum(len(v) for v in registered.snapshot_chunks.values()) == 20
    assert job.result == entry
    assert job.status().state is JobState.SUCCEEDED
    steps = [e for e in progress if e.phase == "train" and e.metrics]
    assert [e.done for e in steps] == [5, 10]
    assert steps[-1].metrics["train_loss"] == pytest.approx(1.0)
    messages = [e.message for e in job.events()]
    assert messages[0].startswith("Created fine-tuning job") and len(messages) == len(set(messages))


def test_failed_job_raises_a_model_error_with_the_reason_and_registers_nothing(data, client, openai_server, tmp_path):  # type: ignore[no-untyped-def]
    openai_server.fine_tuning.fail_next_job("Training diverged: loss is NaN.", code="training_diverged")
    job = make_job(data, client, tmp_path)
    with pytest.raises(ModelError, match=r"failed: Training diverged: loss is NaN\. \(training_diverged\)") as info:
        job.run()
    assert info.value.code == "job_failed"
    assert job.status().state is JobState.FAILED
    assert "support" not in ModelRegistry(tmp_path / "models.json")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried_on_every_call(data, client, openai_server, tmp_path, status):  # type: ignore[no-untyped-def]
    openai_server.fail_next(2, status, "/v1/files")
    openai_server.fail_next(1, status, "/v1/fine_tuning/jobs", method="POST")
    openai_server.fail_next(1, status, "/v1/fine_tuning/jobs/")
    entry = make_job(data, client, tmp_path).run()
    assert entry.model_id.startswith("ft:")
    assert len(openai_server.requests_to("/v1/files", "POST")) == 4  # 2 failed + 2 uploads
    assert len(openai_server.requests_to("/v1/fine_tuning/jobs", "POST")) == 2


def test_permanent_errors_are_not_retried(data, client, openai_server, tmp_path):  # type: ignore[no-untyped-def]
    openai_server.fail_next(1, 401, "/v1/files")
    with pytest.raises(ModelError, match="HTTP 401") as info:
        make_job(data, client, tmp_path).start()
    assert not isinstance(info.value, RetryableModelError)
    assert len(openai_server.requests_to("/v1/files", "POST")) == 1


def test_retries_give_up_with_a_retryable_error(data, client, openai_server, tmp_path):  # type: ignore[no-untyped-def]
    openai_server.fail_next(10, 503, "/v1/files")
    with pytest.raises(RetryableModelError, match="HTTP 503"):
        make_job(data, client, tmp_path).start()
    assert len(openai_server.requests_to("/v1/files", "POST")) == FAST.attempts


def test_cancel_stops_the_job_and_wait_reports_it(data, client, openai_server, tmp_path):  # type: ignore[no-untyped-def]
    job = make_job(data, client, tmp_path)
    job.start()
    assert job.cancel().state is JobState.CANCELLED
    assert openai_server.requests_to(f"/v1/fine_tuning/jobs/{job.id}/cancel", "POST")
    with pytest.raises(ModelError, match="cancelled") as info:
        job.wait()
    assert info.value.code == "cancelled"


def test_attach_resumes_a_job_after_a_crash_with_its_saved_record(data, client, openai_server, tmp_path):  # type: ignore[no-untyped-def]
    first = make_job(data, client, tmp_path, suffix="crash")
    job_id = first.start().id
    first.status()  # the process polls once, then "crashes"
    del first

    resumed = OpenAIFineTuneJob.attach(
        job_id,
        client=client,
        registry=ModelRegistry(tmp_path / "models.json"),
        jobs=JobStore(tmp_path / "jobs"),
        config=OpenAITrainConfig(poll_interval=0.0, retry=FAST),
        sleep=lambda _: None,
    )
    entry = resumed.wait()
    assert entry.name == "support"
    assert entry.model_id.startswith(f"ft:{BASE}:ragtune:crash:")
    assert entry.snapshot["doc-0"] == "hash-0"
    assert entry.extra["dataset_sha256"] == data.sha256
    assert len(openai_server.requests_to("/v1/fine_tuning/jobs", "POST")) == 1  # nothing was re-created


def test_attach_without_a_record_takes_the_name_from_job_metadata(data, client, tmp_path):  # type: ignore[no-untyped-def]
    job_id = make_job(data, client, tmp_path).start().id
    resumed = OpenAIFineTuneJob.attach(
        job_id,
        client=client,
        registry=ModelRegistry(tmp_path / "other.json"),
        config=OpenAITrainConfig(poll_interval=0.0, retry=FAST),
        sleep=lambda _: None,
    )
    assert resumed.wait().name == "support"


def test_attach_to_an_unknown_job_is_a_clear_error(client, tmp_path):  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError, match="HTTP 404"):
        OpenAIFineTuneJob.attach("ftjob-nope", client=client, registry=ModelRegistry(tmp_path / "m.json"))


def test_events_are_paged_and_never_repeated(data, client, openai_server, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(openai_job, "EVENT_PAGE", 2)
    openai_server.fine_tuning.running_polls = 4
    job = make_job(data, client, tmp_path)
    job.run()
    ids = [e.id for e in job.events()]
    assert len(ids) == len(set(ids)) == len(openai_server.fine_tuning.events[job.id])
    assert [e.step for e in job.events() if e.metrics] == [5, 10, 15, 20]


def test_wait_with_a_timeout_leaves_the_job_running(data, client, tmp_path):  # type: ignore[no-untyped-def]
    job = make_job(data, client, tmp_path)
    job.start()
    with pytest.raises(ModelError, match="still") as info:
        job.wait(timeout=0)
    assert info.value.code == "timeout"
    assert job.wait().model_id.startswith("ft:")
