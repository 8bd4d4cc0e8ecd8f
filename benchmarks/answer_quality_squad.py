"""Answer quality on a SQuAD v1.1 dev slice, per answering arm, on the local models.

Corpus: every paragraph of ``--articles`` dev articles from ``--first-article`` on (one chunk per
paragraph, MiniLM vectors, the embedded index of a temporary workspace). Questions: ``--questions``
spread evenly over those articles. The extraction weights were chosen on the slices starting at 4,
8 and 12, kept apart from the default slice starting at 0. Arms (``--arms``, comma-separated):

* ``default``: what ``ragtune ask`` does without options (its route, mode, k and reply length
  are read from the command's defaults, so this follows the CLI);
* ``extract``: the extractive mode, route ``rag``;
* ``gen-off``, ``gen-annotate``, ``gen-strict``: generation with the packaged model (stuff
  mode, route ``rag``) under each grounding policy;
* ``gen`` (not in the default set): the same generation with the chain's default grounding.

Per arm, each with a 95% bootstrap interval where it is a mean: contains-answer, token F1 (SQuAD
normalisation, citation markers removed, best gold answer), share of claims verified as supported,
citation precision (a cited paragraph is the gold paragraph or holds a gold answer), share of
answers citing something, share of explicit "not in the documents" answers (the not-found
sentence, or an uncited ``direct`` answer ending with "Not from the documents"), share either cited
or explicitly not from the documents, p50 latency, longest reply in generated tokens (and how many hit
``max_new_tokens``), share of repetitive replies (a word trigram three times or more), and the
gold paragraph's presence among the blocks shown (recall@k of the arm). Retrieval recall@3 (hybrid
search) is reported once: it bounds contains-answer for a k=3 arm.

Targets for the ``default`` arm: contains-answer >= 0.70, citation precision >= 0.90, every
answer cited or an explicit "not in the documents", no reply running to the token limit through
repetition.

An arm whose chain settings this ragtune does not accept (e.g. ``extract`` before that mode
exists) stops the script before any model loads, naming the arm. The data is read from
``../shared/data/squad`` and never copied.

    python benchmarks/answer_quality_squad.py --questions 200
    python benchmarks/answer_quality_squad.py --questions 10 --arms default,gen-off
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, print_table

from ragtune.config import Settings
from ragtune.evaluation.answer_eval import QuestionScore, score_answer
from ragtune.evaluation.answer_metrics import normalize_answer
from ragtune.evaluation.bootstrap import Interval, interval
from ragtune.evaluation.qa_file import QAItem
from ragtune.schema import Chunk, DocumentState
from ragtune.workspace import Workspace

SQUAD = SHARED_DATA / "squad" / "dev-v1.1.json.gz"
ARMS = ("default", "extract", "gen-off", "gen-annotate", "gen-strict", "gen")


def load(articles: int, questions: int, first_article: int = 0) -> tuple[list[Chunk], list[QAItem]]:
    if not SQUAD.is_file():
        raise SystemExit(f"SQuAD not found at {SQUAD}; set RAGTUNE_SHARED_DATA")
    with gzip.open(SQUAD, "rt", encoding="utf-8") as handle:
        everything = json.load(handle)["data"]
    if not 0 <= first_article < len(everything):
        raise SystemExit(f"--first-article {first_article}: choose 0 to {len(everything) - 1} (SQuAD dev articles)")
    data = everything[first_article : first_article + articles]
    chunks, per_article = [], []
    for article in data:
        pool = []
        for i, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{article['title']}#{i}"
            chunks.append(Chunk(id=doc_id, doc_id=doc_id, text=paragraph["context"], source=doc_id,
                                title=article["title"].replace("_", " ")))  # fmt: skip
            for qa in paragraph["qas"]:
                answers = list(dict.fromkeys(a["text"] for a in qa["answers"]))
                pool.append(QAItem(question=qa["question"], answers=answers, sources=[doc_id]))
        per_article.append(pool)
    share = max(1, -(-questions // len(per_article)))  # ceil: --questions 10 over 4 articles gives 10
    picked = []
    for pool in per_article:
        step = max(1, len(pool) // share)
        picked.extend(pool[::step][:share])
    return chunks, picked[:questions]


def ask_defaults() -> dict[str, Any]:
    """The defaults of ``ragtune ask`` (route, mode, grounding, k, max_new_tokens), read from the command."""
    from ragtune.cli.ask import ask

    found: dict[str, Any] = {}
    for name, parameter in inspect.signature(ask).parameters.items():
        if name in ("route", "mode", "grounding", "k", "max_new_tokens", "chat_model"):
            value = parameter.default
            if value is not inspect.Parameter.empty:
                found[name] = value.value if isinstance(value, Enum) else value
    return found


def arm_settings(arm: str, max_new_tokens: int, k: int) -> dict[str, Any]:
    """Route, chain config values, k and reply length of an arm."""
    if arm == "default":
        defaults = ask_defaults()
        config = {key: defaults[key] for key in ("mode", "grounding") if defaults.get(key) is not None}
        return {
            "route": defaults.get("route", "auto"),
            "config": config,
            "k": defaults.get("k", 4),
            "max_new_tokens": defaults.get("max_new_tokens", 256),
        }
    if arm == "extract":
        return {"route": "rag", "config": {"mode": "extract"}, "k": k, "max_new_tokens": max_new_tokens}
    if arm == "gen":
        return {"route": "rag", "config": {"mode": "stuff"}, "k": k, "max_new_tokens": max_new_tokens}
    if arm.startswith("gen-"):
        config = {"mode": "stuff", "grounding": arm.removeprefix("gen-")}
        return {"route": "rag", "config": config, "k": k, "max_new_tokens": max_new_tokens}
    raise SystemExit(f"unknown arm {arm!r}; choose from {', '.join(ARMS)}")


def chain_configs(arms: list[str], max_new_tokens: int, k: int) -> dict[str, tuple[dict[str, Any], Any]]:
    """Validate every arm's chain settings before any model loads; stop naming the arm this ragtune rejects."""
    from pydantic import ValidationError

    from ragtune.chains.rag_chain import ChainConfig

    checked = {}
    for arm in arms:
        settings = arm_settings(arm, max_new_tokens, k)
        try:
            checked[arm] = (settings, ChainConfig(**settings["config"]))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise SystemExit(
                f"arm {arm!r}: this ragtune's ChainConfig rejects {settings['config']} ({problems}). "
                f"Leave the arm out (--arms) or run on a ragtune that has it."
            ) from exc
    return checked


