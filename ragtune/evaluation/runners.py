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
    from ragtune.chains.answer import Answer
    from ragtune.chains.context import ContextBlock
    from ragtune.evaluation.expect import Expect
    from ragtune.evaluation.training_data import Counts, Example
    from ragtune.finetune.generate import QAPair
    from ragtune.workspace import Workspace

log = logging.getLogger(__name__)

COMPARE_MODEL = "compare-finetuned"
"""Registry name of the model ``ragtune compare`` trains."""


CONTEXT_FREE_TOKENS = 256
"""Training length for an example without passages: system prompt, question and answer."""
PASSAGE_TOKENS = 320
"""Training length added per retrieved passage, so with-context examples keep their answer."""


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


def _context(
    workspace: Workspace, example: Example, k: int, expect: Expect | None
) -> tuple[list[ContextBlock], str] | None:
    """The passages the chain would show for the example's question, its own passage always among them."""
    from ragtune.chains.context import ContextOptions, assemble
    from ragtune.schema import Hit

    hits = list(workspace.searcher().search(example.question, k=k))
    if example.chunk_id is not None and all(h.chunk.id != example.chunk_id for h in hits):
        own = workspace.index.get_chunks([example.chunk_id])
        if not own:
            return None
        hits = [*hits[: max(k - 1, 0)], Hit(chunk=own[0], score=0.0, rank=len(hits[: max(k - 1, 0)]))]
    blocks, _ = assemble(hits, ContextOptions())
    if not blocks:
        return None
    if expect is not None:
        return blocks, example.answer
    number = next(
        (b.number for b in blocks if any(c.id == example.chunk_id for c in b.chunks)),
        None,
    )
    return blocks, f"{example.answer} [{number}]" if number is not None else example.answer


