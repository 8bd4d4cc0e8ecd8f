"""Generate question-answer pairs from the indexed corpus, each tied to its chunk and document.

Generators are pluggable: :class:`QAGenerator` wraps one hook,
``_generate(chunk, n) -> [(question, answer), ...]``. Two ship here:

- :class:`ChatQAGenerator` asks a chat model and parses whatever it answers
  (a JSON list, JSON lines, ``Q:``/``A:`` blocks, numbered lists, code fences);
- :class:`TemplateQAGenerator` is deterministic and needs no model: definition
  questions for "X is Y" sentences and cloze questions otherwise. It is also
  the fallback when a small model's output cannot be parsed.

Every :class:`QAPair` keeps ``doc_id``, ``chunk_id`` and ``doc_hash``; prepare
carries them into the training data, and the registry entry of a model trained
on it records the corpus snapshot (see :mod:`ragtune.finetune.freshness`).
"""

from __future__ import annotations

import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ragtune.finetune.progress import ProgressCallback, report
from ragtune.index.base import Index
from ragtune.schema import Chunk

log = logging.getLogger(__name__)

_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_DEFINITION_RE = re.compile(r"^(?P<subject>[A-Z][\w\- ']{1,60}?) (?P<verb>is|are|was|were) (?P<rest>.{3,})$")
_WORD_RE = re.compile(r"\b[\w][\w\-']*\b")
_QA_BLOCK_RE = re.compile(
    r"(?:^|\n)\s*(?:[-*#\d.)\s]*)?\**\s*(?:Q|Question)\s*\d*\s*[:.)]\**\s*(?P<q>.+?)\s*\n+"
    r"\s*(?:[-*\s]*)?\**\s*(?:A|Answer)\s*\d*\s*[:.)]\**\s*(?P<a>.+?)(?=\n\s*(?:[-*#\d.)\s]*)?\**\s*(?:Q|Question)\s*\d*\s*[:.)]|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_PRONOUNS = frozenset(
    ["it", "this", "that", "these", "those", "they", "he", "she", "we", "you", "i", "there", "here", "its", "one"]
)
_FENCE_RE = re.compile(r"```(?:json|jsonl)?\s*\n?(.*?)```", re.DOTALL)
_STOPWORDS = frozenset(
    [
        "about",
        "above",
        "after",
        "again",
        "against",
        "because",
        "before",
        "being",
        "below",
        "between",
        "could",
        "does",
        "doing",
        "during",
        "either",
        "every",
        "their",
        "there",
        "these",
        "those",
        "through",
        "under",
        "until",
        "where",
        "which",
        "while",
        "would",
        "should",
        "other",
        "another",
    ]
)


class QAPair(BaseModel):
    """One generated pair and where it came from."""

    model_config = ConfigDict(extra="forbid")

    question: str
    answer: str
    doc_id: str
    chunk_id: str
    doc_hash: str | None = None
    generator: str = ""

    def to_record(self) -> dict[str, Any]:
        """The JSONL record prepare reads (a ``qa`` shape with provenance)."""
        return self.model_dump(exclude_none=True)


class QAGenerator(ABC):
    """Makes question-answer pairs from one chunk; subclasses implement ``_generate``."""

    name: str = "generator"

    def generate(self, chunk: Chunk, *, n: int = 2, doc_hash: str | None = None) -> list[QAPair]:
        """Up to ``n`` distinct, non-empty pairs about ``chunk``."""
        seen: set[str] = set()
        pairs: list[QAPair] = []
        for question, answer in self._generate(chunk, n):
            question, answer = " ".join(question.split()), answer.strip()
            if not question or not answer or question.casefold() in seen:
                continue
            seen.add(question.casefold())
            pairs.append(
                QAPair(
                    question=question,
                    answer=answer,
                    doc_id=chunk.doc_id,
                    chunk_id=chunk.id,
                    doc_hash=doc_hash or chunk.doc_hash or None,
                    generator=self.name,
                )
            )
            if len(pairs) >= n:
                break
        return pairs

    @abstractmethod
    def _generate(self, chunk: Chunk, n: int) -> list[tuple[str, str]]: ...


class TemplateQAGenerator(QAGenerator):
    """Deterministic pairs from the chunk's sentences, no model needed.

    "X is Y." becomes "What is X?" answered by the sentence; other sentences
    become cloze questions whose answer is their longest content word or a
    number. The same chunk always gives the same pairs.
    """

    name = "template"

    def __init__(self, *, min_words: int = 6, max_words: int = 60) -> None:
        self.min_words = min_words
        self.max_words = max_words

    def _generate(self, chunk: Chunk, n: int) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for sentence in split_sentences(chunk.text):
            words = sentence.split()
            if not self.min_words <= len(words) <= self.max_words:
                continue
            pair = self._definition(sentence) or self._cloze(sentence, chunk.title)
            if pair is not None:
                pairs.append(pair)
            if len(pairs) >= n:
                break
        return pairs

    @staticmethod
    def _definition(sentence: str) -> tuple[str, str] | None:
        match = _DEFINITION_RE.match(sentence)
        if match is None:
            return None
        subject = match["subject"].strip()
        if len(subject.split()) > 8 or subject.split()[0].lower() in _PRONOUNS:
            return None
        return f"What {match['verb']} {subject}?", sentence

    @staticmethod
    def _cloze(sentence: str, title: str | None) -> tuple[str, str] | None:
        words = _WORD_RE.findall(sentence)
        numbers = [w for w in words if any(c.isdigit() for c in w)]
        content = [w for w in words[1:] if len(w) >= 5 and w.lower() not in _STOPWORDS]
        target = numbers[0] if numbers else max(content, key=len, default=None)
        if target is None:
            return None
        blanked = re.sub(rf"\b{re.escape(target)}\b", "____", sentence, count=1)
        where = f" (from {title})" if title else ""
        return f"Fill in the blank{where}: {blanked}", target


