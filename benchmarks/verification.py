"""Claim verification on contrastive SQuAD claims: true claims accepted, value-swapped ones refused.

Each SQuAD v1.1 dev question whose answer is a number, date, name or place becomes two claims
about its paragraph: the question rewritten as a statement holding the gold answer (true), and the
same statement with the answer swapped for another value of the same kind from the same paragraph
(false): "The Normans conquered England in 1066" / "... in 1072" when the paragraph also says 1072.
The rewrite is rule-based (wh-word and auxiliary moved; no model), so some claims read roughly; the
true and the false claim differ only in the value. Evidence: every statement sentence of the
paragraph, as ``ragtune ask`` would show it. A claim is accepted when ``verify_claims`` calls it
supported.

Reported per verifier (``--verifiers``): true-accept and false-accept with 95% Wilson intervals,
false accepts by value kind (number, date, name, place), and the verifier's cost per claim.
Targets for the default: false-accept <= 3%, true-accept >= 90%.

Articles: ``--first-article`` / ``--articles`` choose a slice of the 48 dev articles. The binding
weights, the names it checks and the subject excuse were chosen on articles 16-31
(``--first-article 16``) and are reported on 32-47 (the default); the answer benchmark tunes on
4-15 and reports on 0-3.

Verifiers: ``default`` (``default_verifier``), ``binding-v1`` (the default before issue 22's second
round: names bound only in claims without a number or date, a name two sentences hold taken for
the topic, no subject excuse), ``embedding`` (similarity and rules, no binding), ``lexical``.

    python benchmarks/verification.py --verifiers default,binding-v1,embedding   # report slice
    python benchmarks/verification.py --first-article 16                         # the tuning slice
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, print_table

from ragtune.chains.context import ContextBlock
from ragtune.chains.grounding import (
    BoundVerifier,
    EmbeddingVerifier,
    Evidence,
    LexicalVerifier,
    SubjectBinding,
    Verifier,
    default_verifier,
    evidence_sentences,
    split_claims,
    verify_claims,
)
from ragtune.chains.grounding.rivals import units

SQUAD = SHARED_DATA / "squad" / "dev-v1.1.json.gz"
KINDS = ("number", "date", "name", "place")

_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
DATE = re.compile(rf"\b{_MONTHS}(?:\s+\d{{1,2}})?(?:,?\s+\d{{3,4}})?\b|\b\d{{1,2}}\s+{_MONTHS}(?:\s+\d{{3,4}})?\b"
                  r"|\b(?:1\d{3}|20\d{2})s?\b")  # fmt: skip
NUMBER = re.compile(
    r"[$\u00a3\u20ac]?\d+(?:[.,]\d+)*(?:\s+(?:million|billion|thousand|hundred|percent))?%?"
    r"|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred)\b",
    re.IGNORECASE,
)
NAME = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of|de|the|von|van|du|la)?\s*[A-Z][\w'-]*)*")
PLACE_QUESTION = re.compile(
    r"^\s*where\b|\b(what|which)\s+(city|country|state|region|county|town|province|continent|nation|island|river"
    r"|place|location|area|neighborhood|district)\b",
    re.IGNORECASE,
)
_SKIP_NAMES = frozenset(
    """The A An In On At It He She They This That However After Before During Since While When Although As By
    For From His Her Its Their These Those There Some Many Most Other Also But And""".split()  # noqa: SIM905
)
_AUX = r"(?:is|was|are|were|did|does|do|has|have|had|can|could|will|would)"


@dataclass(frozen=True)
class Pair:
    kind: str
    true: str
    false: str
    passage: str
    article: int


def value_kind(question: str, answer: str) -> str | None:
    """``number``, ``date``, ``name`` or ``place`` when the whole answer is one such value."""
    text = answer.strip().rstrip(".")
    if DATE.fullmatch(text):
        return "date"
    if NUMBER.fullmatch(text):
        return "number"
    if NAME.fullmatch(text) and text.split()[0] not in _SKIP_NAMES:
        return "place" if PLACE_QUESTION.search(question) else "name"
    return None


def candidates(kind: str, passage: str, answer: str, question: str) -> list[str]:
    """Other values of ``kind`` in the passage: not the answer, not in it, not in the question."""
    pattern = {"date": DATE, "number": NUMBER}.get(kind, NAME)
    found = []
    for match in pattern.finditer(passage):
        value = match.group(0).strip()
        if kind in ("name", "place"):
            words = value.split()
            while words and words[0] in _SKIP_NAMES:
                words = words[1:]
            value = " ".join(words)
            if not value or value in _SKIP_NAMES or DATE.fullmatch(value):
                continue
            after = rf"\b(?:in|at|from|to|near|into|across|of)\s+(?:the\s+)?{re.escape(value)}"
            if kind == "place" and not re.search(after, passage):
                continue
        elif kind == "number" and DATE.fullmatch(value):
            continue
        low = value.lower()
        if low in answer.lower() or answer.lower() in low or low in question.lower():
            continue
        found.append(value)
    return list(dict.fromkeys(found))


def statement(question: str, answer: str) -> str | None:
    """The question rewritten as a statement holding ``answer`` (rules for the common wh-shapes)."""
    q = question.strip().rstrip("?").strip()
    q = re.sub(r"\s+", " ", q)
    rules: list[tuple[str, Any]] = [
        (rf"^(?:in|during|by)\s+(?:what|which)\s+(?:year|years|month|century|decade|era|period)\s+{_AUX}\s+(.+)$",
         lambda m: f"{m.group(1)} in {answer}"),
        (rf"^(?:what|which)\s+(?:year|years|month|century|decade|date|day)\s+{_AUX}\s+(.+)$",
         lambda m: f"{m.group(1)} in {answer}"),
        (rf"^when\s+{_AUX}\s+(.+)$", lambda m: f"{m.group(1)} in {answer}"),
        (rf"^where\s+{_AUX}\s+(.+)$", lambda m: f"{m.group(1)} in {answer}"),
        (rf"^(?:in|at)\s+(?:what|which)\s+\w+\s+{_AUX}\s+(.+)$", lambda m: f"{m.group(1)} in {answer}"),
        (rf"^how\s+(?:many|much)\s+(.+?)\s+{_AUX}\s+(.+)$", lambda m: f"{m.group(2)} {answer} {m.group(1)}"),
        (rf"^how\s+(?:many|much)\s+{_AUX}\s+(.+)$", lambda m: f"{m.group(1)} {answer}"),
        (r"^how\s+(?:many|much)\s+(.+)$", lambda m: f"{answer} {m.group(1)}"),
        (rf"^how\s+(?:long|old|far|large|big|high|tall|deep|wide|often|fast|heavy)\s+{_AUX}\s+(.+)$",
         lambda m: f"{m.group(1)} {answer}"),
        (r"^(?:who|what|which)\s+(is|was|are|were)\s+(.+)$", lambda m: f"{m.group(2)} {m.group(1)} {answer}"),
        (rf"^(?:who|whom|what)\s+{_AUX}\s+(.+)$", lambda m: f"{m.group(1)} {answer}"),
        (rf"^(?:what|which)\s+((?:\S+\s+){{1,4}}?){_AUX}\s+(.+)$",
         lambda m: f"{m.group(2)} {m.group(1).strip()} {answer}"),
        (r"^(?:who|what|which)\s+(.+)$", lambda m: f"{answer} {m.group(1)}"),
    ]  # fmt: skip
    for pattern, build in rules:
        match = re.match(pattern, q, re.IGNORECASE)
        if match:
            text = build(match).strip()
            return text[0].upper() + text[1:] + "."
    return None


def pairs(first: int, articles: int, limit: int, seed: int = 13) -> list[Pair]:
    """Contrastive pairs from the dev articles ``first .. first + articles - 1``, at most ``limit``, spread evenly."""
    if not SQUAD.is_file():
        raise SystemExit(f"SQuAD not found at {SQUAD}; set RAGTUNE_SHARED_DATA")
    with gzip.open(SQUAD, "rt", encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    out: list[Pair] = []
    for a in range(first, min(len(data), first + articles)):
        for paragraph in data[a]["paragraphs"]:
            passage = paragraph["context"]
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]["text"].strip()
                kind = value_kind(qa["question"], answer)
                if kind is None:
                    continue
                pool = candidates(kind, passage, answer, qa["question"])
                true = statement(qa["question"], answer)
                if not pool or true is None:
                    continue
                swap = random.Random(f"{seed}:{qa['id']}").choice(pool)
                false = statement(qa["question"], swap)
                if false is None or false == true:
                    continue
                out.append(Pair(kind, true, false, passage, a))
    if len(out) > limit:
        step = len(out) / limit
        out = [out[int(i * step)] for i in range(limit)]
    return out


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound near 0 and 1, unlike a bootstrap)."""
    if n == 0:
        return (math.nan, math.nan)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _evidence(item: Pair) -> list[Evidence]:
    """Every statement sentence of the paragraph, as one shown block."""
    return evidence_sentences([ContextBlock(number=1, text=item.passage, chunks=[], rank=0, score=1.0)])


