"""Bootstrap confidence intervals: how much a mean measured on a few questions can be trusted.

On a dozen questions one answer more or less moves a share by 8 points, so
every reported mean comes with a seeded percentile-bootstrap interval
(:func:`interval`), and comparisons between two approaches answered on the
same questions use the paired bootstrap of the per-question difference
(:func:`paired_difference`): when that interval contains 0 the difference is
within the noise.

Example:
    >>> interval([1.0, 0.0, 1.0, 1.0]).value
    0.75
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

RESAMPLES = 10_000
"""Bootstrap resamples per interval: enough that the Monte Carlo error of a 2.5% tail is small (cheap in numpy)."""
CONFIDENCE = 0.95
SEED = 0
"""Fixed seed: the same numbers give the same interval on every run."""


class Interval(BaseModel):
    """A mean with its bootstrap confidence interval (all ``None`` when nothing was measured)."""

    model_config = ConfigDict(frozen=True)

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    """Values the mean is taken over (questions where the metric could be judged)."""

    def contains(self, point: float) -> bool:
        """True when ``point`` lies inside the interval (an unmeasured interval contains everything)."""
        if self.ci_low is None or self.ci_high is None:
            return True
        return self.ci_low - 1e-12 <= point <= self.ci_high + 1e-12

    def describe(self, fmt: str = "{:.2f}") -> str:
        """``0.60 [0.40, 0.80]``, or ``n/a``."""
        if self.value is None:
            return "n/a"
        if self.ci_low is None or self.ci_high is None:
            return fmt.format(self.value)
        return f"{fmt.format(self.value)} [{fmt.format(self.ci_low)}, {fmt.format(self.ci_high)}]"


def _bounds(means: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def interval(
    values: Sequence[float | None],
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Interval:
    """Mean of the non-``None`` values and its percentile-bootstrap interval.

    ``None`` values (questions the metric cannot judge) are left out; no
    values give an all-``None`` interval, one value a zero-width one.
    """
    kept = np.asarray([v for v in values if v is not None], dtype=float)
    if kept.size == 0:
        return Interval(value=None)
    mean = float(kept.mean())
    if kept.size == 1:
        return Interval(value=mean, ci_low=mean, ci_high=mean, n=1)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, kept.size, size=(resamples, kept.size))
    low, high = _bounds(kept[picks].mean(axis=1), confidence)
    return Interval(value=mean, ci_low=low, ci_high=high, n=int(kept.size))


def paired_difference(
    first: Sequence[float | None],
    second: Sequence[float | None],
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Interval:
    """Mean of ``first - second`` over the questions both judged, with a paired bootstrap interval.

    The two sequences are per-question scores of two approaches on the same
    questions, in the same order. The interval containing 0 means the data
    cannot tell the two apart.
    """
    if len(first) != len(second):
        msg = f"paired scores need the same questions: {len(first)} vs {len(second)} values"
        raise ValueError(msg)
    diffs = [a - b for a, b in zip(first, second, strict=True) if a is not None and b is not None]
    return interval(diffs, resamples=resamples, confidence=confidence, seed=seed)


__all__ = ["CONFIDENCE", "RESAMPLES", "SEED", "Interval", "interval", "paired_difference"]
