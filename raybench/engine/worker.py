"""A copy's worker coroutines: warm up, then measure in bursts and ship full buffers.

The hot loop is not per-call asyncio. Each worker coroutine hands its thread a *burst* (call the
model until a deadline or a full buffer), and while the next burst runs on the worker's other
buffer, ships the full one to the collector as one Arrow IPC message. The collector's answer to
a batch may stop the copy: the run's timer budget is used up, or an adaptive config has measured
enough.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

import numpy as np

from raybench.core.options import FLUSH_INTERVAL_NS
from raybench.core.schema import RunConfig
from raybench.core.units import NS_PER_S
from raybench.engine.buffers import WorkerBuffers
from raybench.engine.hotloop import TimerBuffer
from raybench.engine.loops import Loop
from raybench.engine.threads import WorkerThreads
from raybench.engine.wire import STOP_BUDGET, BatchEncoder

#: A copy whose every call raised for this long stops measuring (the config then errors with the
#: model's message) instead of recording failures until ``duration`` ends.
FAILING_MODEL_NS = NS_PER_S

BUDGET_MESSAGE = (
    "stopped early: the run holds max_timer_rows raw timers, its memory budget; "
    "later rows were not recorded"
)

#: What one worker measured: ``(calls, calls that raised, first error, ran out of work)``.
WorkerResult = tuple[int, int, "str | None", bool]


async def _answer(reply: Any) -> Any:
    """The collector's answer to ``add``: awaited from a Ray actor, as is in-process."""
    return await reply if hasattr(reply, "__await__") else reply


def start_burst(loop: Loop, buf: TimerBuffer, deadline: int, threads: WorkerThreads) -> asyncio.Future[Any]:
    """Start one burst now and return its future (an ``async`` model's burst runs on the copy's
    event loop; any other's in a worker thread). A synchronous model's burst is handed to its
    worker thread at once, before the caller goes on to encode and ship the previous buffer
    (``ensure_future`` of a coroutine would only hand it over at the caller's next ``await``,
    leaving the model idle for the whole encode and send: ~2 ms every flush, measured)."""
    if loop.is_async:
        return asyncio.ensure_future(loop.burst(buf, deadline))
    return asyncio.get_running_loop().run_in_executor(threads, loop.burst, buf, deadline)


class Workers:
    """The workers of one copy and the shipping of their rows.

    Args:
        buffers: The workers' buffers (kept from config to config).
        encoder: Encodes a buffer as the wire message.
        send: Sends one message to the collector; returns its answer (or a Ray ref to it).
    """

    def __init__(self, buffers: WorkerBuffers, encoder: BatchEncoder, send: Callable[[np.ndarray], Any]) -> None:
        self.buffers = buffers
        self._encoder = encoder
        self._send = send
        self.stopping = False  # set by stop(), a broken model, or the collector's answer

    async def warm_up(self, config: RunConfig, loop: Loop, threads: WorkerThreads,
                      done: int = 0) -> list[tuple[int, int, str | None, int]]:
        """Every worker's warmup: ``(inferences, summed ns, first error, chunks streamed)`` each;
        worker 0 runs ``done`` fewer by count (calls the copy already made: its probe call)."""
        return list(await asyncio.gather(*(self._warm(w, config, loop, threads, done if w == 0 else 0)
                                           for w in range(config.workers_per_model))))

    async def _warm(self, worker_id: int, config: RunConfig, loop: Loop,
                    threads: WorkerThreads, done: int = 0) -> tuple[int, int, str | None, int]:
        """One worker's warmup on its spare buffer, by count or by time."""
        buf = self.buffers.of(worker_id)[1]
        full = buf.capacity
        remaining, by_time = config.measure.warmup - done, config.measure.warmup_s
        until = perf_counter_ns() + int((by_time or 0) * 1e9)
        n = total_ns = chunks = 0
        try:
            while remaining > 0 if by_time is None else perf_counter_ns() < until:
                if by_time is None:
                    buf.capacity = min(remaining, full)
                    deadline = 1 << 62  # stop at the count
                else:
                    deadline = min(until, perf_counter_ns() + FLUSH_INTERVAL_NS)
                await start_burst(loop, buf, deadline, threads)
                n += buf.n
                total_ns += int((buf.ends[: buf.n] - buf.starts[: buf.n]).sum())
                remaining -= buf.n
                chunks += buf.n_chunks
                if buf.n_errors:
                    return n, total_ns, buf.first_error, chunks
                if buf.n == 0 or buf.ended:
                    break
                buf.clear()
        finally:
            buf.capacity = full
            buf.clear()
        return n, total_ns, None, chunks

    async def measure(self, config: RunConfig, loop: Loop, end_pc: int, ids: dict[str, str],
                      threads: WorkerThreads) -> list[WorkerResult]:
        """Every worker measures until ``end_pc``; returns once the collector has every batch."""
        self.stopping = False
        pending: list[Any] = []
        results = await asyncio.gather(*(self._measure(w, config.workers_per_model, loop, end_pc, ids, threads,
                                                       pending) for w in range(config.workers_per_model)))
        await asyncio.gather(*(_answer(ack) for ack in pending))
        return list(results)

    async def _measure(self, worker_id: int, workers: int, loop: Loop, end_pc: int, ids: dict[str, str],
                       threads: WorkerThreads, pending: list[Any]) -> WorkerResult:
        """One worker: bursts until ``end_pc``, shipping a buffer when it is due or full.

        Two buffers per worker: when one is due for shipping, the next burst starts on the
        other first, so encoding and sending happen while the model keeps being measured.
        """
        filling, spare = self.buffers.of(worker_id)
        ids = {**ids, "worker_id": str(worker_id)}
        n_total = n_errors = 0
        first_error: str | None = None
        ran_out = False
        started = perf_counter_ns()
        next_flush = started + FLUSH_INTERVAL_NS
        running = start_burst(loop, filling, min(end_pc, next_flush), threads)
        while True:
            await running
            now = perf_counter_ns()
            if n_errors + filling.n_errors == n_total + filling.n > 0 and now - started >= FAILING_MODEL_NS:
                self.stopping = True  # every call so far raised: a broken model, not a flaky one
            ran_out = ran_out or filling.ended  # the dataset or the send schedule is used up
            done = now >= end_pc or self.stopping or ran_out
            if not (done or now >= next_flush or filling.n == filling.capacity):
                running = start_burst(loop, filling, min(end_pc, next_flush), threads)
                continue
            filled_early = filling.n == filling.capacity and now < next_flush and not done
            full, filling, spare = filling, spare, filling
            next_flush = now + FLUSH_INTERVAL_NS
            if not done:
                running = start_burst(loop, filling, min(end_pc, next_flush), threads)
            n_total += full.n
            n_errors += full.n_errors
            first_error = first_error or full.first_error
            if full.n and await self._ship(full, ids, pending) == STOP_BUDGET:
                first_error = BUDGET_MESSAGE
            full.clear()
            if filled_early:  # the pace outgrew the buffer: give it room (between bursts)
                self.buffers.grow(full, workers)
            if done:
                return n_total, n_errors, first_error, ran_out

    async def _ship(self, buf: TimerBuffer, ids: dict[str, str], pending: list[Any]) -> Any:
        """Send ``buf``'s rows; return the collector's answer to the *previous* batch (long since
        back, so this never waits), stopping the copy when it says so."""
        ack = self._send(self._encoder.encode(buf, ids))
        verdict = await _answer(pending[-1]) if pending else ""
        pending.append(ack)
        if verdict:
            self.stopping = True
        return verdict
