"""The default verifier: a similarity verifier whose supported claims must also bind their values.

:func:`default_verifier` is what ``ragtune ask``, the compare report and every :class:`RagChain`
without an explicit verifier use: the embedder's :class:`EmbeddingVerifier` (or word overlap without
one) scores each claim against each evidence sentence, the rules of
:mod:`~ragtune.chains.grounding.verify` hold, and a claim that passes must also bind its numbers,
dates and names to its own subject (:class:`~ragtune.chains.grounding.binding.SubjectBinding`).
A name that ``subject`` or more evidence sentences hold is the passage's subject: a sentence may
leave it out ("the city" for "Fresno") without failing the rule that a claim's names be in its
evidence sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragtune.chains.grounding.binding import SubjectBinding
from ragtune.chains.grounding.rivals import RivalCheck
from ragtune.chains.grounding.verifier import EmbeddingSimilarity, EmbeddingVerifier, LexicalVerifier, Verifier
from ragtune.embeddings.base import Embedder

SUBJECT = 0
"""A claim's name that this many evidence sentences hold may be missing from its supporting sentence;
0, the default, turns the excuse off. At 3 it scored best on SQuAD dev articles 16-31 (true-accept
0.630 / false-accept 0.162 against 0.605 / 0.148 without), but it lets a false claim through
(the Starter plan's sentence supported "The Business plan comes with 3 seats" because three
sentences name "Business"), and a supported claim must be true: off until it can tell a subject
from a rival."""


class BoundVerifier:
    """``base`` scores claims; ``binding`` then vetoes a supported claim whose value belongs to another subject.

    ``verify_claims`` reads ``binding`` and ``subject`` (any verifier may carry them): the veto runs
    only on claims the scores and rules already support; ``subject`` relaxes the names rule for the
    passage's subject (see :func:`~ragtune.chains.grounding.verify.subject_names`).
    """

    def __init__(
        self,
        base: Verifier,
        binding: SubjectBinding | None = None,
        *,
        subject: int = SUBJECT,
        rivals: RivalCheck | bool | None = True,
    ) -> None:
        self.base = base
        self.subject = subject
        self.binding = binding or SubjectBinding()
        self.rivals = RivalCheck(base) if rivals is True else (rivals or None)
        self.threshold = base.threshold

    def verify(self, claims: Sequence[str], evidence: Sequence[str]) -> np.ndarray:
        return self.base.verify(claims, evidence)


def default_verifier(embedder: Embedder | EmbeddingSimilarity | None) -> BoundVerifier:
    """The verifier ``ragtune ask`` uses: embedding similarity (word overlap without an embedder), bound values.

    Example:
        >>> from ragtune.chains.grounding import default_verifier
        >>> verifier = default_verifier(workspace.embedder)
    """
    base: Verifier = EmbeddingVerifier(embedder) if embedder is not None else LexicalVerifier()
    return BoundVerifier(base)


__all__ = ["SUBJECT", "BoundVerifier", "default_verifier"]