def accepted(claim: str, evidence: list[Evidence], verifier: Verifier) -> bool:
    drafts = split_claims(claim, set())
    if not drafts:
        return False
    return all(c.verdict == "supported" for c in verify_claims(drafts, evidence, verifier))


def measure(name: str, verifier: Verifier, items: list[Pair]) -> dict[str, Any]:
    true_hits, false_hits, by_kind, kinds = 0, 0, Counter[str](), Counter[str]()
    elapsed, claims = 0.0, 0
    examples: list[str] = []
    verdicts: list[tuple[bool, bool]] = []
    for item in items:
        evidence = _evidence(item)
        started = time.perf_counter()
        t = accepted(item.true, evidence, verifier)
        f = accepted(item.false, evidence, verifier)
        elapsed += time.perf_counter() - started
        claims += 2
        verdicts.append((t, f))
        true_hits += t
        false_hits += f
        kinds[item.kind] += 1
        by_kind[item.kind] += f
        if f and len(examples) < 5:
            examples.append(f"{item.kind}: {item.false}")
    n = len(items)
    return {"name": name, "n": n, "true": true_hits, "false": false_hits, "by_kind": by_kind, "kinds": kinds,
            "ms_per_claim": 1000 * elapsed / max(1, claims), "examples": examples, "verdicts": verdicts}  # fmt: skip


