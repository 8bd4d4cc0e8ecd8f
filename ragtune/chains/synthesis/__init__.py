"""Answer synthesis modes: ``stuff``, ``refine``, ``map_reduce`` and ``extract``, one module each."""

from __future__ import annotations

from ragtune.chains.synthesis.base import Meter, SynthesisResult, Synthesizer, call_model, context_budget
from ragtune.chains.synthesis.extract import ExtractSynthesizer
from ragtune.chains.synthesis.map_reduce import MapReduceSynthesizer
from ragtune.chains.synthesis.refine import RefineSynthesizer
from ragtune.chains.synthesis.stuff import StuffSynthesizer

MODES: dict[str, type[Synthesizer]] = {
    "stuff": StuffSynthesizer,
    "refine": RefineSynthesizer,
    "map_reduce": MapReduceSynthesizer,
    "extract": ExtractSynthesizer,
}
"""Synthesizer class by mode name."""

__all__ = [
    "MODES",
    "ExtractSynthesizer",
    "MapReduceSynthesizer",
    "Meter",
    "RefineSynthesizer",
    "StuffSynthesizer",
    "SynthesisResult",
    "Synthesizer",
    "call_model",
    "context_budget",
]
