"""A SmolLM2 cloze check on top of the default verifier: measured on the tuning slice, not adopted.

QAGS / QAFactEval with a small causal LM instead of a QA model: for each value the binding checks
in a claim the default verifier supports, the claim is scored with the claimed value and with each
of the ``--rivals`` best other values of its kind in the evidence (ranked by the binding's own word
score), as ``log P(claim | passage)`` summed over the claim's tokens, the passage being the
sentences that hold those values. The claim is refused when a rival beats the claimed value by more
than ``--margin`` nats. Each rival costs one forward pass of the packaged SmolLM2-135M (numpy, no
cache), so the check runs on a subsample (``--pairs``) of the contrastive pairs of
``verification.py``; the README reports what it did on 120 pairs of articles 16-31.

    python benchmarks/verification_cloze.py --first-article 16 --pairs 120
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from verification import _evidence, pairs, wilson

from ragtune.chains.grounding import SubjectBinding, default_verifier, split_claims, verify_claims
from ragtune.chains.grounding import binding as b
from ragtune.chains.grounding.verifier import EmbeddingSimilarity

PROMPT = "Passage: {passage}\nA true statement from the passage:"


def rivals(
    binding: SubjectBinding, claim: str, evidence: list[str], k: int
) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """Per value the binding checks: its text, the first sentence holding it, and the ``k`` best other
    values of its kind with their sentence (the binding's scoring, read through its private helpers)."""
    vocabulary, shown, bags = binding._evidence(tuple(evidence))
    said = b._read(claim, vocabulary | b.name_words([claim]), binding.boundary)
    out = []
    for value in b.checked_values(said.values, [t.values for t in shown], binding.topic, binding.names):
        others = [v for v in said.values if v is not value]
        near = b._near(said, value, binding.claim_window)
        if not near:
            continue
        rarity = {w: math.log(1 + len(shown) / max(1, sum(1 for g in bags if w in g))) for w in near}
        anchors = {said.stems[i] for o in others for i in range(o.start, o.end)}
        weight = {w: c * rarity[w] * (binding.value_weight if w in anchors else 1.0) for w, c in near.items()}
        total = sum(weight.values())
        mine: int | None = None
        found: dict[str, tuple[float, int]] = {}
        for j, text in enumerate(shown):
            sentence = sum(weight[w] for w in weight if w in bags[j]) / total
            for candidate in text.values:
                if candidate.kind != value.kind or any(candidate.same(o) for o in others):
                    continue
                if candidate.same(value):
                    mine = j if mine is None else mine
                    continue
                close = b._near(text, candidate, binding.evidence_window)
                local = sum(wt * close.get(w, 0.0) for w, wt in weight.items()) / total
                score = (1 - binding.sentence_weight) * local + binding.sentence_weight * sentence
                span = b._span(text, candidate)
                if span not in found or found[span][0] < score:
                    found[span] = (score, j)
        best = sorted(found.items(), key=lambda kv: -kv[1][0])[:k]
        if mine is not None and best:
            out.append((b._span(said, value), mine, [(span, j) for span, (_, j) in best]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first-article", type=int, default=16)
    parser.add_argument("--articles", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=120, help="pairs spread evenly over the 600 of verification.py")
    parser.add_argument("--rivals", type=int, default=2)
    parser.add_argument("--margins", default="0,0.5,1,2,3", help="nats a rival must win by (comma-separated)")
    args = parser.parse_args()
    items = pairs(args.first_article, args.articles, 600)
    items = [items[int(i * len(items) / args.pairs)] for i in range(args.pairs)]
    from ragtune.embeddings.local import LocalEmbedder
    from ragtune.llm import loader
    from ragtune.llm.numpy_llama import NumpyLlama

    verifier = default_verifier(EmbeddingSimilarity(LocalEmbedder()))
    model = NumpyLlama(str(loader.cache_dir(loader.normalize_spec(None))))
    margins = [float(m) for m in args.margins.split(",")]
    accepted = {m: [0, 0] for m in margins}
    base, forwards, started = [0, 0], 0, time.perf_counter()
    for item in items:
        shown = _evidence(item)
        texts = [e.text for e in shown]
        for side, claim in enumerate((item.true, item.false)):
            claims = verify_claims(split_claims(claim, set()), shown, verifier)
            if not claims or any(c.verdict != "supported" for c in claims):
                continue
            base[side] += 1
            lead = {m: 0.0 for m in margins}  # the largest win of a rival over the claimed value
            for value, mine, best in rivals(verifier.binding, claim, texts, args.rivals):
                at = claim.find(value)
                if at < 0:
                    continue
                passage = " ".join(texts[j] for j in sorted({mine, *(j for _, j in best)}))
                context = model.encode(PROMPT.format(passage=passage))
                scores = {}
                for span in [value, *(s for s, _ in best)]:
                    said = " " + claim[:at] + span + claim[at + len(value) :]
                    scores[span] = float(model.token_log_probs(context, model.encode(said)).sum())
                    forwards += 1
                rival = max(v for s, v in scores.items() if s != value) - scores[value]
                lead = {m: max(lead[m], rival) for m in margins}
            for m in margins:
                accepted[m][side] += lead[m] <= m
    seconds = time.perf_counter() - started
    n = len(items)
    print(f"articles {args.first_article}-{args.first_article + args.articles - 1}, {n} pairs; default alone: "
          f"true {base[0]}/{n}, false {base[1]}/{n}")  # fmt: skip
    for m in margins:
        t, f = accepted[m]
        tl, th = wilson(t, n)
        fl, fh = wilson(f, n)
        print(f"cloze margin {m:g}: true-accept {t / n:.3f} [{tl:.3f}, {th:.3f}] ({t}/{n}), "
              f"false-accept {f / n:.3f} [{fl:.3f}, {fh:.3f}] ({f}/{n})")  # fmt: skip
    print(f"{forwards} forward passes, {seconds:.0f} s for {2 * n} claims: {1000 * seconds / (2 * n):.0f} ms / claim "
          "(embedding, verification and the cloze check)")  # fmt: skip


if __name__ == "__main__":
    main()
