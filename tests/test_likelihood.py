"""Question likelihood under the packaged SmolLM2: it settles near ties between passages, only then."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from ragtune.chains.context import ContextBlock, assemble
from ragtune.chains.grounding import ExtractOptions, pick_sentences
from ragtune.chains.grounding.likelihood import LocalQuestionLikelihood, QuestionLikelihood
from ragtune.chains.rag_chain import ChainConfig
from ragtune.schema import Chunk, Hit

BACKUPS = (
    "Every database is copied to a snapshot each night at 02:00 UTC. Snapshots are kept for 35 days "
    "on the Team plan and for a year on Enterprise, and they are stored in a second region."
)
RESTORES = (
    "A restore copies a snapshot into a new database, so the original keeps running. It takes about "
    "ten minutes per 10 GB, and the restored database keeps the plan of the original."
)
RATE_LIMITS = (
    "The API allows 120 requests per minute per token on the Team plan and 600 per minute on Enterprise. "
    "A request over the limit gets HTTP status 429 with a Retry-After header."
)


def blocks(*texts: str) -> list[ContextBlock]:
    found = [
        Hit(chunk=Chunk(id=f"c{i}", doc_id=f"d{i}", text=t, source=f"/docs/d{i}.md"), score=1.0, rank=i)
        for i, t in enumerate(texts)
    ]
    return assemble(found, ChainConfig().context)[0]


class Counting:
    """The real scorer, counting the passages it is asked about."""

    def __init__(self, inner: QuestionLikelihood) -> None:
        self.inner = inner
        self.asked: list[int] = []

    def score(self, question: str, passages: Sequence[str]) -> list[float] | None:
        self.asked.append(len(passages))
        return self.inner.score(question, passages)


@pytest.fixture(scope="module")
def smollm2() -> LocalQuestionLikelihood:
    return LocalQuestionLikelihood()


def test_the_passage_a_question_was_asked_of_explains_it_best(smollm2: LocalQuestionLikelihood) -> None:
    scores = smollm2.score("How long are snapshots kept on the Team plan?", [RATE_LIMITS, BACKUPS, RESTORES])
    assert scores is not None and len(scores) == 3
    assert max(scores) == scores[1] and all(s < 0 for s in scores)
    rate = smollm2.score("How many requests per minute does Enterprise allow?", [BACKUPS, RATE_LIMITS])
    assert rate is not None and rate[1] > rate[0]
    assert smollm2.score("anything", []) == []


def test_likelihood_settles_a_near_tie_between_passages(smollm2: LocalQuestionLikelihood) -> None:
    question = "How long does a restore take?"
    shown = blocks(BACKUPS, RESTORES)
    counting = Counting(smollm2)
    wide = ExtractOptions(max_sentences=1, likelihood_margin=1.0)
    picked = pick_sentences(question, shown, options=wide, likelihood=counting)
    assert counting.asked == [2]  # both passages compete: one score each
    assert picked[0].evidence.number == 2 and "ten minutes" in picked[0].evidence.text
    lexical = pick_sentences(question, shown, options=wide)
    assert lexical[0].evidence.number == 2  # the likelihood agrees with the clear lexical winner here


def test_the_model_is_not_asked_without_competing_passages(smollm2: LocalQuestionLikelihood) -> None:
    counting = Counting(smollm2)
    question = "How many requests per minute does Enterprise allow?"
    clear = pick_sentences(question, blocks(RATE_LIMITS, BACKUPS), options=ExtractOptions(), likelihood=counting)
    assert counting.asked == [] and clear[0].evidence.number == 1  # backups is far behind: no contest
    off = ExtractOptions(likelihood_weight=0.0, likelihood_margin=1.0)
    pick_sentences(question, blocks(RATE_LIMITS, BACKUPS), options=off, likelihood=counting)
    assert counting.asked == []  # weight 0: never asked
    pick_sentences(question, blocks(RATE_LIMITS), options=ExtractOptions(likelihood_margin=1.0), likelihood=counting)
    assert counting.asked == []  # one passage: nothing to settle


def test_a_model_that_cannot_load_skips_reranking_with_one_warning(tmp_path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    missing = LocalQuestionLikelihood(model=str(tmp_path / "no-such-model"))
    with caplog.at_level(logging.WARNING, logger="ragtune.chains.grounding.likelihood"):
        assert missing.score("How long does a restore take?", [BACKUPS, RESTORES]) is None
        assert missing.score("again?", [BACKUPS, RESTORES]) is None
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "no-such-model" in warnings[0]
    picked = pick_sentences(
        "How long does a restore take?",
        blocks(BACKUPS, RESTORES),
        options=ExtractOptions(likelihood_margin=1.0),
        likelihood=missing,
    )
    assert picked and picked[0].evidence.number == 2  # still answered, from embeddings-free overlap


def squad_paragraphs(shared_data, title: str, numbers: Sequence[int]) -> list[str]:  # type: ignore[no-untyped-def]
    import gzip
    import json

    with gzip.open(shared_data / "squad" / "dev-v1.1.json.gz", "rt", encoding="utf-8") as handle:
        (article,) = [a for a in json.load(handle)["data"] if a["title"] == title]
    return [article["paragraphs"][n]["context"] for n in numbers]


@pytest.mark.parametrize(
    ("question", "title", "shown", "wrong", "right"),
    [
        # the retrieval order of the answer benchmark; the asked-of paragraph is shown second
        ("How much did Levi's Stadium cost?", "Super_Bowl_50", [5, 7, 6, 21], 1, 2),
        ("When was the Duchy of Normandy founded?", "Normans", [1, 3, 39, 36], 1, 2),
    ],
)
def test_likelihood_moves_the_quote_to_the_paragraph_the_question_was_asked_of(
    minilm,
    shared_data,
    smollm2: LocalQuestionLikelihood,
    question: str,
    title: str,
    shown: list[int],
    wrong: int,
    right: int,
) -> None:  # type: ignore[no-untyped-def]
    from ragtune.chains.grounding import EmbeddingSimilarity

    similarity = EmbeddingSimilarity(minilm)
    shown_blocks = blocks(*squad_paragraphs(shared_data, title, shown))
    alone = pick_sentences(question, shown_blocks, similarity, ExtractOptions())
    settled = pick_sentences(question, shown_blocks, similarity, ExtractOptions(), smollm2)
    assert alone[0].evidence.number == wrong
    assert settled[0].evidence.number == right
    assert all(p.evidence.number == right for p in settled)


def test_numpy_forward_pass_matches_transformers(smollm2: LocalQuestionLikelihood) -> None:
    """The packaged model scored in numpy (no torch import in ``ragtune ask``) is transformers' model."""
    import numpy as np

    from ragtune.chains.grounding.likelihood import PROMPT, _TransformersScorer
    from ragtune.llm.loader import cache_dir, is_warm, load_local_model
    from ragtune.llm.numpy_llama import NumpyLlama

    assert is_warm(), "scripts/install.sh builds the model cache the numpy scorer reads"
    in_numpy = NumpyLlama(cache_dir())
    in_torch = _TransformersScorer(*load_local_model())
    for text in (PROMPT.format(passage=BACKUPS), " How long are snapshots kept?", "Zürich — “quoted” 中文 naïve\n\n"):
        assert in_numpy.encode(text) == in_torch.encode(text), text
    context, question = in_numpy.encode(PROMPT.format(passage=RESTORES)), in_numpy.encode(" How long does it take?")
    ours, theirs = in_numpy.token_log_probs(context, question), in_torch.token_log_probs(context, question)
    assert ours.dtype == np.float32 and ours.shape == (len(question),)
    assert np.abs(ours - theirs).max() < 1e-4


