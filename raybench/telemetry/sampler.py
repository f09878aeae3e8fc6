"""The sampler thread a copy runs while it measures: every source read every ``stats_interval``,
in a thread of its own (never a worker thread, never the copy's event loop), so the hot loop
only ever shares the GIL with it for the few microseconds a reading takes."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from raybench.telemetry import Sample, gpu
from raybench.telemetry.process import HostSampler, ProcessSampler

logger = logging.getLogger("raybench")


class Source(Protocol):
    """What the thread reads: ``sample(now_ns)`` returns the readings taken at ``now_ns``."""

    def sample(self, now_ns: int) -> list[Sample]: ...


class TelemetryThread:
    """Read ``sources`` every ``interval_s`` from :meth:`start` to :meth:`stop`.

    The first reading at start only primes the sources' deltas (a rate needs two readings); a
    source that raises is dropped with one warning, the others go on.
    """

    def __init__(self, interval_s: float, sources: Sequence[Source], name: str = "raybench-telemetry") -> None:
        self._interval_s = interval_s
        self._sources = list(sources)
        self._samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> TelemetryThread:
        """Prime every source, then sample in the background; returns self."""
        self._read()
        self._samples.clear()  # the priming readings fall before the measurement
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        """Take a last reading, stop the thread and return every sample taken since start."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for source in self._sources:
            close = getattr(source, "close", None)  # NVML's handle
            if close is not None:
                close()
        return self._samples

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._read()
        self._read()  # the stretch since the last tick is part of the measurement too

    def _read(self) -> None:
        now_ns = time.time_ns()
        for source in list(self._sources):
            try:
                self._samples.extend(source.sample(now_ns))
            except Exception:  # a broken source must not cost the run or the other series
                logger.warning("telemetry: %s failed and is left out of this config", type(source).__name__,
                               exc_info=True)
                self._sources.remove(source)


def copy_sources(copy_id: int) -> list[Source]:
    """What a copy samples: its node (host), its own process, and the GPUs it sees where NVML is
    present (``CUDA_VISIBLE_DEVICES``, which Ray sets for a GPU copy)."""
    sources: list[Source] = [HostSampler(), ProcessSampler(os.getpid(), copy_id)]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible and gpu.available():
        devices = gpu.visible_gpu_indices(visible)
        if devices:
            sources.append(gpu.GpuSampler({index: copy_id for index in devices}))
    return sources


def mean(samples: Sequence[Sample], source: str, metric: str) -> float | None:
    """The mean of one series' values, or None when it has none."""
    values = [s.value for s in samples if s.source == source and s.metric == metric]
    return sum(values) / len(values) if values else None


def peak(samples: Sequence[Sample], source: str, metric: str) -> float | None:
    """The largest value of one series, or None when it has none."""
    values = [s.value for s in samples if s.source == source and s.metric == metric]
    return max(values) if values else None