def training_examples(
    workspace: Workspace,
    paths: Sequence[str | Path],
    exclude: set[str],
    *,
    expect: Expect | None = None,
    train_file: str | Path | None = None,
    generator: Literal["template", "chat"] = "template",
    progress: ProgressCallback | None = None,
) -> tuple[list[Example], Counts]:
    """The fine-tuned arm's examples: ``train_file``, else pairs generated from ``paths`` and rendered to ``expect``.

    Evaluation questions (``exclude``) and answers that break a rule are dropped and counted.
    """
    from ragtune.evaluation.training_data import (
        Counts,
        Example,
        filter_examples,
        read_train_file,
        record_answer,
        record_question,
        render,
    )

    counts = Counts()
    examples: list[Example] = []
    if train_file is not None:
        for number, record in enumerate(read_train_file(train_file), start=1):
            question, answer = record_question(record), record_answer(record)
            if question is None or answer is None:
                counts.problems.append(f"{train_file} line {number}: no question and answer found; skipped")
                continue
            examples.append(Example(question=question, answer=answer.strip()))
        return filter_examples(examples, exclude, expect, counts), counts
    pairs, excluded = generate_questions(workspace, paths, generator=generator, progress=progress)
    sources = {doc_id: state.source for doc_id, state in workspace.index.documents().items()}
    unrenderable = 0
    for pair in pairs:
        rendered = render(expect, pair.answer, sources.get(pair.doc_id, ""))
        if rendered is None:
            unrenderable += 1
            continue
        examples.append(Example(pair.question, rendered, sources.get(pair.doc_id, ""), pair.chunk_id))
    kept = filter_examples(examples, exclude, expect, counts)
    counts.read += unrenderable
    counts.not_meeting_expect += unrenderable
    counts.excluded_eval_overlap += excluded
    return kept, counts


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
    expect: Expect | None = None,
    train_file: str | Path | None = None,
    with_context: bool = True,
    k: int = 4,
) -> TrainResult:
    """Build the examples (:func:`training_examples`), LoRA-train the local model on them and register it.

    With ``with_context`` each example is trained both on the bare question and, RAFT-style, on the
    rag/hybrid prompt with retrieved passages (see :mod:`ragtune.evaluation.training_data`), so one
    model serves the finetuned arm (no context) and the hybrid arm (with context). Every kept
    example is trained on (no validation split: the evaluation questions are held out by construction).

    Raises:
        InputError: no example is left to train on (the message says why).
    """
    from ragtune.chains.prompt import Prompts
    from ragtune.errors import InputError
    from ragtune.evaluation.structured import expect_prompts
    from ragtune.evaluation.training_data import chat_records
    from ragtune.finetune.dataset import load_training_data
    from ragtune.finetune.local_lora import LocalLoRAJob, LoraTrainConfig
    from ragtune.finetune.prepare import PrepareConfig, prepare, write_jsonl
    from ragtune.llm.registry import LOCAL_MODEL_ID

    started = time.perf_counter()
    examples, counts = training_examples(
        workspace, paths, exclude, expect=expect, train_file=train_file, generator=generator, progress=progress
    )
    if not examples:
        source = f"--train {train_file}" if train_file is not None else "the questions generated from the corpus"
        msg = (
            f"No training example left from {source}: {counts.excluded_eval_overlap} ask an evaluation question, "
            f"{counts.not_meeting_expect} do not meet the expect requirement"
            + (
                " (generated answers cannot be labels: pass --train with labelled examples)"
                if expect and expect.labels
                else ""
            )
            + "."
        )
        raise InputError(msg)
    prompts = (expect_prompts(expect) if expect is not None else Prompts()) if with_context else None
    contexts = [_context(workspace, e, k, expect) if with_context else None for e in examples]
    records = chat_records(examples, prompts, contexts, counts)
    work = workspace.store / "compare" / name
    work.mkdir(parents=True, exist_ok=True)
    data_file = work / "training.jsonl"
    with data_file.open("w", encoding="utf-8") as handle:
        write_jsonl(handle, records)
    prepared = work / "prepared"
    config = PrepareConfig(model=LOCAL_MODEL_ID, provider="local", val_fraction=0.0, epochs=epochs)
    report = prepare([data_file], prepared, config, progress=_adapt(progress, "finetune: prepare"))
    data = load_training_data(prepared)
    train_config = LoraTrainConfig(
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=4,
        # Room for the system prompt, question and answer, plus k passages: a chunk is at most 200 MiniLM
        # tokens by default, which SmolLM2's tokenizer counts at up to ~1.4x, plus its block header. At
        # 160 per passage, 66 of 73 SQuAD examples were cut before their answer and skipped.
        max_length=CONTEXT_FREE_TOKENS + PASSAGE_TOKENS * k if with_context else CONTEXT_FREE_TOKENS,
        threads=_training_threads(),
    )
    job = LocalLoRAJob(
        data,
        registry=workspace.registry,
        output_dir=work / "adapter",
        name=name,
        config=train_config,
        index=workspace.index,
        notes="trained by ragtune compare"
        + (f" on {train_file}" if train_file else " on questions generated from the corpus"),
    )
    entry = job.run(progress=_adapt(progress, "finetune: train"))
    seconds = time.perf_counter() - started
    return TrainResult(
        model=entry.name,
        seconds=round(seconds, 3),
        examples=len(data.train),
        excluded_eval_overlap=counts.excluded_eval_overlap,
        training_tokens=report.tokens.billed,
        details={
            "source": str(train_file) if train_file is not None else f"generated ({generator})",
            "read": counts.read,
            "not_meeting_expect": counts.not_meeting_expect,
            "with_context": counts.with_context,
            "without_context": counts.without_context,
            "no_context": counts.no_context,
            "problems": counts.problems[:20],
            "rejected": report.rejected,
            "epochs": epochs,
            "metrics": entry.metrics,
        },
    )


def _blocks(workspace: Workspace, answer: Answer) -> list[ContextBlock]:
    """The blocks an answer was shown, rebuilt from its context citations (for the value check)."""
    from ragtune.chains.context import ContextBlock

    blocks = []
    for rank, citation in enumerate(answer.context):
        chunks = workspace.index.get_chunks(list(citation.chunk_ids or (citation.chunk_id,)))
        if chunks:
            text = "\n".join(c.text for c in chunks)
            blocks.append(
                ContextBlock(number=citation.number, text=text, chunks=chunks, rank=rank, score=citation.score or 0.0)
            )
    return blocks


