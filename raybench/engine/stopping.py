"""When an adaptive config has measured enough: ``min_infs`` and ``stability``.

The collector feeds every timer batch of such a config to a :class:`StopWatch` as it arrives and
asks it whether the config is done. Decisions use the data's own (wall-clock) time, not the
collector's clock: the data is complete up to the oldest "latest end" over the workers that have
reported, since each worker ships its rows in order.

- ``min_infs``: done at the first 10 ms slot boundary T >= start + duration by which the ok
  inferences that ended reached ``min_infs``.
- ``stability`` (as perf_analyzer does): the run is cut into windows of ``window_ns`` from the
  start; done at the end of the first window whose last three windows each lie within
  ``stability`` (a fraction) of their mean, on throughput and on p50 latency — and, when given,
  once ``min_infs`` is reached too. Rows that end after T are not part of the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_SLOT_NS = 10_000_000
#: Windows that must agree for a config to count as stable.
STABLE_WINDOWS = 3


@dataclass
class _Window:
    count: int = 0
    latencies: list[np.ndarray] = field(default_factory=list)


class StopWatch:
    """Decides when one adaptive config stops (see the module docstring).

    Args:
        start_ns: The config's common start (wall clock).
        duration_ns: The minimum measurement when only ``min_infs`` is given.
        min_infs: Ok inferences to reach, or None.
        stability: Allowed spread of the last three windows (0.1 = 10 %), or None.
        window_ns: Length of one stability window.
    """

    def __init__(
        self, start_ns: int, duration_ns: int, min_infs: int | None, stability: float | None, window_ns: int
    ) -> None:
        self._start_ns = start_ns
        self._duration_ns = duration_ns
        self._min_infs = min_infs
        self._stability = stability
        self._window_ns = window_ns
        self._slots = np.zeros(0, np.int64)  # ok rows by 10 ms slot of their end
        self._latest: dict[tuple[int, int], int] = {}  # per (copy, worker): latest end seen
        self._windows: dict[int, _Window] = {}
        self._checked_windows = 0  # windows already judged
        self._throughputs: list[float] = []
        self._p50s: list[float] = []
        self.stop_ns: int | None = None
        self.converged = False

    def observe(self, copy_id: int, worker_id: int, start: np.ndarray, end: np.ndarray, ok: np.ndarray) -> bool:
        """Take one worker batch (wall-clock ``start``/``end`` in order of ``end``); True when the
        config is done (``stop_ns`` is then set)."""
        if end.size:
            key = (copy_id, worker_id)
            self._latest[key] = max(self._latest.get(key, 0), int(end[-1]))
            ok_end = end[ok] if not ok.all() else end
            slot = np.maximum((ok_end - self._start_ns) // _SLOT_NS, 0)
            counts = np.bincount(slot)
            if counts.size > self._slots.size:
                counts[: self._slots.size] += self._slots
                self._slots = counts
            else:
                self._slots[: counts.size] += counts
            if self._stability is not None:
                self._add_to_windows(start, end, ok)
        if self.stop_ns is None:
            self.stop_ns = self._decide()
        return self.stop_ns is not None

    def _add_to_windows(self, start: np.ndarray, end: np.ndarray, ok: np.ndarray) -> None:
        latency = end - start
        if not ok.all():
            latency, end = latency[ok], end[ok]
        index = np.maximum((end - self._start_ns) // self._window_ns, 0)
        # A worker's ends are in order, so its rows of one window are one slice.
        bounds = np.flatnonzero(np.diff(index)) + 1
        for piece_start, piece_end in zip(np.r_[0, bounds], np.r_[bounds, index.size]):
            window = self._windows.setdefault(int(index[piece_start]), _Window())
            window.count += int(piece_end - piece_start)
            window.latencies.append(latency[piece_start:piece_end])

    def _complete_until(self) -> int:
        return min(self._latest.values()) if self._latest else self._start_ns

    def _ok_before(self, t_ns: int) -> int:
        return int(self._slots[: (t_ns - self._start_ns) // _SLOT_NS].sum())

    def _decide(self) -> int | None:
        complete = self._complete_until()
        if self._stability is None:
            # min_infs alone: the first slot boundary past duration with enough inferences.
            first = -(-self._duration_ns // _SLOT_NS)  # the first slot boundary at or past duration
            last = (complete - self._start_ns) // _SLOT_NS  # the last boundary the data is complete to
            if last < first:
                return None
            cumulative = np.cumsum(self._slots)  # cumulative[b - 1]: ok rows that ended before boundary b
            if cumulative.size < last:  # no rows in the last slots: the count stays where it was
                cumulative = np.pad(cumulative, (0, last - cumulative.size), mode="edge") if cumulative.size \
                    else np.zeros(last, np.int64)
            reached = np.flatnonzero(cumulative[first - 1 : last] >= (self._min_infs or 0))
            if reached.size == 0:
                return None
            return self._start_ns + (first + int(reached[0])) * _SLOT_NS
        n_complete = (complete - self._start_ns) // self._window_ns
        while self._checked_windows < n_complete:
            k = self._checked_windows
            window = self._windows.pop(k, _Window())
            self._throughputs.append(window.count / (self._window_ns / 1e9))
            self._p50s.append(float(np.median(np.concatenate(window.latencies))) if window.count else float("nan"))
            self._checked_windows += 1
            end_ns = self._start_ns + (k + 1) * self._window_ns
            if self._stable() and (self._min_infs is None or self._ok_before(end_ns) >= self._min_infs):
                self.converged = True
                return end_ns
        return None

    def _stable(self) -> bool:
        if len(self._throughputs) < STABLE_WINDOWS:
            return False
        for series in (self._throughputs[-STABLE_WINDOWS:], self._p50s[-STABLE_WINDOWS:]):
            values = np.asarray(series)
            mean = values.mean()
            if not np.isfinite(mean) or mean <= 0 or np.abs(values - mean).max() > self._stability * mean:
                return False
        return True

    def windows(self) -> list[tuple[float, float]]:
        """The judged windows so far: (ok inferences per second, p50 latency in ns)."""
        return list(zip(self._throughputs, self._p50s))
