"""Token prices for cost estimates, including fine-tuned (``ft:``) models and training.

Other frameworks report the cost of a fine-tuned model as zero because its id is
not in their table. ragtune resolves ``ft:<base>:<org>::<id>`` to the
fine-tuned price of ``<base>``, which OpenAI bills higher than the base model.

Prices are USD per million tokens from OpenAI's published pricing
(https://openai.com/api/pricing/ and https://platform.openai.com/docs/pricing)
as of :attr:`PriceTable.as_of`. They change: pass your own file with
:meth:`PriceTable.from_file` to override any of them.

Example:
    >>> table = PriceTable.default()
    >>> table.cost("ft:gpt-4o-mini-2024-07-18:acme::abc123", input_tokens=1_000_000, output_tokens=0)
    0.3
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragtune.errors import ConfigError
from ragtune.llm.registry import LOCAL_MODEL_ID

log = logging.getLogger(__name__)

DEFAULT_AS_OF = "2025-08"
FT_PREFIX = "ft:"
_DATED_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


class Price(BaseModel):
    """USD per million tokens; ``training_per_1m`` only for models that can be fine-tuned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_1m: float = Field(ge=0)
    """Prompt tokens."""
    output_per_1m: float = Field(ge=0)
    """Completion tokens."""
    training_per_1m: float | None = Field(default=None, ge=0)
    """Fine-tuning tokens (examples x epochs); ``None`` when the model cannot be fine-tuned."""


def _p(inp: float, out: float, train: float | None = None) -> Price:
    return Price(input_per_1m=inp, output_per_1m=out, training_per_1m=train)


# Base models: standard (non-batch) prices. Key "ft:<base>" = price of a model fine-tuned from <base>,
# with the training price per 1M training tokens.
_DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": _p(0.15, 0.60),
    "gpt-4o": _p(2.50, 10.00),
    "gpt-4.1": _p(2.00, 8.00),
    "gpt-4.1-mini": _p(0.40, 1.60),
    "gpt-4.1-nano": _p(0.10, 0.40),
    "gpt-3.5-turbo": _p(0.50, 1.50),
    "gpt-4-turbo": _p(10.00, 30.00),
    "gpt-4": _p(30.00, 60.00),
    "gpt-5": _p(1.25, 10.00),
    "gpt-5-mini": _p(0.25, 2.00),
    "gpt-5-nano": _p(0.05, 0.40),
    "o1": _p(15.00, 60.00),
    "o3": _p(2.00, 8.00),
    "o3-mini": _p(1.10, 4.40),
    "o4-mini": _p(1.10, 4.40),
    "text-embedding-3-small": _p(0.02, 0.0),
    "text-embedding-3-large": _p(0.13, 0.0),
    "text-embedding-ada-002": _p(0.10, 0.0),
    "ft:gpt-4o-mini": _p(0.30, 1.20, 3.00),
    "ft:gpt-4o": _p(3.75, 15.00, 25.00),
    "ft:gpt-4.1": _p(3.00, 12.00, 25.00),
    "ft:gpt-4.1-mini": _p(0.80, 3.20, 5.00),
    "ft:gpt-4.1-nano": _p(0.20, 0.80, 1.50),
    "ft:gpt-3.5-turbo": _p(3.00, 6.00, 8.00),
    # Local models run on your own hardware: no per-token price, and LoRA training is free.
    LOCAL_MODEL_ID: _p(0.0, 0.0, 0.0),
    f"ft:{LOCAL_MODEL_ID}": _p(0.0, 0.0, 0.0),
}


def _undated(model_id: str) -> str:
    """``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``; ``gpt-3.5-turbo-0125`` -> ``gpt-3.5-turbo``."""
    return _DATED_SUFFIX.sub("", model_id)


def finetune_base(model_id: str) -> str | None:
    """The base of a fine-tuned id: ``ft:gpt-4o-mini-2024-07-18:org::abc`` -> ``gpt-4o-mini-2024-07-18``."""
    if not model_id.startswith(FT_PREFIX):
        return None
    return model_id[len(FT_PREFIX) :].split(":", 1)[0] or None


