"""Typed errors for ragtune.

Every error ragtune raises on purpose derives from :class:`RagtuneError`, and
also from the builtin it stands for, so ``except ValueError`` keeps working::

    RagtuneError
    ├── ConfigError(ValueError)          bad settings or arguments
    │   └── FilterSyntaxError            a filter string that does not parse (``.position``)
    ├── InputError(ValueError)           a file or record that cannot be used
    │   └── LoaderError                  a source could not be loaded
    ├── IndexBackendError(RuntimeError)  the index backend failed
    │   ├── TransientIndexError          worth retrying
    │   └── BatchWriteError              some objects of a batch were not written
    ├── StoreNotFoundError(FileNotFoundError)  a read of a store that was never created
    ├── EmbeddingError(RuntimeError)     the embedding model failed
    ├── ModelError(RuntimeError)         a chat model or fine-tuning API failed
    │   └── RetryableModelError          429, 5xx, timeouts
    └── ToolError(RuntimeError)          a tool failure the agent's model should see

Errors carry the ``path``, ``record_id`` and ``line`` they are about where
known, and ``is_retryable`` for transient faults (rate limits, 5xx, timeouts).
"""

from __future__ import annotations

from collections.abc import Sequence


class RagtuneError(Exception):
    """Root of every error ragtune raises on purpose."""

    is_retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        record_id: str | None = None,
        line: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.record_id = record_id
        self.line = line
        self.code = code


class ConfigError(RagtuneError, ValueError):
    """Settings, arguments or files describing configuration are invalid."""


class FilterSyntaxError(ConfigError):
    """A filter string that does not parse; ``position`` is the 1-based column of the problem."""

    def __init__(self, message: str, *, text: str, position: int) -> None:
        super().__init__(message)
        self.text = text
        self.position = position


class StoreNotFoundError(RagtuneError, FileNotFoundError):
    """A command that only reads was pointed at a store that does not exist (nothing is created)."""


class InputError(RagtuneError, ValueError):
    """A file or record cannot be used as input; the message says how to fix it."""


class LoaderError(InputError):
    """A source (file, URL, reader) could not be turned into documents."""


class IndexBackendError(RagtuneError, RuntimeError):
    """The index backend (embedded store or Weaviate) failed."""


class TransientIndexError(IndexBackendError):
    """A backend fault worth retrying (connection reset, 5xx, timeout)."""

    is_retryable = True


class BatchWriteError(IndexBackendError):
    """Some objects of a batch write failed; ``failed`` maps object id to reason."""

    def __init__(self, message: str, *, failed: dict[str, str]) -> None:
        super().__init__(message)
        self.failed = dict(failed)

    @property
    def failed_ids(self) -> Sequence[str]:
        return list(self.failed)


class EmbeddingError(RagtuneError, RuntimeError):
    """The embedding model could not embed the given texts."""


class ModelError(RagtuneError, RuntimeError):
    """A chat model or a fine-tuning API call failed."""


class RetryableModelError(ModelError):
    """Rate limit, 5xx or timeout from a model API: retried with backoff."""

    is_retryable = True


class ToolError(RagtuneError, RuntimeError):
    """A failure inside an agent tool that the agent's model should be shown."""


__all__ = [
    "BatchWriteError",
    "ConfigError",
    "EmbeddingError",
    "FilterSyntaxError",
    "IndexBackendError",
    "InputError",
    "LoaderError",
    "ModelError",
    "RagtuneError",
    "RetryableModelError",
    "StoreNotFoundError",
    "ToolError",
    "TransientIndexError",
]