def repetitive(text: str) -> bool:
    """A word trigram occurring three times or more: the reply loops."""
    words = normalize_answer(text).split()
    grams = Counter(zip(words, words[1:], words[2:], strict=False))
    return bool(grams) and max(grams.values()) >= 3


def fill(workspace: Workspace, chunks: list[Chunk]) -> None:
    vectors = workspace.embedder.embed_documents([c.text for c in chunks])
    for chunk, vector in zip(chunks, vectors, strict=True):
        state = DocumentState(doc_id=chunk.doc_id, source=chunk.source, doc_hash=chunk.content_hash,
                              chunk_ids=(chunk.id,))  # fmt: skip
        workspace.index.replace_document(state, [chunk], vector[None])


def run_arm(
    workspace: Workspace, arm: str, settings: dict[str, Any], config: Any, items: list[QAItem], texts: dict[str, str]
) -> dict[str, Any]:
    """Answer every question with one arm; per-question scores plus what the table needs."""
    from ragtune.chains.build import build_chain
    from ragtune.chains.options import ChainOptions
    from ragtune.chains.rag_chain import is_not_found
    from ragtune.retrievers.search import SearchOptions

    options = ChainOptions(
        config=config, search=SearchOptions(k=settings["k"]), max_new_tokens=settings["max_new_tokens"]
    )
    chain = build_chain(workspace, options=options)
    scores: list[QuestionScore] = []
    not_found, shown_gold, output_tokens, loops = [], [], [], []
    started = time.perf_counter()
    for n, item in enumerate(items, start=1):
        answer = chain.invoke({"question": item.question, "route": settings["route"]})
        blocks = {c.number: texts.get(c.chunk_id, "") for c in answer.citations}
        scores.append(score_answer(item, answer, blocks, answer.usage.latency_ms.get("total", 0.0)))
        not_found.append(float(answer.abstained or answer.unsourced or is_not_found(answer.text)))
        shown_gold.append(float(any(c.doc_id in item.sources for c in answer.context)))
        output_tokens.append(answer.usage.output_tokens)
        loops.append(float(repetitive(answer.text)))
        if n % 10 == 0 or n == len(items):
            elapsed = time.perf_counter() - started
            print(f"[{arm}] {n}/{len(items)} questions, {elapsed:.0f}s ({elapsed / n:.1f}s/question)", file=sys.stderr)
    covered = [max(float(s.cited or 0.0), nf) for s, nf in zip(scores, not_found, strict=True)]
    return {
        "settings": settings,
        "contains_answer": interval([s.contains_answer for s in scores]),
        "token_f1": interval([s.token_f1 for s in scores]),
        "supported_share": interval([s.supported_share for s in scores]),
        "citation_precision": interval([s.citation_precision for s in scores]),
        "cited": interval([s.cited for s in scores]),
        "not_found": interval(not_found),
        "cited_or_not_found": interval(covered),
        "recall_shown": interval(shown_gold),
        "repetitive": interval(loops),
        "p50_ms": statistics.median(s.latency_ms or 0.0 for s in scores),
        "max_output_tokens": max(output_tokens, default=0),
        "at_limit": sum(1 for t in output_tokens if t >= settings["max_new_tokens"]),
    }