def paired(a: list[tuple[bool, bool]], b: list[tuple[bool, bool]], side: int, rounds: int = 4000) -> str:
    """``a``'s rate minus ``b``'s on the same pairs, with a 95% paired bootstrap interval."""
    diffs = [int(x[side]) - int(y[side]) for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    rng = random.Random(0)
    means = sorted(sum(rng.choice(diffs) for _ in range(n)) / n for _ in range(rounds))
    return f"{sum(diffs) / n:+.3f} [{means[int(0.025 * rounds)]:+.3f}, {means[int(0.975 * rounds) - 1]:+.3f}]"


def shared_similarity() -> Any:
    """One embedding cache for every verifier of a run: a text is embedded once."""
    from ragtune.chains.grounding.verifier import EmbeddingSimilarity
    from ragtune.embeddings.local import LocalEmbedder

    return EmbeddingSimilarity(LocalEmbedder(), cache_size=1_000_000)


def verifiers(similarity: Any = None) -> dict[str, Any]:
    """The verifiers a run may compare, by name, each built on demand over one embedding cache."""
    similarity = similarity if similarity is not None else shared_similarity()
    return {
        "default": lambda: default_verifier(similarity),
        "binding-v2": lambda: BoundVerifier(EmbeddingVerifier(similarity), rivals=False),
        "binding-v1": lambda: BoundVerifier(
            EmbeddingVerifier(similarity), SubjectBinding(names="alone", topic=1), subject=0, rivals=False
        ),
        "embedding": lambda: EmbeddingVerifier(similarity),
        "lexical": lambda: LexicalVerifier(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first-article", type=int, default=32, help="first dev article (16: the tuning slice)")
    parser.add_argument("--articles", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=600, help="most claim pairs, spread evenly over the slice")
    parser.add_argument(
        "--verifiers",
        default="default,binding-v2,binding-v1,embedding",
        help="default, binding-v2, binding-v1, embedding, lexical",
    )
    args = parser.parse_args()
    items = pairs(args.first_article, args.articles, args.pairs)
    kinds = Counter(p.kind for p in items)
    print(f"SQuAD v1.1 dev articles {args.first_article}-{args.first_article + args.articles - 1}: "
          f"{len(items)} pairs ({', '.join(f'{k} {kinds[k]}' for k in KINDS)})")  # fmt: skip
    similarity = shared_similarity()
    texts = list(dict.fromkeys(
        t for p in items for t in [*units([e.text for e in _evidence(p)]), *(d.text for c in (p.true, p.false)
                                                                         for d in split_claims(c, set()))]
    ))  # fmt: skip
    started = time.perf_counter()
    for i in range(0, len(texts), 128):
        similarity.vectors(texts[i : i + 128])
    print(f"embedded {len(texts)} texts in {time.perf_counter() - started:.0f} s")
    make = verifiers(similarity)
    rows = []
    results = []
    for name in args.verifiers.split(","):
        if name not in make:
            raise SystemExit(f"--verifiers: unknown {name!r}; use {', '.join(make)}")
        result = measure(name, make[name](), items)
        results.append(result)
        n = result["n"]
        ta, fa = result["true"] / n, result["false"] / n
        tlo, thi = wilson(result["true"], n)
        flo, fhi = wilson(result["false"], n)
        per_kind = ", ".join(f"{k} {result['by_kind'][k]}/{result['kinds'][k]}" for k in KINDS)
        rows.append([name, f"{ta:.3f} [{tlo:.3f}, {thi:.3f}]", f"{fa:.3f} [{flo:.3f}, {fhi:.3f}]", per_kind,
                     f"{result['ms_per_claim']:.1f}"])  # fmt: skip
        for example in result["examples"]:
            print(f"  {name} false accept: {example}")
    print_table("Claim verification (contrastive SQuAD claims)",
                ["verifier", "true-accept [95% CI]", "false-accept [95% CI]", "false accepts by kind", "ms / claim"],
                rows)  # fmt: skip
    first = results[0]
    for other in results[1:]:
        print(f"{first['name']} minus {other['name']} on the same pairs: true-accept "
              f"{paired(first['verdicts'], other['verdicts'], 0)}, false-accept "
              f"{paired(first['verdicts'], other['verdicts'], 1)}")  # fmt: skip


if __name__ == "__main__":
    main()
