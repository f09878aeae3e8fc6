"""Per-copy process and node-wide host telemetry: two pull-style sources for the sampler thread.

Each source has ``sample(now_ns) -> list[Sample]``, cheap enough to call every ``stats_interval``
from a thread that is not a worker thread. ``now_ns`` (wall clock, ``time.time_ns``) only stamps
the rows; rates are taken over an injected monotonic ``clock`` so that a wall-clock step (NTP)
cannot turn into a spike. The first call primes the deltas and returns only the level metrics.

Metrics and units:

====================================  =========================================================
``process`` / ``cpu_percent``         the process's user + system CPU time since the previous
                                      call over the wall time between them, in percent of one
                                      core (all threads summed: 250 = two and a half cores)
``process`` / ``rss_mb``              resident set size, MB (10**6 bytes, as raybench's other
                                      MB figures)
``process`` / ``threads``             number of threads
``process`` / ``ctx_switches_voluntary``    context switches per second since the previous call
``process`` / ``ctx_switches_involuntary``  likewise, the involuntary (preempted) ones
``process`` / ``niceness``            the nice value (Unix: -20..19)
``host`` / ``cpu_percent``            node-wide CPU busy percent, 0..100 over all cores
``host`` / ``mem_percent``            node-wide memory used percent
``host`` / ``load_1m``                1-minute load average (where ``os.getloadavg`` exists)
====================================  =========================================================

Context switches are per second rather than per interval so that series sampled at different
``stats_interval`` values compare directly.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import psutil

from raybench.core.units import NS_PER_S
from raybench.telemetry.sysmon import SystemSampler
from raybench.telemetry import Sample

__all__ = ["BYTES_PER_MB", "HostSampler", "ProcessSampler"]

logger = logging.getLogger(__name__)

#: Decimal megabytes, as raybench's other MB figures (buffers, output caps).
BYTES_PER_MB = 1_000_000

_PROCESS, _HOST = "process", "host"

#: The shortest span a rate is taken over: a clock tick of CPU time (10 ms) is then at most a
#: quarter of a core's worth, not a spike of thousands of percent.
MIN_RATE_SPAN_NS = 40_000_000


class ProcessSampler:
    """Samples one process (a model copy's actor) through ``psutil.Process``.

    The CPU share comes from this sampler's own previous ``cpu_times`` reading, not from
    ``psutil.Process.cpu_percent``, whose "previous call" lives on the Process object and would be
    shared with anyone else holding it. Children's CPU time is not included: psutil counts it only
    for children the process has already waited for.

    A process that has exited (or become a zombie, or whose pid was reused) yields ``[]`` and no
    error, so the sampler thread outlives the copies it watches. So does a process psutil may not
    read (AccessDenied: another user's process).

    Args:
        pid: The process to sample.
        copy_id: The copy the rows belong to.
        clock: Monotonic nanoseconds for the rates' time base (``time.monotonic_ns``).
    """

    def __init__(self, pid: int, copy_id: int, clock: Callable[[], int] = time.monotonic_ns) -> None:
        """Attach to ``pid``; nothing is read until the first ``sample``."""
        self.pid = pid
        self.copy_id = copy_id
        self._clock = clock
        try:
            # psutil.Process records the creation time, so a reused pid is told apart later.
            self._process: psutil.Process | None = psutil.Process(pid)
        except psutil.NoSuchProcess:
            self._process = None
        # (clock_ns, cpu seconds, voluntary switches, involuntary switches) at the previous call.
        self._previous: tuple[int, float, int, int] | None = None

    def sample(self, now_ns: int) -> list[Sample]:
        """Read the process's figures; rates cover the span since this sampler's previous call.

        Args:
            now_ns: Wall-clock time (``time.time_ns``) stamped on every row.

        Returns:
            ``rss_mb``, ``threads`` and ``niceness`` on every call, plus ``cpu_percent`` and the two
            ``ctx_switches_*`` rates from the second call on; ``[]`` once the process is gone.
        """
        process = self._process
        if process is None:
            return []
        try:
            with process.oneshot():  # one read of /proc/<pid>/stat and status for all the figures
                if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                    return self._gone()
                clock_ns = self._clock()
                times = process.cpu_times()
                rss = process.memory_info().rss
                threads = process.num_threads()
                switches = process.num_ctx_switches()
                nice = process.nice()
        except (psutil.NoSuchProcess, psutil.AccessDenied) as error:
            logger.debug("process %d (copy %d) is no longer sampled: %s", self.pid, self.copy_id, error)
            return self._gone()
        current = (clock_ns, times.user + times.system, switches.voluntary, switches.involuntary)
        values = {"rss_mb": rss / BYTES_PER_MB, "threads": float(threads), "niceness": float(nice)}
        values.update(self._rates(current))
        return [Sample(now_ns, self.copy_id, _PROCESS, metric, value) for metric, value in values.items()]

    def _rates(self, current: tuple[int, float, int, int]) -> dict[str, float]:
        """The rates since the previous reading, and keep ``current`` as the next one's start.

        Calls closer together than ``MIN_RATE_SPAN_NS`` give no rates and keep the previous
        reading, so the next call covers the whole span: CPU time counts in clock ticks (10 ms),
        and one tick over the 0.4 ms left before a config's last sample read as 2500 % of a core.
        """
        previous = self._previous
        if previous is not None and current[0] - previous[0] < MIN_RATE_SPAN_NS:
            return {}
        self._previous = current
        if previous is None:
            return {}
        elapsed_s = (current[0] - previous[0]) / NS_PER_S
        return {
            # Clamped at 0: CPU-time counters are monotonic, but the rounding to clock ticks is not.
            "cpu_percent": max(current[1] - previous[1], 0.0) / elapsed_s * 100.0,
            "ctx_switches_voluntary": (current[2] - previous[2]) / elapsed_s,
            "ctx_switches_involuntary": (current[3] - previous[3]) / elapsed_s,
        }

    def _gone(self) -> list[Sample]:
        """Forget the process: every later call returns ``[]`` without touching psutil."""
        self._process = None
        return []


class HostSampler:
    """Samples node-wide CPU, memory and load: source ``host``, ``copy_id`` None.

    The CPU share reuses :class:`raybench.telemetry.sysmon.SystemSampler`, which keeps its own previous
    ``cpu_times`` (not psutil's module state), so this sampler and a copy's own system sampler
    never shorten each other's interval. Its first call only primes the CPU delta, so the first
    rows are ``load_1m`` alone; ``cpu_percent`` and ``mem_percent`` follow from the second call.

    Args:
        system: The CPU and memory sampler (a fresh ``SystemSampler`` by default).
        loadavg: Returns the 1, 5 and 15-minute load averages (``os.getloadavg``); None where the
            platform has none (Windows), and then no ``load_1m`` rows.
    """

    def __init__(
        self,
        system: SystemSampler | None = None,
        loadavg: Callable[[], tuple[float, float, float]] | None = getattr(os, "getloadavg", None),
    ) -> None:
        """Store the sources; nothing is read until the first ``sample``."""
        self._system = system if system is not None else SystemSampler()
        self._loadavg = loadavg

    def sample(self, now_ns: int) -> list[Sample]:
        """Read the host's figures; the CPU share covers the span since this sampler's previous call.

        Args:
            now_ns: Wall-clock time (``time.time_ns``) stamped on every row.

        Returns:
            ``cpu_percent`` and ``mem_percent`` (from the second call on) and ``load_1m``.
        """
        values: dict[str, float] = {}
        cpu_and_memory = self._system.sample()
        if cpu_and_memory is not None:
            values["cpu_percent"], values["mem_percent"] = cpu_and_memory
        if self._loadavg is not None:
            try:
                values["load_1m"] = float(self._loadavg()[0])
            except OSError:  # os.getloadavg: "if the load average was unobtainable"
                pass
        return [Sample(now_ns, None, _HOST, metric, value) for metric, value in values.items()]
