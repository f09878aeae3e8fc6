"""Timer and timestamp_convert, driven by a fake clock so every value is exact."""

from __future__ import annotations

import numpy as np
import pytest

from raybench.core.errors import ConfigError, RaybenchError
from raybench.core.timer import Timer, TimerError, timestamp_convert

#: Above 2**53: a float cannot hold these exactly, so exact results prove integer arithmetic.
BIG_NS = 1_700_000_000_123_456_789


class FakeClock:
    """A clock that returns the given ticks in order (and fails loudly when they run out)."""

    def __init__(self, *ticks: float) -> None:
        self.ticks = list(ticks)

    def __call__(self) -> float:
        return self.ticks.pop(0)


def timed(*ticks: float, timer_unit: str = "s") -> Timer:
    """A Timer that has run one ``with`` block per (start, end) pair of ``ticks``."""
    timer = Timer(FakeClock(*ticks), timer_unit=timer_unit)
    for _ in range(len(ticks) // 2):
        with timer:
            pass
    return timer


# --- recording ---------------------------------------------------------------------------------


def test_a_with_block_records_one_start_end_pair() -> None:
    timer = timed(1.0, 1.5)
    assert list(timer) == [(1.0, 1.5)]


def test_each_with_block_adds_one_pair() -> None:
    assert len(timed(1.0, 1.5, 2.0, 4.0, 5.0, 5.25)) == 3


def test_iteration_yields_the_pairs_in_recording_order() -> None:
    assert list(timed(1.0, 1.5, 2.0, 4.0)) == [(1.0, 1.5), (2.0, 4.0)]


def test_pairs_can_be_indexed_and_sliced() -> None:
    timer = timed(1.0, 1.5, 2.0, 4.0, 5.0, 5.25)
    assert (timer[0], timer[-1], timer[1:]) == ((1.0, 1.5), (5.0, 5.25), [(2.0, 4.0), (5.0, 5.25)])


def test_start_and_stop_record_a_pair_like_a_with_block() -> None:
    timer = Timer(FakeClock(3.0, 3.75))
    timer.start()
    timer.stop()
    assert list(timer) == [(3.0, 3.75)]


def test_a_with_block_that_raises_still_records_its_pair() -> None:
    timer = Timer(FakeClock(1.0, 2.0))
    with pytest.raises(KeyError), timer:
        raise KeyError("model failed")
    assert list(timer) == [(1.0, 2.0)]


def test_the_default_clock_is_perf_counter_in_seconds() -> None:
    import time

    timer = Timer()
    assert (timer.timer_fn, timer.timer_unit) == (time.perf_counter, "s")


# --- misuse ------------------------------------------------------------------------------------


def test_stop_without_start_is_an_error() -> None:
    with pytest.raises(
        TimerError, match=r"^Timer\.stop\(\) was called without a matching start\(\); call start\(\) first$"
    ):
        Timer(FakeClock(1.0)).stop()


def test_start_while_running_is_an_error() -> None:
    timer = Timer(FakeClock(1.0, 2.0))
    timer.start()
    with pytest.raises(
        TimerError, match=r"^Timer\.start\(\) was called while the timer is running; call stop\(\) first$"
    ):
        timer.start()


def test_timer_errors_are_raybench_and_runtime_errors() -> None:
    assert issubclass(TimerError, RaybenchError) and issubclass(TimerError, RuntimeError)


def test_unknown_timer_unit_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^timer_unit must be one of 's', 'ms', 'us', 'ns' \(got 'sec'\)$"):
        Timer(FakeClock(), timer_unit="sec")


def test_unknown_unit_in_a_query_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^unit must be one of 's', 'ms', 'us', 'ns' \(got 'min'\)$"):
        timed(0.0, 1.0).durations("min")


# --- reset -------------------------------------------------------------------------------------


def test_reset_forgets_every_pair() -> None:
    timer = timed(0.0, 1.0, 2.0, 3.0)
    timer.reset()
    assert (len(timer), list(timer)) == (0, [])


def test_reset_forgets_a_pending_start() -> None:
    timer = Timer(FakeClock(0.0, 1.0))
    timer.start()
    timer.reset()
    with pytest.raises(TimerError):
        timer.stop()


# --- durations, timestamps, totals ---------------------------------------------------------------


def test_durations_are_end_minus_start_in_seconds_by_default() -> None:
    np.testing.assert_array_equal(timed(0.0, 0.5, 1.0, 3.0).durations(), [0.5, 2.0])


def test_durations_convert_to_the_requested_unit() -> None:
    np.testing.assert_array_equal(timed(0.0, 0.5, 1.0, 3.0).durations("ms"), [500.0, 2000.0])


def test_an_integer_ns_clock_gives_exact_integer_ns_durations() -> None:
    durations = timed(BIG_NS, BIG_NS + 1, BIG_NS + 10, BIG_NS + 13, timer_unit="ns").durations("ns")
    assert (durations.dtype.kind, durations.tolist()) == ("i", [1, 3])


def test_timestamps_are_an_n_by_2_array_of_start_and_end() -> None:
    stamps = timed(10, 20, 30, 50, timer_unit="ns").timestamps("us")
    np.testing.assert_array_equal(stamps, [[0.01, 0.02], [0.03, 0.05]])


def test_timestamps_of_an_empty_timer_have_shape_0_by_2() -> None:
    assert Timer(FakeClock()).timestamps().shape == (0, 2)


def test_total_duration_sums_the_durations() -> None:
    assert timed(0.0, 0.5, 1.0, 3.0).total_duration("ms") == 2500.0


def test_total_duration_of_an_empty_timer_is_zero() -> None:
    assert Timer(FakeClock()).total_duration() == 0


def test_avg_is_the_mean_duration() -> None:
    assert timed(0.0, 0.5, 1.0, 3.0).avg("ms") == 1250.0


def test_avg_of_an_empty_timer_is_an_error() -> None:
    with pytest.raises(TimerError, match=r"^Timer\.avg\(\) needs at least one recorded pair \(got 0\)$"):
        Timer(FakeClock()).avg()


# --- timestamp_convert -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "from_unit", "to_unit", "expected"),
    [
        (1.5, "s", "ms", 1500.0),
        (250, "us", "ms", 0.25),
        (3, "ms", "ns", 3_000_000),
        (2_000, "ns", "us", 2.0),
        (1, "ns", "s", 1e-9),
        (7, "us", "us", 7),
    ],
)
def test_timestamp_convert_converts_scalars(value: float, from_unit: str, to_unit: str, expected: float) -> None:
    assert timestamp_convert(value, from_unit, to_unit) == expected


