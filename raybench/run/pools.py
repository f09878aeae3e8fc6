"""Copy pools: the model copies of one sweep, as Ray actors or in the calling process.

Both pools have the same small interface, so the runner does not care where copies live:
``ensure(n, config, timeout_s)`` (spawn and load until ``n`` copies are ready), ``call(method,
n, *args, timeout_s=...)`` (call a ``ModelCopy`` method on the first ``n`` copies; the first
failure is raised), ``call_each`` (the same, but each copy's result or failure on its own) and
``close()``. Copies are reused by every config of the pool: the model is loaded once.

Every wait has a deadline and calls ``on_wait(waited_s)`` every ``WAIT_TICK_S`` (live progress,
"still loading" lines). A failure is always one of raybench's errors naming the copy:
``ModelLoadError`` (the model could not be built), ``RunError`` (the model or the copy failed, a
copy died or Ray's memory monitor killed it) or ``TimeoutError`` (no answer in time) — never a
raw Ray exception, which would end the whole sweep.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from raybench.core.errors import ModelLoadError, RunError
from raybench.core.schema import RunConfig
from raybench.engine.copy import CopySetup, ModelCopy
from raybench.run.cluster import CopyRequest

#: How often a waiting pool calls its ``on_wait`` (live progress, "still loading" lines).
WAIT_TICK_S = 0.5

#: ``on_wait(seconds waited so far)``.
OnWait = Callable[[float], None]
#: How a timeout reads: ``timeout_message.format(copy_id=..., timeout_s=...)``.
DEFAULT_TIMEOUT_MESSAGE = "copy {copy_id} did not answer within {timeout_s:.1f} s"


def _raise_first(results: list[Any]) -> list[Any]:
    """``results`` when no copy failed, else the first failure, raised."""
    failure = next((r for r in results if isinstance(r, BaseException)), None)
    if failure is not None:
        raise failure
    return results


def _run_coroutine(coroutine: Any) -> Any:
    """``asyncio.run(coroutine)``, also where this thread already runs an event loop (Jupyter's
    kernel): then on a fresh loop in a thread of its own, waited for here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
            result.append(exc)

    thread = threading.Thread(target=run, name="raybench-local-copies", daemon=True)
    thread.start()
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


class Pool:
    """What both pools share: ``call`` is ``call_each`` that raises the first failure."""

    def call_each(self, method: str, n: int, *args: Any, timeout_s: float, on_wait: OnWait | None = None,
                  timeout_message: str = DEFAULT_TIMEOUT_MESSAGE) -> list[Any]:
        raise NotImplementedError

    def call(self, method: str, n: int, *args: Any, timeout_s: float, on_wait: OnWait | None = None,
             timeout_message: str = DEFAULT_TIMEOUT_MESSAGE) -> list[Any]:
        """Run ``method(*args)`` on the first ``n`` copies concurrently; return their results.

        Raises:
            RunError, ModelLoadError, TimeoutError: the first copy that failed.
        """
        return _raise_first(self.call_each(method, n, *args, timeout_s=timeout_s, on_wait=on_wait,
                                           timeout_message=timeout_message))


