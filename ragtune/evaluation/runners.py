"""The default answerers and trainer of ``ragtune compare``: ragtune's chain and a local LoRA run.

Training questions are generated from the indexed corpus with
:mod:`ragtune.finetune.generate`: by default the deterministic
:class:`~ragtune.finetune.generate.TemplateQAGenerator` ("X is Y." becomes
"What is X?" answered by the sentence, other sentences become fill-in-the-blank
questions), which takes milliseconds and gives the same pairs every run; pass
``generator="chat"`` to have the base chat model write them instead (slow on the
CPU, and a 135M-parameter model writes poor questions). Pairs whose question
normalises to an evaluation question are dropped and counted: the model never
trains on what it is evaluated on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ragtune.evaluation.answer_metrics import normalize_answer
from ragtune.evaluation.compare import AnswerFn, TrainResult
from ragtune.progress import ProgressCallback, ProgressEvent

if TYPE_CHECKING:
    from ragtune.finetune.generate import QAPair
    from ragtune.workspace import Workspace

log = logging.getLogger(__name__)

COMPARE_MODEL = "compare-finetuned"
"""Registry name of the model ``ragtune compare`` trains."""


def _doc_ids_under(workspace: Workspace, paths: Sequence[str | Path]) -> list[str]:
    roots = [Path(p).resolve() for p in paths]
    return sorted(
        doc_id
        for doc_id, state in workspace.index.documents().items()
        if any(Path(state.source) == root or Path(state.source).is_relative_to(root) for root in roots)
    )


def generate_questions(
    workspace: Workspace,
    paths: Sequence[str | Path],
    *,
    exclude: set[str] | frozenset[str] = frozenset(),
    generator: Literal["template", "chat"] = "template",
    per_chunk: int = 4,
    progress: ProgressCallback | None = None,
) -> tuple[list[QAPair], int]:
    """Question-answer pairs for the indexed documents under ``paths``, minus those that ask an ``exclude`` question.

    Returns:
        ``(pairs, excluded)``: the pairs (with doc and chunk provenance) and how many generated
        questions matched an excluded one after SQuAD normalisation.
    """
    from ragtune.finetune.generate import ChatQAGenerator, QAGenerator, TemplateQAGenerator, generate_pairs

    maker: QAGenerator
    if generator == "chat":
        from ragtune.llm.factory import make_chat_model

        base = workspace.registry.get("base")
        maker = ChatQAGenerator(make_chat_model(base, workspace.settings, max_new_tokens=200))
    else:
        maker = TemplateQAGenerator()
    banned = {normalize_answer(q) for q in exclude}
    doc_ids = _doc_ids_under(workspace, paths)
    pairs = list(
        generate_pairs(
            workspace.index,
            maker,
            doc_ids=doc_ids,
            per_chunk=per_chunk,
            progress=_adapt(progress, "finetune: generate"),
        )
    )
    kept = [p for p in pairs if normalize_answer(p.question) not in banned]
    return kept, len(pairs) - len(kept)


def _adapt(progress: ProgressCallback | None, phase: str) -> Any:
    if progress is None:
        return None

    def forward(event: Any) -> None:
        progress(ProgressEvent(phase=phase, done=event.completed, total=event.total, message=event.message))

    return forward


def train_local(
    workspace: Workspace,
    paths: Sequence[str | Path],
    exclude: set[str],
    progress: ProgressCallback | None = None,
    *,
    name: str = COMPARE_MODEL,
    epochs: int = 4,
    learning_rate: float = 3e-3,
    generator: Literal["template", "chat"] = "template",
) -> TrainResult:
    """Generate questions from the documents under ``paths``, then LoRA-train the local model and register it.

    Every generated example is trained on (no validation split: the point is to
    learn the corpus, and the evaluation questions are held out by construction).
    """
    from ragtune.finetune.dataset import load_training_data
    from ragtune.finetune.generate import write_pairs
    from ragtune.finetune.local_lora import LocalLoRAJob, LoraTrainConfig
    from ragtune.finetune.prepare import PrepareConfig, prepare
    from ragtune.llm.registry import LOCAL_MODEL_ID

    started = time.perf_counter()
    pairs, excluded = generate_questions(workspace, paths, exclude=exclude, generator=generator, progress=progress)
    work = workspace.store / "compare" / name
    data_file = work / "generated.jsonl"
    write_pairs(pairs, data_file)
    prepared = work / "prepared"
    # No system prompt: the chain's finetuned route asks the question exactly as trained.
    config = PrepareConfig(model=LOCAL_MODEL_ID, provider="local", val_fraction=0.0, epochs=epochs)
    report = prepare([data_file], prepared, config, progress=_adapt(progress, "finetune: prepare"))
    data = load_training_data(prepared)
    train_config = LoraTrainConfig(epochs=epochs, learning_rate=learning_rate, batch_size=4, max_length=128)
    job = LocalLoRAJob(
        data,
        registry=workspace.registry,
        output_dir=work / "adapter",
        name=name,
        config=train_config,
        index=workspace.index,
        notes="trained by ragtune compare on questions generated from the corpus",
    )
    entry = job.run(progress=_adapt(progress, "finetune: train"))
    seconds = time.perf_counter() - started
    return TrainResult(
        model=entry.name,
        seconds=round(seconds, 3),
        examples=len(data.train),
        excluded_eval_overlap=excluded,
        training_tokens=report.tokens.billed,
        details={
            "generator": generator,
            "generated": len(pairs) + excluded,
            "rejected": report.rejected,
            "epochs": epochs,
            "metrics": entry.metrics,
        },
    )


def chain_answerers(
    workspace: Workspace, finetuned: str | None, *, k: int = 4, max_new_tokens: int = 48
) -> Mapping[str, AnswerFn]:
    """One answer function per approach: ragtune's chain forced to the ``rag``, ``finetuned`` or ``hybrid`` route.

    The chain's models come from the workspace's registry: ``base``, and ``finetuned`` (the registry
    name) for the fine-tuned and hybrid routes.
    """
    from ragtune.chains import ChainModel, RagChain
    from ragtune.chains.grounding.likelihood import LocalQuestionLikelihood
    from ragtune.retrievers.search import SearchOptions

    registry = workspace.registry
    settings = workspace.settings
    base = ChainModel.from_registry(registry.get("base"), settings, max_new_tokens=max_new_tokens)
    tuned = None
    if finetuned is not None:
        tuned = ChainModel.from_registry(registry.get(finetuned), settings, max_new_tokens=max_new_tokens)
    searcher = workspace.searcher(SearchOptions(k=k))
    chain = RagChain(
        base=base,
        finetuned=tuned,
        retriever=searcher.search,
        embedder=workspace.embedder,
        likelihood=LocalQuestionLikelihood(),
    )

    def route(name: str) -> AnswerFn:
        return lambda question: chain.invoke({"question": question, "route": name})

    return {name: route(name) for name in ("rag", "finetuned", "hybrid")}


__all__ = ["COMPARE_MODEL", "chain_answerers", "generate_questions", "train_local"]