PROMPT = (
    "Write {n} question-answer pairs that a reader could answer from the text below. "
    "Each answer must be stated in the text.\n"
    'Reply with JSON only: [{{"question": "...", "answer": "..."}}]\n\n'
    "Text:\n<<<\n{text}\n>>>"
)


class ChatQAGenerator(QAGenerator):
    """Pairs written by a chat model (anything with ``invoke(messages) -> message with .content``).

    Args:
        model: A LangChain chat model, e.g. ``make_chat_model(registry.get("base"))``.
        fallback: Used for a chunk whose reply yields no pair (default: :class:`TemplateQAGenerator`;
            ``None`` to skip such chunks).
        max_chars: The chunk text is cut to this length in the prompt.
    """

    name = "chat"

    def __init__(
        self, model: Any, *, fallback: QAGenerator | None = None, use_fallback: bool = True, max_chars: int = 2000
    ) -> None:
        self.model = model
        self.fallback = fallback if fallback is not None or not use_fallback else TemplateQAGenerator()
        self.max_chars = max_chars

    def _generate(self, chunk: Chunk, n: int) -> list[tuple[str, str]]:
        prompt = PROMPT.format(n=n, text=chunk.text[: self.max_chars])
        reply = self.model.invoke([{"role": "user", "content": prompt}])
        content = reply.content if isinstance(getattr(reply, "content", None), str) else str(reply)
        pairs = parse_qa_pairs(content)
        if not pairs and self.fallback is not None:
            log.info("No pairs parsed from the model's reply for chunk %s; using %s", chunk.id, self.fallback.name)
            return self.fallback._generate(chunk, n)
        return pairs


def parse_qa_pairs(text: str) -> list[tuple[str, str]]:
    """Question-answer pairs from a model's free-form reply (empty when none can be found).

    Understands a JSON list of objects (keys ``question``/``answer``, ``q``/``a``,
    any case), an object holding such a list, JSON lines, ``Q:``/``A:`` or
    ``Question:``/``Answer:`` blocks (numbered or bulleted), inside code fences or not.
    """
    candidates = [m.group(1) for m in _FENCE_RE.finditer(text)] + [text]
    for candidate in candidates:
        pairs = _from_json(candidate)
        if pairs:
            return pairs
    pairs = []
    for match in _QA_BLOCK_RE.finditer(text):
        question = match["q"].strip().strip("*").strip()
        answer = match["a"].strip().strip("*").strip()
        if question and answer:
            pairs.append((question, answer))
    return pairs


def _from_json(text: str) -> list[tuple[str, str]]:
    decoder = json.JSONDecoder()
    values: list[Any] = []
    position = 0
    while position < len(text):
        starts = [i for i in (text.find("[", position), text.find("{", position)) if i >= 0]
        if not starts:
            break
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        values.append(value)
        position = end
    pairs: list[tuple[str, str]] = []
    for value in values:
        pairs.extend(_pairs_in(value))
    return pairs


def _pairs_in(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, list):
        return [pair for item in value for pair in _pairs_in(item)]
    if not isinstance(value, dict):
        return []
    lowered = {str(k).lower(): v for k, v in value.items()}
    question = lowered.get("question", lowered.get("q"))
    answer = lowered.get("answer", lowered.get("a"))
    if isinstance(question, str) and isinstance(answer, (str, int, float)):
        return [(question, str(answer))]
    return [pair for v in value.values() if isinstance(v, (list, dict)) for pair in _pairs_in(v)]


def split_sentences(text: str) -> list[str]:
    """Sentences of a text (markup-free prose; headings and list items count as sentences)."""
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=[#*\-]\s)", text):
        block = " ".join(block.replace("#", " ").split())
        sentences.extend(s.strip() for s in _SENTENCE_RE.split(block) if s.strip())
    return sentences


def generate_pairs(
    index: Index,
    generator: QAGenerator,
    *,
    doc_ids: Iterable[str] | None = None,
    per_chunk: int = 2,
    tenant: str | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[QAPair]:
    """Pairs for every chunk of the chosen documents (default: the whole index), in document order.

    Example:
        >>> pairs = list(generate_pairs(ws.index, TemplateQAGenerator()))  # doctest: +SKIP
    """
    states = index.documents(tenant=tenant)
    wanted = sorted(states) if doc_ids is None else sorted(set(doc_ids) & set(states))
    for done, doc_id in enumerate(wanted, start=1):
        state = states[doc_id]
        for chunk in index.get_chunks(list(state.chunk_ids), tenant=tenant):
            yield from generator.generate(chunk, n=per_chunk, doc_hash=state.doc_hash)
        report(progress, "generate", done, len(wanted), doc_id)


def write_pairs(pairs: Iterable[QAPair], path: str | Path) -> int:
    """Write pairs as JSONL records for ``prepare``; returns how many were written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with target.open("w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair.to_record(), ensure_ascii=False) + "\n")
            count += 1
    return count


__all__ = [
    "ChatQAGenerator",
    "QAGenerator",
    "QAPair",
    "TemplateQAGenerator",
    "generate_pairs",
    "parse_qa_pairs",
    "split_sentences",
    "write_pairs",
]
