"""Prompt construction, context assembly, answer synthesis and the routed RAG chain.

Data flows loaders -> index -> retrievers -> routing -> chains. Names load lazily, so
``import ragtune.chains`` loads neither LangChain nor a model.

Example:
    >>> from ragtune.chains import ChainOptions, build_chain
    >>> chain = build_chain(workspace, options=ChainOptions(max_new_tokens=128))
    >>> answer = chain.invoke("What does the handbook say about refunds?")
    >>> answer.text, answer.route, [c.source for c in answer.citations]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragtune._lazy import lazy_getattr

if TYPE_CHECKING:
    from ragtune.chains.answer import (
        NOT_FOUND,
        NOT_FROM_DOCUMENTS,
        Answer,
        Citation,
        Claim,
        DroppedChunk,
        Segment,
        Usage,
    )
    from ragtune.chains.build import build_chain, registry_staleness
    from ragtune.chains.context import ContextBlock, ContextOptions, PackedContext, assemble, pack, render_context
    from ragtune.chains.grounding import (
        CrossEncoderVerifier,
        EmbeddingVerifier,
        ExtractOptions,
        LexicalVerifier,
        Verifier,
        apply_grounding,
    )
    from ragtune.chains.models import ChainModel
    from ragtune.chains.options import ChainOptions
    from ragtune.chains.prompt import DATA_RULE, Prompts
    from ragtune.chains.rag_chain import ChainConfig, RagChain
    from ragtune.chains.synthesis import (
        ExtractSynthesizer,
        MapReduceSynthesizer,
        RefineSynthesizer,
        StuffSynthesizer,
        Synthesizer,
    )

_LAZY = {
    "NOT_FOUND": "answer",
    "NOT_FROM_DOCUMENTS": "answer",
    "Answer": "answer",
    "Citation": "answer",
    "Claim": "answer",
    "CrossEncoderVerifier": "grounding",
    "EmbeddingVerifier": "grounding",
    "ExtractOptions": "grounding",
    "LexicalVerifier": "grounding",
    "Verifier": "grounding",
    "apply_grounding": "grounding",
    "ExtractSynthesizer": "synthesis",
    "DroppedChunk": "answer",
    "Segment": "answer",
    "Usage": "answer",
    "build_chain": "build",
    "registry_staleness": "build",
    "ContextBlock": "context",
    "ContextOptions": "context",
    "PackedContext": "context",
    "assemble": "context",
    "pack": "context",
    "render_context": "context",
    "ChainModel": "models",
    "ChainOptions": "options",
    "DATA_RULE": "prompt",
    "Prompts": "prompt",
    "ChainConfig": "rag_chain",
    "RagChain": "rag_chain",
    "MapReduceSynthesizer": "synthesis",
    "RefineSynthesizer": "synthesis",
    "StuffSynthesizer": "synthesis",
    "Synthesizer": "synthesis",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
__all__ = [
    "DATA_RULE",
    "NOT_FOUND",
    "NOT_FROM_DOCUMENTS",
    "Answer",
    "ChainConfig",
    "ChainModel",
    "ChainOptions",
    "Citation",
    "Claim",
    "CrossEncoderVerifier",
    "EmbeddingVerifier",
    "ExtractOptions",
    "ExtractSynthesizer",
    "LexicalVerifier",
    "Verifier",
    "apply_grounding",
    "ContextBlock",
    "ContextOptions",
    "DroppedChunk",
    "MapReduceSynthesizer",
    "PackedContext",
    "Prompts",
    "RagChain",
    "RefineSynthesizer",
    "Segment",
    "StuffSynthesizer",
    "Synthesizer",
    "Usage",
    "assemble",
    "build_chain",
    "pack",
    "registry_staleness",
    "render_context",
]
