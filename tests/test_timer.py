"""Timer and timestamp_convert with a fake clock: exact values."""

from __future__ import annotations

import numpy as np
import pytest

from raybench._timer import Timer, timestamp_convert


class FakeClock:
    def __init__(self, *ticks: float):
        self.ticks = list(ticks)

    def __call__(self) -> float:
        return self.ticks.pop(0)


def test_each_with_block_records_one_pair():
    timer = Timer(FakeClock(1.0, 1.5, 2.0, 4.0))
    for _ in range(2):
        with timer:
            pass
    assert len(timer) == 2
    assert list(timer) == [(1.0, 1.5), (2.0, 4.0)]
    assert timer[1] == (2.0, 4.0)


def test_durations_average_and_total_in_other_units():
    timer = Timer(FakeClock(0.0, 0.5, 1.0, 2.0))
    with timer:
        pass
    with timer:
        pass
    np.testing.assert_allclose(timer.durations("ms"), [500.0, 1000.0])
    assert timer.avg("ms") == pytest.approx(750.0)
    assert timer.total_duration("s") == pytest.approx(1.5)


def test_timestamps_are_n_by_2_with_end_after_start():
    timer = Timer(FakeClock(10, 20), timer_unit="ns")
    timer.start()
    timer.stop()
    stamps = timer.timestamps("us")
    assert stamps.shape == (1, 2)
    np.testing.assert_allclose(stamps, [[0.01, 0.02]])


def test_stop_without_start_is_an_error():
    with pytest.raises(RuntimeError, match="without a matching start"):
        Timer(FakeClock(1.0)).stop()


def test_reset_forgets_pairs():
    timer = Timer(FakeClock(0, 1))
    with timer:
        pass
    timer.reset()
    assert len(timer) == 0
    assert np.isnan(timer.avg())


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [(1.5, "s", "ms", 1500.0), (250, "us", "ms", 0.25), (3, "ms", "ns", 3_000_000), (2_000, "ns", "us", 2.0)],
)
def test_timestamp_convert_scalars(value, src, dst, expected):
    assert timestamp_convert(value, src, dst) == pytest.approx(expected)


def test_timestamp_convert_arrays_and_same_unit_identity():
    np.testing.assert_allclose(timestamp_convert(np.array([1, 2]), "ms", "s"), [0.001, 0.002])
    big = np.array([1_700_000_000_123_456_789], np.int64)
    assert timestamp_convert(big, "ns", "ns") is big


def test_timestamp_convert_rejects_unknown_unit():
    with pytest.raises(ValueError, match=r"^to_unit must be one of 's', 'ms', 'us', 'ns' \(got 'min'\)$"):
        timestamp_convert(1, "s", "min")
