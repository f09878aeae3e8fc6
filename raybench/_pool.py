"""Copy pools: the model copies of one sweep, as Ray actors or in the calling process.

Both pools have the same small interface, so the runner does not care where copies live:
``ensure(n, config)`` (spawn and load until ``n`` copies are ready), ``call(method, n, *args,
timeout_s=...)`` (call a ``ModelCopy`` method on the first ``n`` copies and gather the results),
``call_each`` (the same, but one copy's failure does not lose the others' results) and
``close()``. Copies are reused by every config of the pool: the model is loaded once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

#: How often a waiting ``call_each`` calls its ``on_wait`` (live progress).
WAIT_TICK_S = 0.5

from raybench._actor import ModelCopy
from raybench._config import RunConfig
from raybench._devices import CopyRequest
from raybench._exceptions import ModelLoadError, RunError


class LocalPool:
    """Copies as plain ``ModelCopy`` objects in this process (``multiprocess=False``)."""

    def __init__(self, copy_kwargs: dict[str, Any]) -> None:
        self._copy_kwargs = copy_kwargs
        self.copies: list[ModelCopy] = []

    def ensure(self, n: int, config: RunConfig, timeout_s: float) -> None:
        """Construct and load copies until there are ``n``."""
        while len(self.copies) < n:
            copy = ModelCopy(len(self.copies), first_config=config, **self._copy_kwargs)
            copy.load()
            self.copies.append(copy)

    def call(self, method: str, n: int, *args: Any, timeout_s: float) -> list[Any]:
        """Run ``method(*args)`` on the first ``n`` copies concurrently; return their results."""

        async def gather() -> list[Any]:
            calls = [getattr(copy, method)(*args) for copy in self.copies[:n]]
            return list(await asyncio.wait_for(asyncio.gather(*calls), timeout_s))

        try:
            return asyncio.run(gather())
        except asyncio.TimeoutError as exc:
            for copy in self.copies[:n]:
                copy.stop()
            raise TimeoutError(f"{method} did not return within {timeout_s:.1f} s") from exc

    def call_each(
        self, method: str, n: int, *args: Any, timeout_s: float, on_wait: Callable[[], None] | None = None
    ) -> list[Any]:
        """Like :meth:`call`, but each copy's result or error on its own; ``on_wait()`` is
        called every ``WAIT_TICK_S`` while the copies run.

        Returns:
            One entry per copy: its result, or the ``RunError``/``TimeoutError`` it ended with.
            A copy still running at ``timeout_s`` is asked to stop; its thread cannot be killed.
        """

        async def gather() -> list[Any]:
            tasks = [asyncio.ensure_future(getattr(copy, method)(*args)) for copy in self.copies[:n]]
            deadline = asyncio.get_running_loop().time() + timeout_s
            while True:
                left = deadline - asyncio.get_running_loop().time()
                _, running = await asyncio.wait(tasks, timeout=max(0.0, min(left, WAIT_TICK_S)))
                if not running or left <= WAIT_TICK_S:
                    break
                if on_wait is not None:
                    on_wait()
            out: list[Any] = []
            for copy_id, task in enumerate(tasks):
                if not task.done():
                    out.append(TimeoutError(f"copy {copy_id} did not answer within {timeout_s:.1f} s"))
                elif task.exception() is not None:
                    exc = task.exception()
                    out.append(RunError(f"{type(exc).__name__}: {exc}"))
                else:
                    out.append(task.result())
            for copy in self.copies[:n]:
                copy.stop()
            return out

        return asyncio.run(gather())

    def stop(self, n: int) -> None:
        """Ask the first ``n`` copies to stop measuring."""
        for copy in self.copies[:n]:
            copy.stop()

    def discard(self) -> None:
        """Drop every copy."""
        self.copies = []

    close = discard


class RayPool:
    """Copies as Ray actors (``ray.remote(ModelCopy)``), each asking for ``request``."""

    def __init__(self, remote_copy_class: Any, copy_kwargs: dict[str, Any], request: CopyRequest) -> None:
        import ray

        self._ray = ray
        self._copy_kwargs = copy_kwargs
        # SPREAD: copies go to different nodes where they can, instead of packing the first one.
        self._actor_class = remote_copy_class.options(
            **request.ray_options(), max_concurrency=64, scheduling_strategy="SPREAD"
        )
        self.copies: list[Any] = []

    def ensure(self, n: int, config: RunConfig, timeout_s: float) -> None:
        """Spawn actors until there are ``n``, and wait (up to ``timeout_s``) until they loaded.

        Raises:
            ModelLoadError: a copy could not load its model (the model's own message).
            TimeoutError: the copies did not become ready in time.
        """
        new = [
            self._actor_class.remote(i, first_config=config, **self._copy_kwargs)
            for i in range(len(self.copies), n)
        ]
        self.copies.extend(new)
        if new:
            try:
                self._get([a.load.remote() for a in new], timeout_s)
            except Exception:
                self._kill(new)
                del self.copies[len(self.copies) - len(new):]
                raise

    def call(self, method: str, n: int, *args: Any, timeout_s: float) -> list[Any]:
        """Call ``method(*args)`` on the first ``n`` actors; return their results in order."""
        return self._get([getattr(a, method).remote(*args) for a in self.copies[:n]], timeout_s)

    def call_each(
        self, method: str, n: int, *args: Any, timeout_s: float, on_wait: Callable[[], None] | None = None
    ) -> list[Any]:
        """Like :meth:`call`, but a copy that dies or hangs does not lose the others' results.

        Waits until every copy answered or died, or ``timeout_s`` passed, calling ``on_wait()``
        every ``WAIT_TICK_S`` meanwhile.

        Returns:
            One entry per copy, in order: its result, or the error it ended with
            (``RunError`` for a death or a raise, ``TimeoutError`` for no answer in time).
        """
        ray = self._ray
        refs = [getattr(a, method).remote(*args) for a in self.copies[:n]]
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            ready, running = ray.wait(refs, num_returns=len(refs), timeout=max(0.0, min(left, WAIT_TICK_S)))
            if not running or left <= WAIT_TICK_S:
                break
            if on_wait is not None:
                on_wait()
        ready_ids = {ref.hex() for ref in ready}
        out: list[Any] = []
        for copy_id, ref in enumerate(refs):
            if ref.hex() not in ready_ids:
                out.append(TimeoutError(f"copy {copy_id} did not answer within {timeout_s:.1f} s"))
                continue
            try:
                out.append(self._get([ref], timeout_s)[0])
            except (RunError, ModelLoadError, TimeoutError) as exc:
                out.append(exc)
        return out

    def stop(self, n: int) -> None:
        """Ask the first ``n`` copies to stop measuring (fire and forget)."""
        for actor in self.copies[:n]:
            actor.stop.remote()

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
            except Exception:  # already dead: nothing to free
                pass

    def _get(self, refs: list[Any], timeout_s: float) -> list[Any]:
        ray = self._ray
        try:
            return list(ray.get(refs, timeout=timeout_s))
        except ray.exceptions.GetTimeoutError as exc:
            msg = f"copies did not answer within {timeout_s:.1f} s"
            raise TimeoutError(msg) from exc
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, ModelLoadError):
                raise ModelLoadError(str(cause)) from exc
            raise RunError(str(cause) if cause is not None else str(exc).splitlines()[0]) from exc
        except ray.exceptions.RayActorError as exc:
            msg = f"a model copy died: {_first_line(exc)}"
            raise RunError(msg) from exc


def _first_line(exc: BaseException) -> str:
    """Ray's first line, plus the underlying error when an actor died in its constructor."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    first = lines[0].split(", \x1b")[0].split(", ray::")[0]  # drop the colour codes and pid noise
    return f"{first}: {lines[-1]}" if len(lines) > 1 else first