def test_numpy_forward_pass_refuses_a_model_it_does_not_implement(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from ragtune.llm.numpy_llama import NumpyLlama

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}), encoding="utf-8")
    with pytest.raises(ValueError, match="gpt2"):
        NumpyLlama(tmp_path)
    scaled = {"model_type": "llama", "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}
    (tmp_path / "config.json").write_text(json.dumps(scaled), encoding="utf-8")
    with pytest.raises(ValueError, match="rotary scaling"):
        NumpyLlama(tmp_path)


def test_memory_mapped_safetensors_equal_the_librarys_copy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    from safetensors.numpy import load_file, save_file

    from ragtune.llm.numpy_llama import read_safetensors

    rng = np.random.default_rng(0)
    tensors = {"a.weight": rng.standard_normal((3, 5)).astype(np.float32), "b": np.arange(7, dtype=np.float16)}
    save_file(tensors, str(tmp_path / "t.safetensors"), metadata={"format": "np"})
    mapped, copied = read_safetensors(tmp_path / "t.safetensors"), load_file(str(tmp_path / "t.safetensors"))
    assert mapped.keys() == copied.keys()
    for name in copied:
        assert mapped[name].dtype == copied[name].dtype and np.array_equal(mapped[name], copied[name])
    save_file({"ints": np.arange(3, dtype=np.int64)}, str(tmp_path / "i.safetensors"))
    with pytest.raises(ValueError, match="ints is I64"):
        read_safetensors(tmp_path / "i.safetensors")


def test_the_packaged_model_scores_without_importing_torch() -> None:
    """``ragtune ask`` re-ranks in a fresh process: importing torch and transformers would cost seconds."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from ragtune.chains.grounding.likelihood import LocalQuestionLikelihood\n"
        f"scores = LocalQuestionLikelihood().score('How long does a restore take?', [{BACKUPS!r}, {RESTORES!r}])\n"
        "print('SCORES', scores[1] > scores[0], sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    assert "SCORES True []" in done.stdout, done.stdout + done.stderr