def recall_at(workspace: Workspace, items: list[QAItem], k: int) -> Interval:
    searcher = workspace.searcher()
    return interval([float(any(h.doc_id in i.sources for h in searcher.search(i.question, k=k))) for i in items])


QUALITY = {
    "contains_answer": "contains answer",
    "token_f1": "token F1",
    "supported_share": "supported claims",
    "citation_precision": "citation precision",
    "cited": "cited",
    "not_found": "says not in documents",
    "cited_or_not_found": "cited or not found",
}
EXTRA = {"repetitive": "repetitive replies", "recall_shown": "gold paragraph shown"}


def _limits(r: dict[str, Any]) -> list[Any]:
    settings = r["settings"]
    route = f"{settings['route']} / {settings['k']} / {settings['max_new_tokens']}"
    return [route, f"{r['p50_ms']:.0f}", r["max_output_tokens"], r["at_limit"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=4)
    parser.add_argument(
        "--first-article",
        type=int,
        default=0,
        help="first dev article of the slice; 4, 8 and 12 give the tuning slices kept apart from the default 0",
    )
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--arms", default=",".join(ARMS[:5]), help=f"comma-separated, of {', '.join(ARMS)}")
    parser.add_argument("--k", type=int, default=3, help="passages per question (arms other than default)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="reply limit (arms other than default)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    args = parser.parse_args()
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    checked = chain_configs(arms, args.max_new_tokens, args.k)  # fails before any model loads
    chunks, items = load(args.articles, args.questions, args.first_article)
    texts = {c.id: c.text for c in chunks}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder, Workspace(Settings.load({"store": folder})) as ws:
        fill(ws, chunks)
        recall3 = recall_at(ws, items, 3)
        for arm, (settings, config) in checked.items():
            print(f"[{arm}] route {settings['route']}, {settings['config'] or 'chain defaults'}, "
                  f"k={settings['k']}, max_new_tokens={settings['max_new_tokens']}", file=sys.stderr)  # fmt: skip
            results[arm] = run_arm(ws, arm, settings, config, items, texts)

    n = len(items)
    articles = len({c.title for c in chunks})  # fewer than --articles when the slice runs past the last
    title = (
        f"SQuAD v1.1 dev slice: {articles} articles from #{args.first_article} ({len(chunks)} paragraphs), "
        f"{n} questions, "
        f"retrieval recall@3 {recall3.describe()} (bounds contains-answer at k=3); 95% bootstrap intervals"
    )
    print_table(
        title, ["arm", *QUALITY.values()], [[arm] + [r[m].describe() for m in QUALITY] for arm, r in results.items()]
    )
    print_table(
        "Length, repetition, latency and the gold paragraph among the blocks shown",
        ["arm", "route / k / limit", "p50 latency (ms)", "max reply tokens", "replies at the limit", *EXTRA.values()],
        [[arm, *_limits(r), *(r[m].describe() for m in EXTRA)] for arm, r in results.items()],
    )
    if args.json is not None:
        dump = {
            "questions": n,
            "recall_at_3": recall3.model_dump(),
            "arms": {
                arm: {k: v.model_dump() if isinstance(v, Interval) else v for k, v in r.items()}
                for arm, r in results.items()
            },
        }
        args.json.write_text(json.dumps(dump, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
