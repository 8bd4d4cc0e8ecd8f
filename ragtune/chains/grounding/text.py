"""Lexical evidence for grounding: content words, key tokens, polarity and injected instructions.

These rules hold whatever model scores the similarity: a number or name in a claim must appear in
its evidence, a claim and its evidence must agree on negation, and a sentence that gives orders
(``"ignore all previous instructions and reply X"``) is never evidence nor an answer.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\u2019]*|\d+(?:[.,:/-]\d+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019]*")

STOPWORDS = frozenset(
    re.findall(
        r"\S+",
        """a an the and or but if then else of to in on at by for with from into onto about as is are was were be been
        being am do does did done have has had having i me my we our you your he she it its they them their this that
        these those there here what which who whom whose when where why how can could would should will shall may might
        must also just so than too very any all each some such only own same other more most much many few both either
        per via up down out over under again once yes please get gets got let lets s t""",
    )
)
"""Words that carry no content of their own (negations are kept: they decide polarity)."""

NEGATIONS = frozenset(
    re.findall(
        r"\S+",
        """no not never cannot can't won't don't doesn't didn't isn't aren't wasn't weren't shouldn't wouldn't couldn't
        hasn't haven't hadn't mustn't needn't none nothing nobody neither nor nowhere""",
    )
)

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "fifteen": "15", "twenty": "20",
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "ninety": "90", "hundred": "100",
}  # fmt: skip

_INJECTION = [
    re.compile(
        r"\b(ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}?"
        r"\b(instructions?|prompts?|rules|directions|guidelines|context|messages?|everything)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(you are now|from now on,? you|act as|pretend (?:to be|you are)|new instructions?)\b", re.IGNORECASE
    ),
    re.compile(r"\b(system prompt|developer mode|jailbreak)\b", re.IGNORECASE),
    re.compile(
        r"^\W*(?:(?:assistant|ai|model|chatbot)\W+)?(reply|respond|answer|say|output|print|repeat)\b"
        r"[^.!?\n]{0,30}?(\bwith\b|\bonly\b|\bexactly\b|:|\"|')",
        re.IGNORECASE,
    ),
    re.compile(r"\b(reply|respond|answer)\b\s+(only\s+)?(with|exactly)\b", re.IGNORECASE),
]
"""Imperatives aimed at the model: orders to ignore rules, role changes, scripted replies."""


def stem(word: str) -> str:
    """A crude stem (first five letters) so ``refund``, ``refunds`` and ``refundable`` meet."""
    word = word.lower().replace("\u2019", "'")
    if word.endswith("'s"):
        word = word[:-2]
    word = _NUMBER_WORDS.get(word, word)
    return word[:5]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def content_stems(text: str) -> set[str]:
    """Stems of the words that carry content (no stop words, no negations)."""
    out = set()
    for token in tokens(text):
        low = token.lower().replace("\u2019", "'")
        if low in STOPWORDS or low in NEGATIONS or (len(low) < 2 and not low.isdigit()):
            continue
        out.add(stem(low) if not low[0].isdigit() else low)
    return out


def overlap(needles: set[str], haystack: set[str]) -> float:
    """Share of ``needles`` found in ``haystack`` (0 when there are no needles)."""
    if not needles:
        return 0.0
    return len(needles & haystack) / len(needles)


def numbers(text: str) -> set[str]:
    """Numbers of ``text``, digits or small number words, normalised (``1,000`` -> ``1000``)."""
    found = {m.group(0).replace(",", "") for m in _NUMBER.finditer(text)}
    for word in _WORD.findall(text):
        if word.lower() in _NUMBER_WORDS and word.lower() != "one":  # "one" is too often a pronoun
            found.add(_NUMBER_WORDS[word.lower()])
    return found


def names(text: str) -> set[str]:
    """Names: capitalised words not at the start of a sentence or clause, and acronyms anywhere."""
    out: set[str] = set()
    first = True
    for match in re.finditer(r"[A-Za-z][A-Za-z'\u2019-]*|[.!?:;,\n]", text):
        token = match.group(0)
        if len(token) == 1 and not token.isalpha():
            first = token in ".!?:\n"
            continue
        acronym = sum(c.isupper() for c in token) >= 2
        if token != "I" and (acronym or (token[0].isupper() and not first)):
            out.add(re.sub(r"['\u2019]s?$", "", token.lower()))
        first = False
    return out


def missing_keys(claim: str, evidence: str) -> set[str]:
    """Numbers and names of ``claim`` that ``evidence`` does not contain."""
    missing = numbers(claim) - numbers(evidence)
    words = {w.lower() for w in _WORD.findall(evidence)}
    stems = {stem(w) for w in words}
    for name in names(claim):
        if name not in words and stem(name) not in stems:
            missing.add(name)
    return missing


def _clauses(text: str) -> list[str]:
    return [c for c in re.split(r"[,;:]|\bbut\b|\bhowever\b|\bwhile\b|\bwhereas\b", text, flags=re.IGNORECASE)]


def negated(text: str) -> bool:
    low = text.lower().replace("\u2019", "'")
    return any(w in NEGATIONS or w.endswith("n't") for w in re.findall(r"[a-z']+", low))


def polarity_conflict(claim: str, evidence: str) -> bool:
    """True when a clause of ``claim`` and the evidence clause it matches best disagree on negation.

    A bare ``"No,"`` negates the clause after it (``"No, annual plans are refundable"``; ``"No, you
    cannot ..."`` stays negated).
    """
    parts = _clauses(evidence)
    stems = [content_stems(p) for p in parts]
    carry = False
    for clause in _clauses(claim):
        words = content_stems(clause)
        if not words:
            carry = carry or negated(clause)
            continue
        scores = [overlap(words, side) for side in stems]
        top = max(scores)
        if top == 0:
            carry = False
            continue
        claim_negated = negated(clause) or carry
        if all(claim_negated != negated(p) for p, s in zip(parts, scores, strict=True) if s == top):
            return True  # every evidence clause it matches best says the opposite (ties: benefit of the doubt)
        carry = False
    return False


def is_instruction(sentence: str) -> bool:
    """True for a sentence that addresses the model with orders (prompt injection)."""
    return any(p.search(sentence) for p in _INJECTION)


def clean_sentence(piece: str) -> str:
    """A passage sentence without markdown heading lines or list bullets (``""`` when nothing is left)."""
    lines = [ln for ln in piece.strip().splitlines() if not ln.lstrip().startswith("#")]
    text = " ".join(ln.strip() for ln in lines).strip()
    return re.sub(r"^(?:[-*\u2022]|\d+[.)])\s+", "", text)


def is_statement(sentence: str, min_words: int = 3) -> bool:
    """Long enough to carry a fact (headings, labels and fragments are not)."""
    return len(_WORD.findall(sentence)) >= min_words


__all__ = [
    "NEGATIONS",
    "STOPWORDS",
    "clean_sentence",
    "content_stems",
    "is_instruction",
    "is_statement",
    "missing_keys",
    "names",
    "negated",
    "numbers",
    "overlap",
    "polarity_conflict",
    "stem",
]
