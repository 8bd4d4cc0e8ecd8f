"""One writer per store at a time: an advisory file lock around ingest, repair and migrate.

Two ingests into one store would interleave their writes and their view of
which documents exist; the second one waits here instead (with a message), or
gives up with a clear error after ``timeout`` seconds. The lock file lives in
the store folder (for Weaviate it is named after the collection), so it
serialises writers on one machine; writers on several machines sharing one
Weaviate collection need their own coordination.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ragtune.config import Backend, Settings
from ragtune.errors import IndexBackendError

if TYPE_CHECKING:
    from ragtune.workspace import Workspace

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1


class StoreLockTimeout(IndexBackendError):
    """Another writer held the store's lock for longer than the caller would wait."""


def lock_path(workspace: Workspace | Settings) -> Path:
    """Where the write lock of a workspace's (or settings') index lives."""
    settings = workspace if isinstance(workspace, Settings) else workspace.settings
    if settings.backend is Backend.WEAVIATE:
        return Path(settings.store) / f"write-{settings.collection}.lock"
    return Path(settings.store) / "write.lock"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def file_lock(
    path: Path, *, timeout: float | None = None, on_wait: Callable[[str], None] | None = _say
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; wait up to ``timeout`` seconds (``None``: forever)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = path.open("a+", encoding="utf-8")
    try:
        started = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if not told and on_wait is not None:
                    on_wait(f"waiting for another writer ({holder}) to finish with {path.parent} ...")
                    told = True
                if timeout is not None and time.monotonic() - started >= timeout:
                    msg = (
                        f"{path.parent} is being written by another process ({holder}) and it did not finish "
                        f"within {timeout:g}s; wait for it, or raise --lock-timeout"
                    )
                    raise StoreLockTimeout(msg, path=str(path)) from None
                time.sleep(POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "unknown pid"


def write_lock(
    workspace: Workspace | Settings, *, timeout: float | None = None
) -> contextlib.AbstractContextManager[None]:
    """The store-wide write lock for ingest, ``doctor --repair`` and ``migrate``."""
    return file_lock(lock_path(workspace), timeout=timeout)


__all__ = ["StoreLockTimeout", "file_lock", "lock_path", "write_lock"]
