"""How big a copy's timer buffers are: sized from the expected rate, grown when they fill early,
and bounded by a memory budget per copy that is checked before anything is allocated.

Each worker has two buffers (one filling while the other ships). A buffer needs to hold one
flush interval of calls: a 10 ms model needs 50 rows, a no-op model in a tight loop ~1.5 M. So
buffers start small (:data:`MIN_BUFFER_ROWS`), are sized after warmup from the warmup's pace,
and double (up to :data:`MAX_BUFFER_ROWS`) whenever one fills before its flush is due; growing
happens between bursts, never inside the measured loop. The copy's buffers together (two per
worker, plus the encoder's output buffer) never exceed :data:`COPY_BUFFER_BUDGET_BYTES`: a
config whose workers could not even get their smallest buffers within it is refused before any
copy starts.
"""

from __future__ import annotations

from collections.abc import Callable

from raybench.core.errors import ConfigError
from raybench.core.options import FLUSH_INTERVAL_NS
from raybench.engine.hotloop import TimerBuffer

#: Rows a buffer starts with (and never goes below): 4096 rows of a plain loop are 68 KB.
MIN_BUFFER_ROWS = 4096
#: Rows a buffer may grow to: 2^20 rows of a plain loop are 17 MB.
MAX_BUFFER_ROWS = 1 << 20
#: Timer buffer memory one copy may hold: two buffers per worker plus the encoder's.
COPY_BUFFER_BUDGET_BYTES = 1 << 30
#: Headroom over the pace measured in warmup, so a buffer is not full just before its flush.
_HEADROOM = 1.25


def row_bytes(stage_columns: int) -> int:
    """Bytes of one buffered row: start and end stamps, the ok flag, the stage columns."""
    return 8 + 8 + 1 + 8 * stage_columns


def most_rows(workers: int, stage_columns: int) -> int:
    """The largest buffer each worker of a copy may have within the budget."""
    return min(MAX_BUFFER_ROWS, COPY_BUFFER_BUDGET_BYTES // ((2 * workers + 1) * row_bytes(stage_columns)))


def check_budget(workers: int, stage_columns: int) -> None:
    """Refuse ``workers`` per copy when even their smallest buffers exceed the budget.

    Raises:
        ConfigError: names workers_per_model, the memory needed and the most workers that fit.
    """
    if most_rows(workers, stage_columns) >= MIN_BUFFER_ROWS:
        return
    per_worker = 2 * MIN_BUFFER_ROWS * row_bytes(stage_columns)
    most_workers = (COPY_BUFFER_BUDGET_BYTES // (MIN_BUFFER_ROWS * row_bytes(stage_columns)) - 1) // 2
    msg = (f"workers_per_model must be at most {most_workers:,} here: each worker holds at least "
           f"{per_worker / 1e6:.2f} MB of timer buffers and a copy may hold {COPY_BUFFER_BUDGET_BYTES >> 20} MB "
           f"(got {workers:,})")
    raise ConfigError(msg)


def planned_rows(mean_call_ns: float | None, workers: int, stage_columns: int) -> int:
    """Rows for one flush interval of calls at ``mean_call_ns`` each (the warmup's pace), with
    headroom, within ``[MIN_BUFFER_ROWS, most_rows]``; the minimum when the pace is unknown."""
    most = max(most_rows(workers, stage_columns), MIN_BUFFER_ROWS)
    if not mean_call_ns or mean_call_ns <= 0:
        return MIN_BUFFER_ROWS
    wanted = int(FLUSH_INTERVAL_NS / mean_call_ns * _HEADROOM) + 1
    return max(MIN_BUFFER_ROWS, min(wanted, most))


def grown_rows(current: int, workers: int, stage_columns: int) -> int:
    """The next size of a buffer that filled before its flush: twice as many rows, within budget."""
    return max(current, min(2 * current, most_rows(workers, stage_columns)))


class WorkerBuffers:
    """The two buffers of each worker of one copy, kept from config to config.

    Args:
        new_buffer: Builds an empty buffer of a number of rows (with the copy's columns).
        stage_columns: How many stage columns each buffer has (for the budget).
    """

    def __init__(self, new_buffer: Callable[[int], TimerBuffer], stage_columns: int) -> None:
        self._new_buffer = new_buffer
        self._stage_columns = stage_columns
        self._pairs: list[tuple[TimerBuffer, TimerBuffer]] = []

    def of(self, worker_id: int) -> tuple[TimerBuffer, TimerBuffer]:
        """Worker ``worker_id``'s (filling, spare) buffers, made at the smallest size if new."""
        while len(self._pairs) <= worker_id:
            self._pairs.append((self._new_buffer(MIN_BUFFER_ROWS), self._new_buffer(MIN_BUFFER_ROWS)))
        return self._pairs[worker_id]

    def fit(self, workers: int, mean_call_ns: float | None, chunks_per_call: float | None = None) -> int:
        """Give each of ``workers`` workers buffers for one flush interval at ``mean_call_ns`` a
        call: grown to that, shrunk only to stay in the budget (which the driver checked, with
        :func:`check_budget`, before any copy started). A streaming model's buffers get room for
        ``chunks_per_call`` chunks a call, with headroom (more is added if a stream runs longer).
        Returns the planned rows.
        """
        planned = planned_rows(mean_call_ns, workers, self._stage_columns)
        most = most_rows(workers, self._stage_columns)
        for worker_id in range(workers):
            for buf in self.of(worker_id):
                target = planned if buf.rows < planned else min(buf.rows, most)
                if target != buf.rows:
                    buf.resize(target)
                if chunks_per_call and buf.chunk_ns is not None:
                    wanted = int(target * chunks_per_call * _HEADROOM) + 1
                    if buf.chunk_ns.size < wanted:
                        buf.resize_chunks(wanted)
        return planned

    def grow(self, buf: TimerBuffer, workers: int) -> None:
        """Give a buffer that filled before its flush more room (call it between bursts)."""
        buf.resize(grown_rows(buf.rows, workers, self._stage_columns))
