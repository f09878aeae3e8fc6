"""Block bootstrap of latency quantiles and throughput, for comparing two runs.

Pure numpy and pyarrow, no raybench types: :mod:`raybench.compare` hands in one config's timer
rows and report numbers per side and turns the errors returned here into confidence intervals.

Why not a rank test on the raw latencies: a config holds up to tens of millions of calls, and
they are not independent — warm-up drift, stalls, other tenants move whole stretches of time
together. A Mann-Whitney test or an iid bootstrap counts every call as independent evidence and
calls a 0.1 % difference between two reruns significant. The unit of evidence is a stretch of
time, so the method is a **block bootstrap** (Künsch 1989, "The jackknife and the bootstrap for
general stationary observations"):

1. Each side's ok calls are cut into K consecutive time blocks by ``end_ns`` from the config's
   common start: 1 s blocks, shorter for runs under 10 s (K >= 10), longer beyond 100 s
   (K <= 100). Per block: the count of calls, and a histogram of log latency (4096 bins over
   the range of both sides; at most 2^21 calls a side, taken at an even stride).
2. Each side is resampled on its own, 2000 times (``np.random.default_rng(seed)``): K blocks
   drawn with replacement. A resample's quantile is the **pooled** quantile of its blocks'
   summed histograms (the reports pool every call too), interpolated inside the bin; it lies
   between the smallest and largest per-block quantile, so only that window of bins enters the
   (2000 × K) @ (K × window) product. A resample's throughput is the mean count of blocks drawn
   from the interior ones (the first and last hold the ramp-up and the stop; the reports leave
   them out too).
3. Each resample's log statistic minus the full sample's, times ``sqrt(K / (K - 1))`` (the
   bootstrap's variance shrinkage), is that side's sampling error; new's minus base's is the
   error of the log ratio. Its percentiles around the reports' log ratio give the confidence
   interval of the change — the percentile interval, shifted by the gap between the binned and
   the exact estimate — and the change is **significant** when the interval excludes 0.
   Throughput counts whole calls, so each side's report is known to ±1 of the C calls it
   counted: a uniform ±1/C joins that side's error. It matters only for short runs of a steady
   model, whose blocks may all count the same and would give an interval of zero width.

Measured on synthetic 10 s reruns (iid and with second-scale drift), 4-8 % of 95 % intervals
excluded 0: with 10 blocks the interval is a little narrow. Cost: O(n) numpy passes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raybench.core.units import NS_PER_S
from raybench.report.stats import linear_percentiles

#: Resamples per side.
RESAMPLES = 2000
#: Target length of a time block; the number of blocks stays within MIN_BLOCKS..MAX_BLOCKS.
BLOCK_NS, MIN_BLOCKS, MAX_BLOCKS = NS_PER_S, 10, 100
_BINS, _MAX_LATENCY_SAMPLES = 4096, 1 << 21


@dataclass(frozen=True)
class Blocks:
    """One side's ok calls cut into time blocks."""

    counts: np.ndarray  # calls ending in each block
    latency_ns: np.ndarray  # latencies (an even-stride subsample)
    block: np.ndarray  # the block of each of those
    counted: float  # calls behind the report's throughput_avg
    block_ns: int = BLOCK_NS  # the length of a block


