"""Token counting for chunking: a plain ``text -> int`` callable or a Hugging Face tokenizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ragtune.errors import ConfigError

TokenCounter = Callable[[str], int]
"""Length of a text in the embedder's own tokens, without special tokens."""


def as_token_counter(counter: TokenCounter | Any) -> TokenCounter:
    """A :data:`TokenCounter` from a callable (``LocalEmbedder.count_tokens``) or a tokenizer.

    Tokenizers (``transformers`` ``PreTrainedTokenizerBase`` or ``tokenizers.Tokenizer``) are
    recognised by ``encode`` plus ``get_vocab``, and counted without special tokens.

    Raises:
        ConfigError: ``counter`` is neither.
    """
    encode = getattr(counter, "encode", None)
    if callable(encode) and callable(getattr(counter, "get_vocab", None)):

        def count(text: str) -> int:
            return len(encode(text, add_special_tokens=False))

        return count
    if callable(counter):
        return counter  # type: ignore[no-any-return]
    msg = (
        f"Chunker needs a token counter: a callable text -> int such as LocalEmbedder.count_tokens, "
        f"or a Hugging Face tokenizer; got {type(counter).__name__}"
    )
    raise ConfigError(msg)


__all__ = ["TokenCounter", "as_token_counter"]
