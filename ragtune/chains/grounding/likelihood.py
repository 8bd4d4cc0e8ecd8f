"""Question likelihood: how well each passage explains the question, under a small causal LM.

Embeddings and word overlap tell neighbouring paragraphs of one document apart poorly: they share
its subject and its words. A question asked of one paragraph is more probable after that paragraph
than after its neighbours, so the mean log-probability of the question's tokens after each passage
(zero-shot question generation as a re-ranker: Sachan et al., 2022, "Improving Passage Retrieval
with Zero-Shot Question Generation") settles near ties between passages. The extractive answerer
asks it only when passages compete (see ``ExtractOptions.likelihood_weight``), and the packaged
SmolLM2-135M is enough: on SQuAD dev slices it lifted citation precision by 0.03-0.06.

The packaged model runs on numpy (:class:`~ragtune.llm.numpy_llama.NumpyLlama`) from the cache
``scripts/install.sh`` builds, so a ``ragtune ask`` that re-ranks does not import torch; any other
model, or one this process already holds, runs on transformers.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ragtune.errors import ModelError
from ragtune.llm.numpy_llama import NumpyLlama

log = logging.getLogger(__name__)

PROMPT = "Passage: {passage}\nPlease write a question based on this passage.\nQuestion:"
"""What the model reads before the question (the question follows after a space)."""


@runtime_checkable
class QuestionLikelihood(Protocol):
    """Scores passages by how probable the question is after each (higher: explains it better)."""

    def score(self, question: str, passages: Sequence[str]) -> list[float] | None:
        """One score per passage, comparable within the call; ``None`` when it cannot score."""
        ...


class _TransformersScorer:
    """The same three calls as :class:`NumpyLlama`, on a transformers model and tokenizer."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids)))

    def token_log_probs(self, context: Sequence[int], continuation: Sequence[int]) -> np.ndarray:
        import torch

        ids = torch.tensor([[*context, *continuation]], device=self.model.device)
        with torch.inference_mode():
            logits = self.model(input_ids=ids).logits[0, len(context) - 1 : -1].float()
            target = torch.tensor(list(continuation), device=logits.device)[:, None]
            return logits.log_softmax(-1).gather(1, target)[:, 0].cpu().numpy()


@lru_cache(maxsize=2)
def _numpy_model(folder: str) -> NumpyLlama:
    return NumpyLlama(folder)


class LocalQuestionLikelihood:
    """Mean log-probability per question token after each passage, under a local causal LM.

    The model loads on the first call that needs it (never for a question whose best passage is
    clear) and stays loaded for the process. When it cannot load, re-ranking is skipped with one
    warning that says how to get it: the extractive answer still comes, from embeddings and word
    overlap alone.

    Args:
        model: a model spec as :func:`ragtune.llm.loader.load_local_model` takes it; default the
            packaged SmolLM2-135M (a larger model scores better and slower).
        max_passage_tokens: a longer passage is cut to its first this many tokens.
    """

    def __init__(self, model: str | None = None, *, max_passage_tokens: int = 384) -> None:
        self.model = model
        self.max_passage_tokens = max_passage_tokens
        self._lock = threading.Lock()
        self._resolved: NumpyLlama | _TransformersScorer | None = None
        self._failed: str | None = None

    def _scorer(self) -> NumpyLlama | _TransformersScorer:
        from ragtune.llm import loader

        spec = loader.normalize_spec(self.model)
        on_cpu = os.environ.get("RAGTUNE_DEVICE", "cpu") == "cpu"
        if spec == loader.LOCAL_MODEL_ID and on_cpu and not loader.is_loaded(spec) and loader.is_warm(spec):
            try:
                return _numpy_model(str(loader.cache_dir(spec)))
            except (OSError, ValueError, KeyError) as error:  # a damaged cache: transformers rebuilds it
                log.info("numpy scoring unavailable (%s); using transformers", error)
        return _TransformersScorer(*loader.load_local_model(model=self.model))

    def _ready(self) -> NumpyLlama | _TransformersScorer | None:
        """The scorer, chosen once: later questions read no cache manifest and look up no package."""
        if self._resolved is None and self._failed is None:
            with self._lock:
                if self._resolved is None and self._failed is None:
                    try:
                        self._resolved = self._scorer()
                    except ModelError as error:
                        self._failed = str(error)
                        log.warning("Passages are not re-ranked by question likelihood: %s", error)
        return self._resolved

    def score(self, question: str, passages: Sequence[str]) -> list[float] | None:
        if not passages:
            return []
        scorer = self._ready()
        if scorer is None:
            return None
        asked = scorer.encode(" " + question.strip())
        if not asked:
            return [0.0] * len(passages)
        scores = []
        for passage in passages:
            head = scorer.encode(passage)
            if len(head) > self.max_passage_tokens:
                passage = scorer.decode(head[: self.max_passage_tokens])
            context = scorer.encode(PROMPT.format(passage=passage))
            scores.append(float(np.mean(scorer.token_log_probs(context, asked))))
        return scores


__all__ = ["PROMPT", "LocalQuestionLikelihood", "QuestionLikelihood"]
