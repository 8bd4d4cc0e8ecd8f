"""Fine-tuning: collect examples, prepare them, train (OpenAI or local LoRA), evaluate, keep fresh.

Public names load lazily, so ``import ragtune.finetune`` does not import torch
or the openai client::

    from ragtune.finetune import PrepareConfig, prepare, load_training_data, LocalLoRAJob

    report = prepare(["faq.jsonl"], "prepared", PrepareConfig(provider="local", model="smollm2-135m-instruct"))
    entry = LocalLoRAJob(load_training_data("prepared"), registry=registry, output_dir="adapters/faq").run()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragtune._lazy import lazy_getattr

if TYPE_CHECKING:
    from ragtune.finetune.collect import read_records
    from ragtune.finetune.dataset import TrainingData, load_training_data
    from ragtune.finetune.evaluate import EvalConfig, EvalReport, evaluate_models
    from ragtune.finetune.freshness import (
        corpus_snapshot,
        stale_checker,
        stale_doc_ids,
        stale_documents,
    )
    from ragtune.finetune.generate import ChatQAGenerator, QAGenerator, QAPair, TemplateQAGenerator, generate_pairs
    from ragtune.finetune.job import FineTuneJob, JobEvent, JobState, JobStatus
    from ragtune.finetune.local_lora import LocalLoRAJob, LoraTrainConfig
    from ragtune.finetune.openai_job import OpenAIFineTuneJob, OpenAITrainConfig, RetryPolicy
    from ragtune.finetune.prepare import PrepareConfig, PrepareReport, prepare
    from ragtune.finetune.progress import ProgressCallback, ProgressEvent
    from ragtune.finetune.records import Example, Provenance, Rejection, Shape
    from ragtune.finetune.retrain import RetrainDiff, retrain_diff
    from ragtune.finetune.trainers import TrainOptions, make_trainer

_DYNAMIC_IMPORTS = {
    "read_records": "collect",
    "TrainingData": "dataset",
    "load_training_data": "dataset",
    "EvalConfig": "evaluate",
    "EvalReport": "evaluate",
    "evaluate_models": "evaluate",
    "corpus_snapshot": "freshness",
    "stale_checker": "freshness",
    "stale_doc_ids": "freshness",
    "stale_documents": "freshness",
    "ChatQAGenerator": "generate",
    "QAGenerator": "generate",
    "QAPair": "generate",
    "TemplateQAGenerator": "generate",
    "generate_pairs": "generate",
    "FineTuneJob": "job",
    "JobEvent": "job",
    "JobState": "job",
    "JobStatus": "job",
    "LocalLoRAJob": "local_lora",
    "LoraTrainConfig": "local_lora",
    "OpenAIFineTuneJob": "openai_job",
    "OpenAITrainConfig": "openai_job",
    "RetryPolicy": "openai_job",
    "PrepareConfig": "prepare",
    "PrepareReport": "prepare",
    "prepare": "prepare",
    "ProgressCallback": "progress",
    "ProgressEvent": "progress",
    "Example": "records",
    "Provenance": "records",
    "Rejection": "records",
    "Shape": "records",
    "RetrainDiff": "retrain",
    "retrain_diff": "retrain",
    "TrainOptions": "trainers",
    "make_trainer": "trainers",
}

__all__ = [
    "ChatQAGenerator",
    "EvalConfig",
    "EvalReport",
    "Example",
    "FineTuneJob",
    "JobEvent",
    "JobState",
    "JobStatus",
    "LocalLoRAJob",
    "LoraTrainConfig",
    "OpenAIFineTuneJob",
    "OpenAITrainConfig",
    "PrepareConfig",
    "PrepareReport",
    "ProgressCallback",
    "ProgressEvent",
    "Provenance",
    "QAGenerator",
    "QAPair",
    "Rejection",
    "RetrainDiff",
    "RetryPolicy",
    "Shape",
    "TemplateQAGenerator",
    "TrainOptions",
    "TrainingData",
    "corpus_snapshot",
    "evaluate_models",
    "generate_pairs",
    "load_training_data",
    "make_trainer",
    "prepare",
    "read_records",
    "retrain_diff",
    "stale_checker",
    "stale_doc_ids",
    "stale_documents",
]


__getattr__ = lazy_getattr(__name__, _DYNAMIC_IMPORTS, globals())


def __dir__() -> list[str]:
    return list(__all__)
