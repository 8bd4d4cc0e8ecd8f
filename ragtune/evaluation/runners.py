"""The default answerers and trainer of ``ragtune compare``: ragtune's chain and a local LoRA run.

Training questions are generated from the indexed corpus by
:func:`sentence_questions`: every fact sentence of every chunk becomes one
question-answer pair, the question built from the sentence's subject ("The
national dish is brine pie." -> "What is the national dish?") and the answer
being the sentence itself. It needs no model, so it is deterministic and takes
milliseconds; a 135M-parameter model writes worse questions, slowly. Pairs
whose question normalises to an evaluation question are dropped (and counted):
the model never trains on what it is evaluated on.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragtune.evaluation.answer_metrics import content_tokens, normalize_answer, split_sentences
from ragtune.evaluation.compare import AnswerFn, TrainResult
from ragtune.progress import ProgressCallback, ProgressEvent

if TYPE_CHECKING:
    from ragtune.workspace import Workspace

log = logging.getLogger(__name__)

COMPARE_MODEL = "compare-finetuned"
"""Registry name of the model ``ragtune compare`` trains."""
SYSTEM_PROMPT = "Answer the question about the documents in one short sentence."

_COPULA = re.compile(r"^(?P<subject>.{3,80}?)\s+(?P<verb>is|are|was|were|has|have)\s+(?P<rest>.+)$")
_LEADING = {"the", "its", "a", "an", "their", "his", "her", "this", "these"}


def _subject(text: str) -> str:
    first, _, tail = text.partition(" ")
    return f"{first.lower()} {tail}".strip() if first.lower() in _LEADING else text


def question_for(sentence: str, title: str | None) -> str:
    """A question whose answer is ``sentence``.

    ``X is/are/was/were Y`` asks "What is X?", ``X has Y`` asks "What does X have?";
    passives ("was founded in ...") and other sentences ask to complete the sentence's opening words.
    """
    text = sentence.strip().rstrip(".!?")
    match = _COPULA.match(text)
    if match:
        subject, verb = _subject(match.group("subject")), match.group("verb")
        participle = match.group("rest").split()[0]
        if verb in ("has", "have"):
            return f"What {'does' if verb == 'has' else 'do'} {subject} have?"
        if not participle.endswith("ed"):
            return f"What {verb} {subject}?"
    words = text.split()
    opening = " ".join(words[: max(3, len(words) // 2)])
    where = f" from the {title} document" if title else ""
    return f"Complete this fact{where}: {opening} ..."


def _documents_under(workspace: Workspace, paths: Sequence[str | Path]) -> list[Any]:
    roots = [Path(p).resolve() for p in paths]
    states = workspace.index.documents()
    chosen = []
    for state in states.values():
        source = Path(state.source)
        if any(source == root or source.is_relative_to(root) for root in roots):
            chosen.append(state)
    return sorted(chosen, key=lambda s: s.source)


def sentence_questions(
    workspace: Workspace,
    paths: Sequence[str | Path],
    *,
    exclude: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[list[dict[str, Any]], int]:
    """Question-answer records (with provenance) for every fact sentence of the indexed documents under ``paths``.

    Returns:
        ``(records, excluded)``: records in the QA shape ``prepare`` reads, and how many
        generated questions matched an ``exclude`` question (normalised) and were dropped.
    """
    banned = {normalize_answer(q) for q in exclude}
    records: list[dict[str, Any]] = []
    excluded = 0
    for state in _documents_under(workspace, paths):
        for chunk in workspace.index.get_chunks(list(state.chunk_ids)):
            for sentence in split_sentences(chunk.text):
                if sentence.startswith("#") or len(content_tokens(sentence)) < 3:
                    continue
                question = question_for(sentence, chunk.title)
                if normalize_answer(question) in banned:
                    excluded += 1
                    continue
                records.append(
                    {
                        "question": question,
                        "answer": sentence,
                        "doc_id": state.doc_id,
                        "chunk_id": chunk.id,
                        "doc_hash": state.doc_hash,
                    }
                )
    return records, excluded


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
    epochs: int = 6,
    learning_rate: float = 3e-3,
) -> TrainResult:
    """Generate questions from the documents under ``paths``, then LoRA-train the local model and register it.

    Every generated example is trained on (no validation split: the point is to
    learn the corpus, and the evaluation questions are held out by construction).
    """
    from ragtune.finetune.dataset import load_training_data
    from ragtune.finetune.local_lora import LocalLoRAJob, LoraTrainConfig
    from ragtune.finetune.prepare import PrepareConfig, prepare
    from ragtune.llm.registry import LOCAL_MODEL_ID, ModelRegistry

    started = time.perf_counter()
    records, excluded = sentence_questions(workspace, paths, exclude=exclude)
    work = workspace.store / "compare"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", dir=work, delete=False, encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
        data_file = Path(handle.name)
    prepared = work / "prepared"
    config = PrepareConfig(model=LOCAL_MODEL_ID, provider="local", val_fraction=0.0, system_prompt=SYSTEM_PROMPT)
    report = prepare([data_file], prepared, config, progress=_adapt(progress, "finetune: prepare"))
    data = load_training_data(prepared)
    train_config = LoraTrainConfig(epochs=epochs, learning_rate=learning_rate, batch_size=8, max_length=128)
    job = LocalLoRAJob(
        data,
        registry=ModelRegistry(workspace.registry_path),
        output_dir=work / "adapters" / name,
        name=name,
        config=train_config,
        index=workspace.index,
        notes="trained by ragtune compare on questions generated from the corpus",
    )
    entry = job.run(progress=_adapt(progress, "finetune: train"))
    seconds = time.perf_counter() - started
    tokens = report.tokens.model_dump() if hasattr(report.tokens, "model_dump") else {}
    billed = int(tokens.get("billed", 0) or 0)
    return TrainResult(
        model=entry.name,
        seconds=round(seconds, 3),
        examples=len(data.train),
        excluded_eval_overlap=excluded,
        training_tokens=billed,
        details={"generated": len(records), "rejected": report.rejected, "epochs": epochs, "metrics": entry.metrics},
    )


def chain_answerers(workspace: Workspace, finetuned: str | None) -> Mapping[str, AnswerFn]:
    """One answer function per approach: the chain forced to the ``rag``, ``finetuned`` or ``hybrid`` route."""
    from ragtune.agents.toolkit import invoke_chain
    from ragtune.chains import build_chain

    chain = build_chain(workspace, finetuned_model=finetuned) if finetuned else build_chain(workspace)

    def route(name: str) -> AnswerFn:
        return lambda question: invoke_chain(chain, question, name)

    return {name: route(name) for name in ("rag", "finetuned", "hybrid")}


__all__ = ["COMPARE_MODEL", "chain_answerers", "question_for", "sentence_questions", "train_local"]
