"""What the workers call the model with, and when: dataset items and open-loop send schedules.

A fixed input in a closed loop needs neither (the fast loops of ``_hotloop`` handle it). A
*dataset* hands each call the next item; a *schedule* says when each call is due (open-loop
load, as a real service receives requests whether or not the model has kept up). Both are
shared by the worker threads of one copy, behind a lock, so no item and no send slot is handed
out twice. The lock is held only to take an index: fetching the item happens outside it.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any, Literal

import numpy as np

from raybench.core.inputs import DatasetInput, is_map_style


class DatasetExhausted(Exception):
    """The dataset has no item left (``loop_dataset=False``)."""


class DatasetFeed:
    """One copy's pass (or endless passes) over its dataset, shared by its worker threads.

    Args:
        dataset: What the copy received.
        workers: ``workers_per_model`` (given to ``loader_fn``).
    """

    def __init__(self, dataset: DatasetInput, workers: int) -> None:
        self._lock = threading.Lock()
        self._loop = dataset.loop
        self._data = dataset.loader_fn(dataset.source, workers) if dataset.loader_fn else dataset.source
        self._map_style = dataset.loader_fn is None and is_map_style(self._data)
        self._length = len(self._data) if self._map_style else 0
        self._next_index = 0
        self._iterator: Any = None if self._map_style else iter(self._data)
        self.exhausted = False

    def first_item(self) -> Any:
        """The dataset's first item, without consuming it from the pass (for warmup)."""
        if self._map_style:
            if self._length == 0:
                raise DatasetExhausted("the dataset is empty")
            return self._data[0]
        for item in self._data:
            return item
        raise DatasetExhausted("the dataset is empty")

    def next_item(self) -> Any:
        """The next item; thread-safe, never the same item twice within a pass.

        Raises:
            DatasetExhausted: ``loop`` is False and every item was handed out.
        """
        if self._map_style:
            with self._lock:
                index = self._next_index
                if index >= self._length:
                    if not self._loop or self._length == 0:
                        self.exhausted = True
                        raise DatasetExhausted
                    index = 0
                self._next_index = index + 1
            return self._data[index]  # outside the lock: workers fetch in parallel
        with self._lock:  # an iterator is not thread-safe: the whole step is under the lock
            try:
                return next(self._iterator)
            except StopIteration:
                if not self._loop:
                    self.exhausted = True
                    raise DatasetExhausted from None
                self._iterator = iter(self._data)
                for item in self._iterator:
                    return item
                self.exhausted = True
                raise DatasetExhausted from None


class SendSchedule:
    """Open-loop send times of one copy, in its ``perf_counter_ns`` clock, up to ``end_ns``.

    Memory and time per send stay constant whatever the rate and however far the copy falls
    behind: a schedule that cannot be kept (``rate=1e8`` for a Python model) must still end its
    config on time. Constant sends are computed (send k is due at ``start + k / rate``). Poisson
    sends are made a chunk of :attr:`CHUNK` at a time: the time of every CHUNK-th send is drawn
    first (a Gamma(CHUNK) sum of exponential gaps, 8 bytes per chunk), and the sends between two
    such times, when the chunk is reached, as sorted uniform draws between them — exactly a
    Poisson process, since its arrivals between two given arrivals are uniform order statistics.
    Each chunk is seeded by (seed, chunk), so a rerun sends at the same offsets.

    Args:
        arrival: "constant" or "poisson".
        rate: Sends per second for this copy.
        start_ns: The first send (the common start).
        end_ns: No send is scheduled at or after this time.
        seed: Seeds the Poisson sends.
    """

    CHUNK = 65_536

    def __init__(self, arrival: str, rate: float, start_ns: int, end_ns: int, seed: int = 0) -> None:
        self._poisson = arrival == "poisson"
        self._gap_ns = 1e9 / rate
        self._start = start_ns
        self._end_ns = end_ns
        self._seed = seed
        self._boundaries = [float(start_ns)]  # the time of send j * CHUNK, for the chunks drawn so far
        self._boundary_rng = np.random.default_rng([seed, 0])
        self._chunk_index = -1  # the chunk whose times are in self._chunk
        self._chunk = np.empty(0, np.int64)
        self._next = 0  # the next send to hand out
        self._lock = threading.Lock()
        self.queue_depth_max = 0

    def _time(self, k: int) -> int:
        """When send ``k`` is due."""
        if not self._poisson:
            return self._start + int(k * self._gap_ns)
        j, offset = divmod(k, self.CHUNK)
        if j != self._chunk_index:
            self._chunk = self._chunk_times(j)
            self._chunk_index = j
        return int(self._chunk[offset])

    def _boundary(self, j: int) -> float:
        while len(self._boundaries) <= j:
            self._boundaries.append(self._boundaries[-1] + self._boundary_rng.gamma(self.CHUNK, self._gap_ns))
        return self._boundaries[j]

    def _chunk_times(self, j: int) -> np.ndarray:
        low, high = self._boundary(j), self._boundary(j + 1)
        inner = np.sort(np.random.default_rng([self._seed, j + 1]).uniform(low, high, self.CHUNK - 1))
        return np.concatenate([[low], inner]).astype(np.int64)

    def _due_by(self, t_ns: float, *, inclusive: bool) -> int:
        """Sends due at or before (``inclusive``) or strictly before ``t_ns``, and before the end.

        Exact for constant sends, and for Poisson sends up to the chunk being handed out; further
        ahead (a copy more than a chunk behind) the count within the chunk holding ``t_ns`` is
        interpolated between its two known ends (within about sqrt(CHUNK) of the exact count).
        """
        t = min(float(t_ns), self._end_ns - 0.5)  # nothing at or after the end counts
        if t < self._start:
            return 0
        if not self._poisson:
            k = (t - self._start) / self._gap_ns
            return int(k) + 1 if inclusive or k != int(k) else int(k)
        while self._boundaries[-1] <= t:  # draw the chunk ends up to t (8 bytes a chunk)
            self._boundary(len(self._boundaries))
        j = bisect.bisect_right(self._boundaries, t) - 1  # the chunk holding t
        if j == self._chunk_index:
            side: Literal["left", "right"] = "right" if inclusive else "left"
            return j * self.CHUNK + int(np.searchsorted(self._chunk, t, side=side))
        low, high = self._boundary(j), self._boundary(j + 1)
        return j * self.CHUNK + 1 + int((self.CHUNK - 1) * (t - low) / (high - low))

    def take(self, now_ns: int) -> int | None:
        """The next send time, or None when the schedule has ended; notes the queue depth.

        The queue depth at ``now_ns`` is how many sends were due by then and not yet taken
        (this one included): 1 means the copy keeps up.
        """
        with self._lock:
            due = self._time(self._next)
            if due >= self._end_ns:
                return None
            self._next += 1
            if due < now_ns:  # late: count the sends that are due as well
                depth = self._due_by(now_ns, inclusive=True) - self._next + 1
                if depth > self.queue_depth_max:
                    self.queue_depth_max = depth
            elif self.queue_depth_max == 0:
                self.queue_depth_max = 1
            return due

    def counts(self, until_ns: int) -> tuple[int, int]:
        """``(scheduled, taken)``: sends due before ``min(until_ns, end)`` and sends handed out."""
        with self._lock:
            return max(self._due_by(until_ns, inclusive=False), self._next), self._next
