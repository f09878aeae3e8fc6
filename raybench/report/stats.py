"""Statistics over raw samples: exact percentiles and bucketed throughput.

Pure numpy, no raybench types: the definitions the README states, in one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from raybench.core.units import NS_PER_S


def bucket_throughput(
    counts: np.ndarray,
    origin: int,
    measure_end: int,
    total_infs: int,
    total_s: float,
    batch_size: int,
) -> dict[str, float | None]:
    """Average and peak inferences per second from the per-second counts of ok rows."""
    average: float | None
    if counts.size >= 3:
        # The first and last buckets are partial (ramp-up, stop), so they are left out of the
        # average, as NeuronPerf does.
        average = float(counts[1:-1].mean()) * batch_size
    else:
        average = total_infs * batch_size / total_s if total_s > 0 else None
    n_complete = min(max((measure_end - origin) // NS_PER_S, 0), counts.size)
    if n_complete == 0:
        return {"throughput_avg": average, "throughput_peak": average}
    peak = float(counts[:n_complete].max()) * batch_size
    if average is not None:
        peak = max(peak, average)
    return {"throughput_avg": average, "throughput_peak": peak}


def count_per_second(stamps: list[np.ndarray], origin: int, *, clip: bool = True,
                     weights: list[np.ndarray] | None = None) -> np.ndarray:
    """How many stamps (or how much weight) fall in each one-second bucket from ``origin``.

    The buckets of :func:`bucket_throughput`: bucket ``k`` holds ``[origin + k s, origin + (k+1) s)``;
    stamps before ``origin`` count in the first one (with ``clip``; without it the caller knows
    there are none). Chunk by chunk: the stamps are never concatenated.
    """
    counts = np.zeros(0, np.int64)
    for i, stamp in enumerate(stamps):
        if stamp.size == 0:
            continue
        bucket = np.subtract(stamp, origin)
        bucket //= NS_PER_S
        if clip:
            np.maximum(bucket, 0, out=bucket)
        chunk_counts = np.bincount(bucket, weights=None if weights is None else weights[i])
        chunk_counts = chunk_counts.astype(np.int64, copy=False)
        if chunk_counts.size > counts.size:
            chunk_counts[: counts.size] += counts
            counts = chunk_counts
        else:
            counts[: chunk_counts.size] += chunk_counts
    return counts


def linear_percentiles(values: np.ndarray, percents: Sequence[float]) -> list[float]:
    """Percentiles by linear interpolation, equal to ``np.percentile(values, percents)``.

    numpy's multi-``kth`` partition re-scans most of the array for every rank it needs (150 ms
    for the 10 ranks of six percentiles of 10M values, against 15 ms for one). Here the ranks
    are selected left to right, each partition only over the not-yet-placed suffix, so the cost
    is about one full partition plus ever smaller ones.

    Args:
        values: A non-empty, writable 1-d array; it is reordered in place.
        percents: Percentiles in [0, 100].

    Returns:
        One float per percentile, computed with numpy's interpolation formula.
    """
    n = values.size
    positions = []
    for percent in percents:
        virtual = (n - 1) * (percent / 100)
        below = min(math.floor(virtual), n - 1)
        positions.append((below, min(below + 1, n - 1), virtual - below))
    order_stats: dict[int, float] = {}
    placed = 0  # invariant: every value in values[:placed] is <= every value after it
    for rank in sorted({rank for below, above, _ in positions for rank in (below, above)}):
        suffix = values[placed:]
        if rank == placed:
            # The next rank is the suffix minimum: a scan is cheaper than partition(0).
            smallest = int(suffix.argmin())
            suffix[0], suffix[smallest] = suffix[smallest], suffix[0]
        else:
            suffix.partition(rank - placed)
        order_stats[rank] = values[rank].item()
        placed = rank + 1
    results = []
    for below, above, gamma in positions:
        low, high = order_stats[below], order_stats[above]
        # numpy's lerp: from the upper end when gamma >= 0.5, for symmetric rounding.
        diff = high - low
        results.append(high - diff * (1 - gamma) if gamma >= 0.5 else low + diff * gamma)
    return results
