"""The worker threads of one copy: a minimal executor whose threads are daemons.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits, so a
model call that never returns in a copy run in the calling process (``multiprocess=False``)
would keep the user's program from exiting even after raybench timed the config out. These
threads are daemons: a stuck one is left behind, never waited for.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any


class WorkerThreads(Executor):
    """``n`` daemon threads running submitted calls in order of submission.

    Args:
        n: Threads (one per worker of the copy).
        name_prefix: Thread names are ``{name_prefix}_{i}``.
        initializer: Called once in every thread before its first call (the backend's setup).
        initargs: Its arguments.
    """

    def __init__(self, n: int, name_prefix: str, initializer: Callable[..., Any] | None = None,
                 initargs: tuple[Any, ...] = ()) -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue())
        self._initializer = initializer
        self._initargs = initargs
        self._threads = [threading.Thread(target=self._serve, name=f"{name_prefix}_{i}", daemon=True)
                         for i in range(n)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Queue ``fn(*args)`` for the next free thread."""
        future: Future[Any] = Future()
        self._queue.put((future, (lambda: fn(*args, **kwargs)) if kwargs else fn, () if kwargs else args))
        return future

    def shutdown(self, wait: bool = False, *, cancel_futures: bool = False) -> None:
        """Let the threads end once their current call returns; never waits unless asked to."""
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown(wait=False)

    def _serve(self) -> None:
        if self._initializer is not None:
            self._initializer(*self._initargs)
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the future
                future.set_exception(exc)