def chain_answerers(
    workspace: Workspace, finetuned: str | None, *, k: int = 4, max_new_tokens: int = 48
) -> Mapping[str, AnswerFn]:
    """One answer function per approach: ragtune's chain forced to the ``rag``, ``finetuned`` or ``hybrid`` route.

    The chain's models come from the workspace's registry: ``base``, and ``finetuned`` (the registry
    name) for the fine-tuned and hybrid routes. Called with an :class:`Expect` as second argument,
    a function answers under that requirement: the rag and hybrid prompts state it
    (:func:`~ragtune.evaluation.structured.expect_prompts`), the chain's sentence grounding is off
    (it would rewrite the model's structure), and JSON answers of rag and hybrid get the same value
    check (:func:`~ragtune.evaluation.structured.ground_values`).
    """
    from ragtune.chains import ChainConfig, ChainModel, RagChain
    from ragtune.chains.grounding.likelihood import LocalQuestionLikelihood
    from ragtune.evaluation.structured import apply_values, expect_prompts, ground_values
    from ragtune.retrievers.search import SearchOptions

    registry = workspace.registry
    settings = workspace.settings
    structured_tokens = max(max_new_tokens, 80)

    def models(tokens: int) -> tuple[ChainModel, ChainModel | None]:
        base = ChainModel.from_registry(registry.get("base"), settings, max_new_tokens=tokens)
        tuned = None
        if finetuned is not None:
            tuned = ChainModel.from_registry(registry.get(finetuned), settings, max_new_tokens=tokens)
        return base, tuned

    base, tuned = models(max_new_tokens)
    searcher = workspace.searcher(SearchOptions(k=k))
    likelihood = LocalQuestionLikelihood()
    chain = RagChain(
        base=base, finetuned=tuned, retriever=searcher.search, embedder=workspace.embedder, likelihood=likelihood
    )
    structured_models: list[tuple[ChainModel, ChainModel | None]] = []
    chains: dict[str, RagChain] = {}

    def chain_for(expect: Expect) -> RagChain:
        key = expect.model_dump_json()
        if key not in chains:
            if not structured_models:
                structured_models.append(models(structured_tokens))
            s_base, s_tuned = structured_models[0]
            chains[key] = RagChain(
                base=s_base,
                finetuned=s_tuned,
                retriever=searcher.search,
                embedder=workspace.embedder,
                likelihood=likelihood,
                prompts=expect_prompts(expect),
                config=ChainConfig(mode="stuff", grounding="off"),
            )
        return chains[key]

    def route(name: str) -> AnswerFn:
        def answer(question: str, expect: Expect | None = None) -> Answer:
            if expect is None:
                return chain.invoke({"question": question, "route": name})
            structured = chain_for(expect)
            result = structured.invoke({"question": question, "route": name})
            if name != "finetuned" and expect.format == "json":
                blocks = _blocks(workspace, result)
                grounded = ground_values(
                    result.text, question, expect, blocks, structured.verifier, structured.similarity
                )
                result = apply_values(result, grounded)
            return result

        return answer

    return {name: route(name) for name in ("rag", "finetuned", "hybrid")}


def _training_threads() -> int | None:
    """``RAGTUNE_NUM_THREADS`` when set, else torch's default (every core).

    On 2 quiet cores a LoRA step on 4 x 600 tokens took 15 s with 2 threads against 29 s with one
    (measured); one thread only wins on a machine already busy with other work, where the user says so.
    """
    import os

    wanted = os.environ.get("RAGTUNE_NUM_THREADS", "").strip()
    return max(1, int(wanted)) if wanted.isdigit() else None


__all__ = ["COMPARE_MODEL", "chain_answerers", "generate_questions", "train_local", "training_examples"]
