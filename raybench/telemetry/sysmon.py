"""System CPU and memory sampling, with state private to each sampler.

``psutil.cpu_percent(interval=None)`` keeps the "previous call" in module state shared by every
caller in the process, so two model copies in one process (``multiprocess=False``, or several
actors sharing a worker) would each see the interval since the *other* one's call. A
``SystemSampler`` keeps its own previous ``cpu_times`` instead, so every sampler measures exactly
the span since its own previous call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psutil

__all__ = ["SystemSampler"]

# On Linux the guest times are already counted inside user and nice; adding them again would
# inflate the total (psutil.cpu_percent subtracts them for the same reason).
_DOUBLE_COUNTED_FIELDS = ("guest", "guest_nice")
# Time the CPUs spent doing nothing for anyone; iowait exists on Linux only.
_IDLE_FIELDS = ("idle", "iowait")


def _total_and_busy(cpu_times: Any) -> tuple[float, float]:
    """Split a ``psutil.cpu_times()`` result into (total, busy) seconds."""
    fields: dict[str, float] = cpu_times._asdict()
    total = sum(fields.values()) - sum(fields.get(name, 0.0) for name in _DOUBLE_COUNTED_FIELDS)
    busy = total - sum(fields.get(name, 0.0) for name in _IDLE_FIELDS)
    return total, busy


class SystemSampler:
    """Samples system-wide CPU busy percent and memory used percent.

    Args:
        cpu_times: Returns system-wide CPU times as a namedtuple (``psutil.cpu_times``);
            injectable so tests can feed exact values.
        virtual_memory: Returns an object with a ``percent`` field
            (``psutil.virtual_memory``); injectable likewise.
    """

    def __init__(
        self,
        cpu_times: Callable[[], Any] = psutil.cpu_times,
        virtual_memory: Callable[[], Any] = psutil.virtual_memory,
    ) -> None:
        """Store the sources; no reading happens until the first ``sample``."""
        self._cpu_times = cpu_times
        self._virtual_memory = virtual_memory
        self._previous: tuple[float, float] | None = None

    def sample(self) -> tuple[float, float] | None:
        """Read CPU and memory use since this sampler's previous call.

        The first call only primes the sampler. When no CPU time has passed since the previous
        reading (calls closer together than the clock tick), the CPU share is reported as 0.0 and
        the previous reading is kept, so the next call covers the whole span.

        Returns:
            ``(cpu_busy_percent, memory_used_percent)``, both in [0, 100]; None on the first call.
        """
        total, busy = _total_and_busy(self._cpu_times())
        memory_percent = float(self._virtual_memory().percent)
        previous = self._previous
        if previous is None:
            self._previous = (total, busy)
            return None
        total_delta = total - previous[0]
        if total_delta <= 0:
            return 0.0, memory_percent
        self._previous = (total, busy)
        busy_percent = (busy - previous[1]) / total_delta * 100.0
        # Counters can step backwards slightly (CPU hot-unplug, VM steal accounting); clamp like
        # psutil does rather than report an impossible share.
        return min(max(busy_percent, 0.0), 100.0), memory_percent