def cut_blocks(
    rows: pa.Table,
    start_ns: int | None,
    stop_ns: int | None,
    *,
    total_infs: int,
    throughput_avg: float | None,
    batch_size: int,
) -> Blocks | None:
    """Cut one side's ok calls into time blocks from the common start.

    Args:
        rows: The timer rows of one config, with ``start_ns``, ``end_ns`` and ``ok`` columns.
        start_ns: The config's measurement start; None for the first call's start.
        stop_ns: Its measurement stop; None for the last call's end.
        total_infs: The report's ``total_infs``.
        throughput_avg: The report's ``throughput_avg`` (None when it has none).
        batch_size: The config's batch size.

    Returns:
        The blocks, or None without ok calls.
    """
    n_ok = int(pc.sum(rows.column("ok")).as_py() or 0)
    if n_ok == 0:
        return None
    origin = start_ns if start_ns is not None else pc.min(rows.column("start_ns")).as_py()
    stop = stop_ns if stop_ns is not None else pc.max(rows.column("end_ns")).as_py()
    span = max(stop - origin, 1)
    n_blocks = min(max(span // BLOCK_NS, MIN_BLOCKS), MAX_BLOCKS)
    block_ns, stride = -(-span // n_blocks), -(-n_ok // _MAX_LATENCY_SAMPLES)
    counts = np.zeros(n_blocks, np.int64)
    latencies, blocks, last_end = [], [], origin
    for batch in rows.to_batches():
        start, end = batch.column("start_ns").to_numpy(), batch.column("end_ns").to_numpy()
        if n_ok < rows.num_rows:
            ok = batch.column("ok").to_numpy(zero_copy_only=False)
            start, end = start[ok], end[ok]
        block = np.subtract(end, origin)
        block //= block_ns
        np.clip(block, 0, n_blocks - 1, out=block)  # calls in flight at the stop join the last block
        counts += np.bincount(block, minlength=n_blocks)
        latencies.append(end[::stride] - start[::stride])
        blocks.append(block[::stride])
        last_end = max(last_end, int(end.max())) if end.size else last_end
    # The reports' throughput_avg averages the 1 s buckets between the first and the last.
    middle_buckets = (last_end - origin) // BLOCK_NS - 1
    counted = total_infs
    if middle_buckets >= 1 and throughput_avg is not None:
        counted = throughput_avg / batch_size * middle_buckets
    return Blocks(counts, np.concatenate(latencies), np.concatenate(blocks), max(counted, 1), int(block_ns))


def _draws(rng: np.random.Generator, k: int) -> np.ndarray:
    """How often each of k blocks is drawn in each resample: (resamples, k) float64."""
    return rng.multinomial(k, np.full(k, 1 / k), size=RESAMPLES).astype(np.float64)


def latency_errors(
    base: Blocks | None, new: Blocks | None, rng: np.random.Generator, quantiles: Mapping[str, float]
) -> dict[str, np.ndarray]:
    """Per quantile: the bootstrap error of log(new/base).

    Args:
        base: The base side's blocks (None without ok calls).
        new: The new side's blocks (None without ok calls).
        rng: Draws base's resamples, then new's.
        quantiles: Name to quantile in [0, 1], like ``{"p50": 0.5}``.

    Returns:
        Per name, RESAMPLES errors of the log ratio; empty when a side has no ok calls or its
        calls fall in fewer than two blocks.
    """
    if base is None or new is None:
        return {}
    sides = (base, new)
    logs = [np.log(np.maximum(side.latency_ns, 1)) for side in sides]
    low = min(values.min() for values in logs)
    width = max(max(values.max() for values in logs) - low, 1e-9) / _BINS
    errors: dict[str, np.ndarray] = {m: np.zeros(RESAMPLES) for m in quantiles}
    for sign, side, values in zip((-1, 1), sides, logs):
        n_blocks = side.counts.size
        bins = np.minimum(((values - low) / width).astype(np.int64), _BINS - 1)
        hist = np.bincount(side.block * _BINS + bins, minlength=n_blocks * _BINS)
        hist = hist.reshape(n_blocks, _BINS)
        cumulative = np.cumsum(hist[hist.sum(axis=1) > 0], axis=1)  # empty blocks hold no latency
        k = cumulative.shape[0]
        if k < 2:
            return {}
        draws = _draws(rng, k)
        for m, q in quantiles.items():
            full = pooled_quantile(cumulative, np.ones((1, k)), q)
            errors[m] += sign * (pooled_quantile(cumulative, draws, q) - full) * width * math.sqrt(k / (k - 1))
    return errors


def pooled_quantile(cumulative: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Quantile q, in fractional bins, of the calls of each weighted pool of blocks.

    A pool's quantile lies between the smallest and the largest per-block quantile bin, so only
    those columns are summed.

    Args:
        cumulative: Each block's cumulative bin counts, (blocks, bins).
        weights: Each pool's weight of each block, (pools, blocks).
        q: The quantile, in [0, 1].

    Returns:
        One fractional bin per pool, interpolated inside the bin.
    """
    totals = cumulative[:, -1].astype(np.float64)
    first = (cumulative >= q * totals[:, None]).argmax(axis=1)
    lo, hi = int(first.min()), int(first.max())
    below = cumulative[:, lo - 1] if lo else np.zeros(len(totals), np.int64)
    pooled = weights @ np.column_stack([below, cumulative[:, lo : hi + 1]]).astype(np.float64)
    target = q * (weights @ totals)
    # Columns below the target, so the first one at or above it; clipped against rounding.
    j = np.minimum((pooled[:, 1:] < target[:, None]).sum(axis=1), hi - lo)
    before, at = np.take_along_axis(pooled, np.stack([j, j + 1], axis=1), axis=1).T
    return lo + j + np.clip((target - before) / np.maximum(at - before, 1e-12), 0, 1)


def throughput_error(base: Blocks | None, new: Blocks | None, rng: np.random.Generator) -> np.ndarray | None:
    """The bootstrap error of log(new/base throughput), from the interior blocks' counts.

    Args:
        base: The base side's blocks (None without ok calls).
        new: The new side's blocks (None without ok calls).
        rng: Draws base's resamples and ±1-call jitter, then new's.

    Returns:
        RESAMPLES errors of the log ratio; None when a side has no ok calls or no calls in its
        interior blocks.
    """
    if base is None or new is None:
        return None
    error = np.zeros(RESAMPLES)
    for sign, side in zip((-1, 1), (base, new)):
        interior = side.counts[1:-1].astype(np.float64)
        k, full = interior.size, interior.mean()
        if full <= 0:
            return None
        resampled = np.maximum(_draws(rng, k) @ interior / k, 1e-12)
        error += sign * np.log(resampled / full) * math.sqrt(k / (k - 1))
        error += sign * rng.uniform(-1, 1, RESAMPLES) / side.counted
    return error


def quantile_interval(values: np.ndarray, times: np.ndarray, q: float, *, confidence: float = 0.95,
                      seed: int = 0) -> tuple[float, float] | None:
    """The block-bootstrap confidence interval of one side's pooled quantile ``q``.

    The samples are cut into time blocks by ``times`` (as :func:`cut_blocks` does: 1 s blocks,
    10 to 100 of them), each block's log values binned; a resample draws the blocks with
    replacement and takes the pooled quantile of their summed histograms. The interval is the
    exact quantile (:func:`~raybench.report.stats.linear_percentiles`) times the resamples'
    spread of ``exp(log resample - log full)``, so it always holds the exact estimate.

    Args:
        values: Positive samples (latencies in ns, or any other duration).
        times: When each sample ended, in ns (any origin).
        q: The quantile, in [0, 1].
        confidence: The interval's coverage.
        seed: Seeds the resampling.

    Returns:
        ``(low, high)`` in the unit of ``values``; None with fewer than two samples or with all
        of them in one block.
    """
    if values.size < 2:
        return None
    stride = -(-values.size // _MAX_LATENCY_SAMPLES)
    sample, when = values[::stride], times[::stride]
    origin = int(when.min())
    span = max(int(when.max()) - origin, 1)
    n_blocks = int(min(max(span // BLOCK_NS, MIN_BLOCKS), MAX_BLOCKS))
    block = np.minimum((when - origin) * n_blocks // span, n_blocks - 1).astype(np.int64)
    logs = np.log(np.maximum(sample.astype(np.float64), 1e-9))
    low = float(logs.min())
    width = max(float(logs.max()) - low, 1e-9) / _BINS
    bins = np.minimum(((logs - low) / width).astype(np.int64), _BINS - 1)
    hist = np.bincount(block * _BINS + bins, minlength=n_blocks * _BINS).reshape(n_blocks, _BINS)
    cumulative = np.cumsum(hist[hist.sum(axis=1) > 0], axis=1)
    k = cumulative.shape[0]
    if k < 2:
        return None
    draws = _draws(np.random.default_rng(seed), k)
    full = pooled_quantile(cumulative, np.ones((1, k)), q)
    errors = (pooled_quantile(cumulative, draws, q) - full) * width * math.sqrt(k / (k - 1))
    exact = linear_percentiles(values.astype(np.float64), [100 * q])[0]
    tail = 100 * (1 - confidence) / 2
    low_error, high_error = np.percentile(errors, [tail, 100 - tail])
    return exact * math.exp(float(low_error)), exact * math.exp(float(high_error))
