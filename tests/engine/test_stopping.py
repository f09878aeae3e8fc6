"""StopWatch: min_infs and stability decisions on synthetic batches with known times."""

from __future__ import annotations

import numpy as np

from raybench.engine.stopping import StopWatch

MS = 1_000_000


def calls(n: int, every_ms: float, latency_ms: float | np.ndarray, first_end_ms: float = 1.0):
    """``n`` ok calls of one worker ending every ``every_ms``: (start, end, ok) arrays."""
    end = ((first_end_ms + np.arange(n) * every_ms) * MS).astype(np.int64)
    start = end - (np.asarray(latency_ms) * MS).astype(np.int64)
    return start, end, np.ones(n, bool)


def test_min_infs_waits_for_duration_and_the_count():
    watch = StopWatch(0, duration_ns=1000 * MS, min_infs=500, stability=None, window_ns=100 * MS)
    start, end, ok = calls(3000, 1.0, 0.5)  # ends at 1, 2, ..., 3000 ms
    assert not watch.observe(0, 0, start[:900], end[:900], ok[:900])  # 900 ms of data: duration not reached
    assert watch.observe(0, 0, start[900:1500], end[900:1500], ok[900:1500])
    assert watch.stop_ns == 1000 * MS  # 500 reached long before: stops at duration


def test_min_infs_extends_past_duration_until_reached():
    watch = StopWatch(0, duration_ns=1000 * MS, min_infs=2000, stability=None, window_ns=100 * MS)
    start, end, ok = calls(3000, 1.0, 0.5)
    assert watch.observe(0, 0, start, end, ok)
    # The 2000th row ends at 2000 ms, inside the slot [2000, 2010): the first boundary after it.
    assert watch.stop_ns == 2010 * MS


def test_data_is_complete_only_up_to_the_slowest_worker():
    watch = StopWatch(0, duration_ns=100 * MS, min_infs=10, stability=None, window_ns=100 * MS)
    assert not watch.observe(0, 1, *calls(10, 5.0, 0.5))  # worker 1 has shown up to 46 ms
    assert not watch.observe(0, 0, *calls(500, 1.0, 0.5))  # worker 0 up to 500 ms: 1 still holds it back
    assert watch.observe(0, 1, *calls(30, 5.0, 0.5, first_end_ms=51.0))  # worker 1 now past 100 ms
    assert watch.stop_ns == 100 * MS


def test_stability_converges_when_three_windows_agree():
    watch = StopWatch(0, duration_ns=10_000 * MS, min_infs=None, stability=0.1, window_ns=100 * MS)
    start, end, ok = calls(1000, 1.0, 2.0)
    assert watch.observe(0, 0, start, end, ok)
    assert watch.converged and watch.stop_ns == 300 * MS  # windows 0, 1, 2 agree
    assert [round(t) for t, _ in watch.windows()] == [990, 1000, 1000]  # the first call ends at 1 ms


def test_stability_waits_out_a_drift():
    # Latency falls from 5 ms to 1 ms over the first 600 ms (warm-up drift), then holds.
    end_ms = 1.0 + np.arange(2000)
    latency = np.where(end_ms < 600, 5.0 - 4.0 * end_ms / 600, 1.0)
    watch = StopWatch(0, duration_ns=10_000 * MS, min_infs=None, stability=0.1, window_ns=100 * MS)
    assert watch.observe(0, 0, *calls(2000, 1.0, latency))
    assert watch.converged
    assert watch.stop_ns >= 700 * MS  # not before the drift is over
    p50s = [p for _, p in watch.windows()]
    assert p50s[0] > 3 * p50s[-1]


def test_unstable_run_does_not_converge():
    latency = np.tile(np.repeat([1.0, 10.0], 100), 10)  # p50 flips from window to window
    watch = StopWatch(0, duration_ns=10_000 * MS, min_infs=None, stability=0.05, window_ns=100 * MS)
    assert not watch.observe(0, 0, *calls(2000, 1.0, latency))
    assert watch.stop_ns is None and not watch.converged


def test_stability_also_waits_for_min_infs():
    watch = StopWatch(0, duration_ns=10_000 * MS, min_infs=800, stability=0.1, window_ns=100 * MS)
    assert watch.observe(0, 0, *calls(2000, 1.0, 2.0))
    assert watch.converged and watch.stop_ns == 900 * MS  # 800 rows ended before 900 ms (801 at 800 ms)
