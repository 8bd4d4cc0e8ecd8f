"""Answer metrics: exact match, token F1, citation correctness, faithfulness.

Exact match and token F1 follow the SQuAD v1.1 evaluation script: both texts
are lower-cased, punctuation and the articles *a*, *an*, *the* are removed and
whitespace is collapsed before comparing (:func:`normalize_answer`).

Faithfulness here is **lexical**: an answer sentence counts as supported when
at least ``threshold`` (default 0.5) of its content tokens (normalised as
above, stop words and citation markers such as ``[2]`` removed) occur in the
cited context. It needs no model, is deterministic, and errs on the side of
"unsupported" for paraphrases; it is the measure ``ragtune compare`` reports.

Example:
    >>> exact_match("The Eiffel Tower!", "eiffel tower")
    1.0
    >>> round(token_f1("in Paris, France", "Paris"), 2)
    0.5
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import PurePath

from pydantic import BaseModel, ConfigDict

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)
_CITATION_MARK = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")

_STOP_WORD_TEXT = """
i me my we our you your he him his she her it its they them their what which who whom this that
these those am is are was were be been being have has had do does did doing and but if or because as
until while of at by for with about against between into through during before after above below to
from up down in out on off over under again further then once here there when where why how all any
both each few more most other some such no nor not only own same so than too very can will just
should now also yes
"""
STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())
"""Words that carry no fact; ignored when judging whether a sentence is supported."""


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    lowered = text.lower()
    no_punct = "".join(ch for ch in lowered if ch not in _PUNCT)
    no_articles = _ARTICLES.sub(" ", no_punct)
    return " ".join(no_articles.split())


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def _refs(references: str | Sequence[str]) -> list[str]:
    return [references] if isinstance(references, str) else list(references)


def exact_match(prediction: str, references: str | Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised reference, else 0.0."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(ref) for ref in _refs(references)))


def _f1(prediction: str, reference: str) -> float:
    pred_tokens, ref_tokens = _tokens(prediction), _tokens(reference)
    if not pred_tokens or not ref_tokens:
        return float(pred_tokens == ref_tokens)
    common = Counter(pred_tokens) & Counter(ref_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, references: str | Sequence[str]) -> float:
    """SQuAD token F1: harmonic mean of token precision and recall, best over references."""
    refs = _refs(references)
    return max((_f1(prediction, ref) for ref in refs), default=0.0)


def contains_answer(prediction: str, references: str | Sequence[str]) -> float:
    """1.0 when a normalised reference occurs as a whole-word span of the normalised prediction."""
    pred = f" {normalize_answer(prediction)} "
    return float(any(f" {normalize_answer(ref)} " in pred for ref in _refs(references) if ref.strip()))


def is_correct(prediction: str, references: str | Sequence[str], *, f1_threshold: float = 0.5) -> bool:
    """An answer "answers" a question: exact match, the reference contained in it, or token F1 >= ``f1_threshold``.

    Small local models answer in sentences ("The tower is 330 m tall."), so
    containment counts alongside exact match; the F1 floor accepts close
    paraphrases of multi-word answers.
    """
    return bool(
        exact_match(prediction, references)
        or contains_answer(prediction, references)
        or token_f1(prediction, references) >= f1_threshold
    )


def source_matches(cited: str, reference: str) -> bool:
    """Whether a cited source (often an absolute path or URL) names the reference source.

    Matches on equality, on the file name, or when the reference is a trailing
    path of the citation (``docs/solar.md`` matches ``/data/docs/solar.md``).
    """
    if not cited or not reference:
        return False
    if cited == reference:
        return True
    cited_path, ref_path = PurePath(cited.replace("\\", "/")), PurePath(reference.replace("\\", "/"))
    if len(ref_path.parts) == 1:
        return cited_path.name == ref_path.name or cited_path.stem == reference
    return cited_path.parts[-len(ref_path.parts) :] == ref_path.parts


class CitationScore(BaseModel):
    """How well an answer's citations match the relevant sources of its question."""

    model_config = ConfigDict(frozen=True)

    precision: float
    """Share of distinct cited sources that are relevant (0.0 when nothing is cited)."""
    recall: float
    """Share of relevant sources that are cited."""


def citation_correctness(cited_sources: Iterable[str], relevant_sources: Iterable[str]) -> CitationScore | None:
    """Citation precision and recall against the question's relevant sources.

    Returns ``None`` when the question lists no relevant sources (nothing to
    judge). An answer that cites nothing scores 0.0 on both: it gives the
    reader no way to check it.
    """
    relevant = [s for s in dict.fromkeys(relevant_sources) if s]
    if not relevant:
        return None
    cited = [s for s in dict.fromkeys(cited_sources) if s]
    if not cited:
        return CitationScore(precision=0.0, recall=0.0)
    correct = sum(1 for c in cited if any(source_matches(c, r) for r in relevant))
    found = sum(1 for r in relevant if any(source_matches(c, r) for c in cited))
    return CitationScore(precision=correct / len(cited), recall=found / len(relevant))


def strip_citations(text: str) -> str:
    """The text without citation markers such as ``[2]`` or ``[1, 3]`` (they are not part of the answer)."""
    return " ".join(_CITATION_MARK.sub(" ", text).split())


def split_sentences(text: str) -> list[str]:
    """Split after ``.``, ``!`` or ``?`` when a space and an upper-case letter, digit or quote follow."""
    parts = [p.strip() for line in text.splitlines() for p in _SENTENCE_END.split(line)]
    return [p for p in parts if p]


def content_tokens(text: str) -> list[str]:
    """Normalised tokens with citation markers and stop words removed."""
    return [t for t in _tokens(_CITATION_MARK.sub(" ", text)) if t not in STOP_WORDS]


def sentence_support(sentence: str, context: str | Sequence[str]) -> float | None:
    """Share of the sentence's content tokens found in the context; ``None`` for a sentence with none."""
    tokens = content_tokens(sentence)
    if not tokens:
        return None
    joined = context if isinstance(context, str) else "\n".join(context)
    vocabulary = set(_tokens(joined))
    return sum(1 for t in tokens if t in vocabulary) / len(tokens)


def faithfulness(answer: str, context: str | Sequence[str], *, threshold: float = 0.5) -> float | None:
    """Share of answer sentences supported by the cited context (lexical overlap, see module docs).

    Sentences without content tokens ("Yes.") are not counted. Returns
    ``None`` when no sentence can be judged; an answer with no cited context
    scores 0.0.
    """
    scores = [sentence_support(s, context) for s in split_sentences(answer)]
    judged = [s for s in scores if s is not None]
    if not judged:
        return None
    return sum(1 for s in judged if s >= threshold) / len(judged)


__all__ = [
    "STOP_WORDS",
    "CitationScore",
    "citation_correctness",
    "contains_answer",
    "content_tokens",
    "exact_match",
    "faithfulness",
    "is_correct",
    "normalize_answer",
    "sentence_support",
    "source_matches",
    "split_sentences",
    "strip_citations",
    "token_f1",
]
