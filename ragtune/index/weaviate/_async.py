"""An event loop on a daemon thread that owns the index's ``WeaviateAsyncClient``.

A ``grpc.aio`` channel belongs to the loop it was opened on. Callers'
loops come and go (``asyncio.run`` per call, a loop per test), so the async
client lives on a loop of its own: ``asearch`` awaits the work there from any
loop without blocking it, and ``close()`` can always shut the client down on
the loop that opened it, even from sync code after the caller's loop is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
CLOSE_TIMEOUT = 10.0


class BackgroundLoop:
    """Run coroutines on a private event loop thread."""

    def __init__(self, name: str = "ragtune-weaviate-async") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the private loop from the caller's loop (cancellation is passed on)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def run_sync(self, coro: Coroutine[Any, Any, T], timeout: float = CLOSE_TIMEOUT) -> T:
        """Block until ``coro`` finished on the private loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Stop the loop and its thread; pending work is dropped."""
        if self.loop.is_closed():
            return
        with contextlib.suppress(Exception):  # best effort: the loop stops either way
            self.run_sync(_settle())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(CLOSE_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


async def _settle() -> None:
    """Let callbacks that closing transports scheduled run before the loop stops."""
    for _ in range(3):
        await asyncio.sleep(0)


__all__ = ["BackgroundLoop"]