class LocalPool(Pool):
    """Copies as plain ``ModelCopy`` objects in this process (``multiprocess=False``)."""

    def __init__(self, setup: CopySetup, input_sets: list[Any], collector: Any) -> None:
        self._args = (setup, input_sets, collector)
        self.copies: list[ModelCopy] = []

    def ensure(self, n: int, config: RunConfig, timeout_s: float, on_wait: OnWait | None = None,
               timeout_message: str = DEFAULT_TIMEOUT_MESSAGE) -> None:
        """Construct and load copies until there are ``n``.

        Each load runs in a daemon thread so that a constructor that never returns fails the
        config at ``timeout_s`` instead of hanging the caller (the thread is left behind).

        Raises:
            ModelLoadError: a copy could not load its model.
            TimeoutError: a copy did not load within ``timeout_s``.
        """
        while len(self.copies) < n:
            copy_id = len(self.copies)
            copy = ModelCopy(copy_id, *self._args, first_config=config)
            outcome: list[BaseException | None] = []

            def load(copy: ModelCopy = copy) -> None:
                try:
                    copy.load()
                    outcome.append(None)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    outcome.append(exc)

            thread = threading.Thread(target=load, name=f"raybench-load{copy_id}", daemon=True)
            started = time.monotonic()
            thread.start()
            while thread.is_alive():
                waited = time.monotonic() - started
                if waited >= timeout_s:
                    raise TimeoutError(timeout_message.format(copy_id=copy_id, timeout_s=timeout_s))
                thread.join(min(WAIT_TICK_S, timeout_s - waited))
                if thread.is_alive() and on_wait is not None:
                    on_wait(time.monotonic() - started)
            if outcome and outcome[0] is not None:
                error = outcome[0]
                raise error if isinstance(error, (ModelLoadError, RunError)) else RunError(_describe(error))
            self.copies.append(copy)

    def call_each(self, method: str, n: int, *args: Any, timeout_s: float, on_wait: OnWait | None = None,
                  timeout_message: str = DEFAULT_TIMEOUT_MESSAGE) -> list[Any]:
        """Like :meth:`call`, but each copy's result or error on its own.

        Returns:
            One entry per copy: its result, or the ``RunError``/``TimeoutError`` it ended with.
            A copy still running at ``timeout_s`` is asked to stop; its thread cannot be killed.
        """

        async def gather() -> list[Any]:
            loop = asyncio.get_running_loop()
            tasks = [asyncio.ensure_future(getattr(copy, method)(*args)) for copy in self.copies[:n]]
            started = loop.time()
            while True:
                left = started + timeout_s - loop.time()
                _, running = await asyncio.wait(tasks, timeout=max(0.0, min(left, WAIT_TICK_S)))
                if not running or left <= WAIT_TICK_S:
                    break
                if on_wait is not None:
                    on_wait(loop.time() - started)
            out: list[Any] = []
            for copy_id, task in enumerate(tasks):
                if not task.done():
                    out.append(TimeoutError(timeout_message.format(copy_id=copy_id, timeout_s=timeout_s)))
                    task.cancel()
                elif task.exception() is not None:
                    exc = task.exception()
                    out.append(exc if isinstance(exc, (RunError, ModelLoadError)) else RunError(_describe(exc)))
                else:
                    out.append(task.result())
            for copy in self.copies[:n]:
                copy.stop()
            return out

        return _run_coroutine(gather())

    def discard(self) -> None:
        """Drop every copy."""
        for copy in self.copies:
            copy.stop()
        self.copies = []

    close = discard


