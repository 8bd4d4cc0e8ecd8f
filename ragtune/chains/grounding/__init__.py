"""Grounding: every answer checked against the passages that were shown, cited by the system.

* :mod:`~ragtune.chains.grounding.verifier`: verifiers that score claims against evidence sentences;
* :mod:`~ragtune.chains.grounding.binding`: a claim's numbers, dates and names bound to its own subject;
* :mod:`~ragtune.chains.grounding.bound`: ``default_verifier``, the verifier ``ragtune ask`` uses;
* :mod:`~ragtune.chains.grounding.verify`: claims, evidence and the rules every verdict obeys;
* :mod:`~ragtune.chains.grounding.extract`: extractive answers quoted from the passages;
* :mod:`~ragtune.chains.grounding.policy`: ``apply_grounding``, the post-step invoke and stream share.

Example:
    >>> from ragtune.chains.grounding import apply_grounding, default_verifier
    >>> grounded = apply_grounding(answer, blocks, policy="strict", verifier=default_verifier(embedder))
"""

from __future__ import annotations

from ragtune.chains.grounding.binding import SubjectBinding, Unbound
from ragtune.chains.grounding.bound import BoundVerifier, default_verifier
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
    "BoundVerifier",
    "CrossEncoderVerifier",
    "EmbeddingSimilarity",
    "EmbeddingVerifier",
    "Evidence",
    "ExtractOptions",
    "Grounding",
    "LexicalVerifier",
    "SubjectBinding",
    "Unbound",
    "Verifier",
    "apply_grounding",
    "default_verifier",
    "evidence_sentences",
    "is_instruction",
    "is_not_found",
    "pick_sentences",
    "split_claims",
    "verify_claims",
]
