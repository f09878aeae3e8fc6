"""Everything a report derives from the raw timer rows: counts, stage means, latency
percentiles and bucketed throughput — in O(n), chunk by chunk, on numpy views.

A config can hold tens of millions of timer rows, so nothing here sorts, loops over rows in
Python, or concatenates the table; the one array allocated is the ok rows' latencies, which is
then partitioned in place.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raybench.core.schema import STAGE_COLUMNS, ConfigOutcome
from raybench.core.slo import LATENCY_PERCENTILES, percentile_field
from raybench.core.units import NS_PER_MS, NS_PER_S
from raybench.report.stats import bucket_throughput, count_per_second, linear_percentiles

#: Percentiles reported for latency, CPU and memory.
#: The percentiles of the CPU and memory samples (latency has its own: ``LATENCY_PERCENTILES``).
PERCENTILES: tuple[int, ...] = (0, 50, 90, 95, 99, 100)

#: A send that went out more than this after its scheduled time counts in ``delayed_pct``.
LATE_NS = NS_PER_MS


def timer_fields(timers: pa.Table, outcome: ConfigOutcome, batch_size: int) -> dict[str, object]:
    """Everything derived from the timer rows: counts, stage means, latency and throughput."""
    n_rows = timers.num_rows
    fields: dict[str, object] = dict.fromkeys(
        ("queue_avg_ms", "input_avg_ms", "preprocess_avg_ms", "infer_avg_ms", "postprocess_avg_ms",
         "e2e_avg_ms", "worker_avg_s", "total_s", "throughput_avg", "throughput_peak", "delayed_pct"),
    )  # fmt: skip
    fields.update({percentile_field("latency_ms", q): None for q in LATENCY_PERCENTILES})
    fields.update(n_errors=0, total_infs=0)
    if n_rows == 0:
        return fields

    ok_column = timers.column("ok")
    n_errors = n_rows - int(pc.sum(ok_column).as_py() or 0)
    worker_avg_s, first_start, last_end = _worker_spans(timers)
    total_s = (last_end - first_start) / NS_PER_S
    fields.update(n_errors=n_errors, total_s=total_s, worker_avg_s=worker_avg_s)
    errors = pc.invert(ok_column) if n_errors else None
    for column in STAGE_COLUMNS:
        if column not in timers.column_names:  # the run had no such stage
            continue
        mean_ms = _stage_mean_ms(timers.column(column), errors)
        fields[column.replace("_ns", "_avg_ms")] = mean_ms
    if "queue_ns" in timers.column_names:  # open loop: the share of sends that went out late
        late = pc.sum(pc.greater(timers.column("queue_ns"), LATE_NS)).as_py() or 0
        fields["delayed_pct"] = 100.0 * late / n_rows

    # Chunk by chunk over zero-copy views: a table of many batches (one per worker flush) is
    # never concatenated; the one array allocated is the latencies of the ok rows.
    batches = timers.select(["start_ns", "end_ns", "ok"]).to_batches()
    total_infs = n_rows - n_errors
    fields["total_infs"] = total_infs
    if total_infs == 0:
        return fields
    latency = np.empty(total_infs, np.int64)
    ok_ends: list[np.ndarray] = []
    position = 0
    for batch in batches:
        start = batch.column(0).to_numpy()
        end = batch.column(1).to_numpy()
        if n_errors:
            ok_mask = batch.column(2).to_numpy(zero_copy_only=False)
            start, end = start[ok_mask], end[ok_mask]
        np.subtract(end, start, out=latency[position : position + end.size])
        position += end.size
        ok_ends.append(end)

    e2e_avg_ms = int(latency.sum()) / total_infs / NS_PER_MS
    fields["e2e_avg_ms"] = e2e_avg_ms
    if fields["infer_avg_ms"] is None:
        fields["infer_avg_ms"] = e2e_avg_ms
    percentiles_ns = linear_percentiles(latency, LATENCY_PERCENTILES)
    for q, value in zip(LATENCY_PERCENTILES, percentiles_ns):
        fields[percentile_field("latency_ms", q)] = value / NS_PER_MS
    del latency

    origin = outcome.start_ns if outcome.start_ns is not None else first_start
    measure_end = outcome.stop_ns if outcome.stop_ns is not None else last_end
    # Rows that ended before the common start (clock skew between nodes) count in the first
    # bucket. No ok row ends before first_start + the smallest latency (p0), so the clipping
    # pass is needed only when the origin lies beyond that.
    clip = origin > first_start + percentiles_ns[LATENCY_PERCENTILES.index(0)]
    counts = count_per_second(ok_ends, origin, clip=clip)
    fields.update(bucket_throughput(counts, origin, measure_end, total_infs, total_s, batch_size))
    return fields


def _worker_spans(timers: pa.Table) -> tuple[float, int, int]:
    """Mean worker wall time in seconds, and the first start and last end over all rows.

    A worker's wall time is its last end minus its first start. The global bounds fall out of
    the per-worker ones, which spares two scans of the columns. Tables from a run hold one
    batch per worker flush, so a batch whose ids are constant is reduced with two min/max
    scans; any other batch goes through a group-by.
    """
    spans: dict[tuple[int, int], tuple[int, int]] = {}

    def merge(key: tuple[int, int], first: int, last: int) -> None:
        known = spans.get(key)
        spans[key] = (first, last) if known is None else (min(known[0], first), max(known[1], last))

    columns = ["copy_id", "worker_id", "start_ns", "end_ns"]
    mixed: list[pa.RecordBatch] = []
    for batch in timers.select(columns).to_batches():
        if batch.num_rows == 0:
            continue
        copies, workers = pc.min_max(batch.column(0)).as_py(), pc.min_max(batch.column(1)).as_py()
        if copies["min"] == copies["max"] and workers["min"] == workers["max"]:
            merge((copies["min"], workers["min"]), pc.min(batch.column(2)).as_py(), pc.max(batch.column(3)).as_py())
        else:
            mixed.append(batch)
    if mixed:  # one group-by over every batch that mixes workers
        grouped = pa.Table.from_batches(mixed).group_by(columns[:2]).aggregate(
            [("start_ns", "min"), ("end_ns", "max")]
        )
        for row in grouped.to_pylist():
            merge((row["copy_id"], row["worker_id"]), row["start_ns_min"], row["end_ns_max"])
    first = np.array([f for f, _ in spans.values()], np.int64)
    last = np.array([la for _, la in spans.values()], np.int64)
    return float((last - first).mean()) / NS_PER_S, int(first.min()), int(last.max())


def _stage_mean_ms(column: pa.ChunkedArray, errors: pa.ChunkedArray | None) -> float | None:
    """Mean of a stage column over the ok rows that have it, in ms; None without data.

    Errors are usually rare, so the ok rows' sum is the whole column's minus the error rows':
    filtering out the few error rows costs far less than copying out all the ok ones. Integer
    sums keep the mean exact.
    """
    if column.null_count == len(column):
        return None  # the stage does not exist in this run; skip the scan
    total, count = pc.sum(column).as_py() or 0, pc.count(column).as_py()
    if errors is not None:
        failed = column.filter(errors)
        total -= pc.sum(failed).as_py() or 0
        count -= pc.count(failed).as_py()
    return total / count / NS_PER_MS if count else None


