"""A copy's workers: the next burst runs while the full buffer is encoded and shipped."""

from __future__ import annotations

import asyncio
import threading
import time

from raybench.core.schema import RunConfig
from raybench.engine.buffers import WorkerBuffers
from raybench.engine.hotloop import TimerBuffer
from raybench.engine.loops import Loop
from raybench.engine.threads import WorkerThreads
from raybench.engine.wire import BatchEncoder
from raybench.engine.worker import Workers


class CountingLoop(Loop):
    """Each burst is one fake call lasting until the burst's deadline (the next flush); the
    second burst sets ``second_burst`` as it starts."""

    def __init__(self) -> None:
        self.bursts = 0
        self.second_burst = threading.Event()

    def burst(self, buf: TimerBuffer, deadline: int) -> None:
        self.bursts += 1
        if self.bursts == 2:
            self.second_burst.set()
        time.sleep(max(0, deadline - time.perf_counter_ns()) / 1e9)
        buf.starts[buf.n] = buf.ends[buf.n] = time.perf_counter_ns()
        buf.n += 1


def test_the_next_burst_starts_before_the_full_buffer_is_shipped():
    loop = CountingLoop()
    seen_while_shipping: list[bool] = []

    def send(message):
        # The first shipment: the second burst must already be running in its worker thread,
        # so a slow encode or send never leaves the model idle.
        if not seen_while_shipping:
            seen_while_shipping.append(loop.second_burst.wait(timeout=10))
        return ""

    workers = Workers(WorkerBuffers(lambda rows: TimerBuffer(rows), 0), BatchEncoder((), 0), send)
    config = RunConfig(0, "m", "m", "cpu", 1, 0, 1, 1)

    async def measure():
        with WorkerThreads(1, "test") as threads:
            end = time.perf_counter_ns() + 1_500_000_000  # bursts end at each 0.5 s flush
            return await workers.measure(config, loop, end, {"run_id": "r", "config_id": "0", "copy_id": "0",
                                                             "node_id": "n"}, threads)

    asyncio.run(measure())
    assert seen_while_shipping == [True]
