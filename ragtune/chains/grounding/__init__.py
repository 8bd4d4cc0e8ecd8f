"""Grounding: every answer checked against the passages that were shown, cited by the system.

* :mod:`~ragtune.chains.grounding.verifier`: verifiers that score claims against evidence sentences;
* :mod:`~ragtune.chains.grounding.verify`: claims, evidence and the rules every verdict obeys;
* :mod:`~ragtune.chains.grounding.extract`: extractive answers quoted from the passages;
* :mod:`~ragtune.chains.grounding.policy`: ``apply_grounding``, the post-step invoke and stream share.

Example:
    >>> from ragtune.chains.grounding import EmbeddingVerifier, apply_grounding
    >>> grounded = apply_grounding(answer, blocks, policy="strict", verifier=EmbeddingVerifier(embedder))
"""

from __future__ import annotations

from ragtune.chains.grounding.extract import ExtractOptions, pick_sentences
from ragtune.chains.grounding.policy import GROUNDING_POLICIES, UNSUPPORTED, Grounding, apply_grounding, is_not_found
from ragtune.chains.grounding.text import is_instruction
from ragtune.chains.grounding.verifier import (
    CrossEncoderVerifier,
    EmbeddingSimilarity,
    EmbeddingVerifier,
    LexicalVerifier,
    Verifier,
)
from ragtune.chains.grounding.verify import Evidence, evidence_sentences, split_claims, verify_claims

__all__ = [
    "GROUNDING_POLICIES",
    "UNSUPPORTED",
    "CrossEncoderVerifier",
    "EmbeddingSimilarity",
    "EmbeddingVerifier",
    "Evidence",
    "ExtractOptions",
    "Grounding",
    "LexicalVerifier",
    "Verifier",
    "apply_grounding",
    "evidence_sentences",
    "is_instruction",
    "is_not_found",
    "pick_sentences",
    "split_claims",
    "verify_claims",
]