class RayPool(Pool):
    """Copies as Ray actors (``ray.remote(ModelCopy)``), each asking for ``request``."""

    def __init__(self, remote_copy_class: Any, setup: CopySetup, input_sets: Any, collector: Any,
                 request: CopyRequest) -> None:
        import ray

        self._ray = ray
        self._args = (setup, input_sets, collector)
        # SPREAD: copies go to different nodes where they can, instead of packing the first one.
        self._actor_class = remote_copy_class.options(
            **request.ray_options(), max_concurrency=64, scheduling_strategy="SPREAD"
        )
        self.copies: list[Any] = []

    def ensure(self, n: int, config: RunConfig, timeout_s: float, on_wait: OnWait | None = None,
               timeout_message: str = DEFAULT_TIMEOUT_MESSAGE) -> None:
        """Spawn actors until there are ``n``, and wait (up to ``timeout_s``) until they loaded.

        Raises:
            ModelLoadError: a copy could not load its model (the model's own message).
            RunError: a copy died while loading (killed, out of memory).
            TimeoutError: a copy did not become ready in time.
        """
        first = len(self.copies)
        new = [self._actor_class.remote(i, *self._args, first_config=config) for i in range(first, n)]
        self.copies.extend(new)
        if not new:
            return
        results = self._gather([a.load.remote() for a in new], timeout_s, on_wait, timeout_message, first_id=first)
        if any(isinstance(r, BaseException) for r in results):
            self._kill(new)
            del self.copies[first:]
            _raise_first(results)

    def call_each(self, method: str, n: int, *args: Any, timeout_s: float, on_wait: OnWait | None = None,
                  timeout_message: str = DEFAULT_TIMEOUT_MESSAGE) -> list[Any]:
        """Like :meth:`call`, but a copy that dies or hangs does not lose the others' results.

        Returns:
            One entry per copy, in order: its result, or the error it ended with
            (``RunError`` for a death or a raise, ``TimeoutError`` for no answer in time).
        """
        refs = [getattr(a, method).remote(*args) for a in self.copies[:n]]
        return self._gather(refs, timeout_s, on_wait, timeout_message)

    def discard(self) -> None:
        """Kill every copy (after a timeout or a death: their state is not to be trusted)."""
        self._kill(self.copies)
        self.copies = []

    def close(self) -> None:
        """Kill every copy, freeing its resources for the next pool."""
        self.discard()

    def _kill(self, actors: list[Any]) -> None:
        for actor in actors:
            try:
                self._ray.kill(actor)
            except Exception:  # noqa: BLE001 - already dead: nothing to free
                pass

    def _gather(self, refs: list[Any], timeout_s: float, on_wait: OnWait | None, timeout_message: str,
                first_id: int = 0) -> list[Any]:
        """Each ref's value or failure, waiting until all answered or ``timeout_s`` passed."""
        ray = self._ray
        started = time.monotonic()
        pending = list(refs)
        while pending:
            left = started + timeout_s - time.monotonic()
            if left <= 0:
                break
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=min(left, WAIT_TICK_S))
            if pending and on_wait is not None:
                on_wait(time.monotonic() - started)
        late = {ref.hex() for ref in pending}
        out: list[Any] = []
        for copy_id, ref in enumerate(refs, start=first_id):
            if ref.hex() in late:
                out.append(TimeoutError(timeout_message.format(copy_id=copy_id, timeout_s=timeout_s)))
                continue
            try:
                out.append(ray.get(ref, timeout=max(1.0, timeout_s)))
            except ray.exceptions.GetTimeoutError:
                out.append(TimeoutError(timeout_message.format(copy_id=copy_id, timeout_s=timeout_s)))
            except ray.exceptions.RayError as exc:  # Ray's common base: no Ray error ends the sweep
                out.append(ray_failure(copy_id, exc))
        return out


def ray_failure(copy_id: int, exc: BaseException) -> RunError | ModelLoadError:
    """One of raybench's errors for what Ray raised when copy ``copy_id`` was called."""
    import ray

    if isinstance(exc, ray.exceptions.RayTaskError):  # raised by our code or the model, in the copy
        cause = getattr(exc, "cause", None)
        if isinstance(cause, ModelLoadError):
            return ModelLoadError(str(cause))
        return RunError(str(cause) if cause is not None else _first_line(exc))
    if isinstance(exc, ray.exceptions.OutOfMemoryError) or _mentions_oom(exc):
        return RunError(f"copy {copy_id} was killed by Ray's memory monitor: {_headline(exc)}")
    if isinstance(exc, ray.exceptions.RayActorError):
        return RunError(f"copy {copy_id} died: {_first_line(exc)}")
    return RunError(f"copy {copy_id} failed in Ray: {type(exc).__name__}: {_first_line(exc)}")


def _mentions_oom(exc: BaseException) -> bool:
    """A death Ray reports as an actor error but whose cause was its memory monitor."""
    text = str(exc)
    return "running low on memory" in text or "OutOfMemoryError" in text


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _headline(exc: BaseException) -> str:
    """Ray's first line of an error, without the colour codes and pid noise."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0].split(", \x1b")[0].split(", ray::")[0] if lines else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    """Ray's first line, plus the underlying error when an actor died in its constructor."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return f"{_headline(exc)}: {lines[-1]}" if len(lines) > 1 else _headline(exc)