class PriceTable:
    """Prices by model id, resolved through dated snapshots and ``ft:`` ids.

    Args:
        prices: model id -> :class:`Price`; a key ``ft:<base>`` is the price of models tuned from ``<base>``.
        as_of: when these prices were read (shown in reports).
    """

    def __init__(self, prices: Mapping[str, Price], *, as_of: str = DEFAULT_AS_OF) -> None:
        self.prices = dict(prices)
        self.as_of = as_of
        self._warned: set[str] = set()

    @classmethod
    def default(cls) -> PriceTable:
        """OpenAI's published prices as of :data:`DEFAULT_AS_OF`; local models cost 0."""
        return cls(_DEFAULT_PRICES, as_of=DEFAULT_AS_OF)

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        """Read ``{"model": {"input_per_1m": .., "output_per_1m": .., "training_per_1m": ..}}`` merged over the default.

        An optional top-level ``"as_of": "YYYY-MM-DD"`` string dates the file.

        Raises:
            ConfigError: the file is missing, not JSON, or a price is malformed.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"Price file {path} not found", path=str(path)) from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"Price file {path} is not valid JSON: {exc}", path=str(path)) from exc
        if not isinstance(data, dict):
            msg = f'Price file {path} must hold an object {{"model": {{"input_per_1m": ..., "output_per_1m": ...}}}}'
            raise ConfigError(msg, path=str(path))
        base = cls.default()
        as_of = data.pop("as_of", None)
        prices = dict(base.prices)
        for model, raw in data.items():
            try:
                prices[model] = Price.model_validate(raw)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                msg = f"Price file {path}: model {model!r} has an invalid price ({problems})"
                raise ConfigError(msg, path=str(path)) from exc
        return cls(prices, as_of=str(as_of) if as_of else f"{base.as_of} + {path.name}")

    def price(self, model_id: str) -> Price | None:
        """The price of ``model_id``, or ``None`` when unknown.

        Resolution: the exact id; the id without its date suffix; for ``ft:<base>:...`` the
        ``ft:<base>`` price (exact, then undated). A fine-tuned id never falls back to the base
        model's (lower) price.
        """
        model_id = model_id.removeprefix("openai:")
        if model_id in self.prices:
            return self.prices[model_id]
        base = finetune_base(model_id)
        if base is not None:
            for key in (f"{FT_PREFIX}{base}", f"{FT_PREFIX}{_undated(base)}"):
                if key in self.prices:
                    return self.prices[key]
            return None
        undated = _undated(model_id)
        return self.prices.get(undated)

    def training_price(self, model_id: str) -> Price | None:
        """The fine-tuned price of ``model_id`` (a base id, or an ``ft:`` id being tuned further)."""
        model_id = model_id.removeprefix("openai:")
        base = finetune_base(model_id) or model_id
        return self.price(f"{FT_PREFIX}{base}:ragtune::training")

    def cost(self, model_id: str, input_tokens: int, output_tokens: int) -> float:
        """USD for one call; an unknown model costs 0.0 and logs one warning per id."""
        price = self.price(model_id)
        if price is None:
            self._warn_unknown(model_id, "usage")
            return 0.0
        return (input_tokens * price.input_per_1m + output_tokens * price.output_per_1m) / 1_000_000

    def training_cost(self, model_id: str, tokens: int) -> float:
        """USD to fine-tune ``model_id`` on ``tokens`` training tokens (examples' tokens x epochs).

        ``model_id`` is the model being tuned (``gpt-4o-mini-2024-07-18``) or an ``ft:`` id being
        tuned further. Unknown or untunable models cost 0.0 and log one warning per id.
        """
        price = self.training_price(model_id)
        if price is None or price.training_per_1m is None:
            self._warn_unknown(model_id, "fine-tuning")
            return 0.0
        return tokens * price.training_per_1m / 1_000_000

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of, **{k: v.model_dump() for k, v in sorted(self.prices.items())}}

    def _warn_unknown(self, model_id: str, what: str) -> None:
        if model_id not in self._warned:
            self._warned.add(model_id)
            log.warning(
                "No %s price for model %r (prices as of %s); counting its cost as 0. Add it with a price file.",
                what,
                model_id,
                self.as_of,
            )

    def __repr__(self) -> str:
        return f"PriceTable({len(self.prices)} models, as_of={self.as_of!r})"


__all__ = ["DEFAULT_AS_OF", "Price", "PriceTable", "finetune_base"]