def test_timestamp_convert_to_a_larger_unit_rounds_once() -> None:
    # 9 * 0.001 is 0.009000000000000001; the correctly rounded 9 / 1000 is the literal 0.009.
    assert (timestamp_convert(9, "ms", "s"), timestamp_convert(3, "ns", "s")) == (0.009, 3e-9)


def test_timestamp_convert_keeps_integer_ns_exact() -> None:
    converted = timestamp_convert(BIG_NS, "ns", "ns")
    assert (type(converted), converted) == (int, BIG_NS)


def test_timestamp_convert_keeps_integers_integral_toward_smaller_units() -> None:
    converted = timestamp_convert(2, "s", "ns")
    assert (type(converted), converted) == (int, 2_000_000_000)


def test_timestamp_convert_converts_arrays_elementwise() -> None:
    np.testing.assert_array_equal(timestamp_convert(np.array([1, 2, 1500]), "ms", "s"), [0.001, 0.002, 1.5])


def test_timestamp_convert_keeps_an_int64_ns_array_exact() -> None:
    converted = np.asarray(timestamp_convert(np.array([BIG_NS], dtype=np.int64), "ns", "ns"))
    assert (converted.dtype, converted.tolist()) == (np.dtype(np.int64), [BIG_NS])


def test_timestamp_convert_scales_lists_instead_of_repeating_them() -> None:
    np.testing.assert_array_equal(timestamp_convert([1, 2], "s", "ms"), [1000, 2000])


def test_timestamp_convert_rejects_an_unknown_from_unit() -> None:
    with pytest.raises(ValueError, match=r"^from_unit must be one of 's', 'ms', 'us', 'ns' \(got 'sec'\)$"):
        timestamp_convert(1, "sec", "s")


def test_timestamp_convert_rejects_an_unknown_to_unit() -> None:
    with pytest.raises(ValueError, match=r"^to_unit must be one of 's', 'ms', 'us', 'ns' \(got 'min'\)$"):
        timestamp_convert(1, "s", "min")
