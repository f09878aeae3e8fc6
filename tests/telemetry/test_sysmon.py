"""Tests for raybench.engine.sysmon: exact percentages from injected CPU times and memory."""

from __future__ import annotations

from collections import namedtuple
from types import SimpleNamespace

import pytest

from raybench.telemetry.sysmon import SystemSampler

# The Linux shape of psutil.cpu_times(); guest and guest_nice are already inside user and nice.
LinuxTimes = namedtuple(
    "LinuxTimes",
    "user nice system idle iowait irq softirq steal guest guest_nice",
)
# The macOS shape: no iowait, no guest fields.
MacTimes = namedtuple("MacTimes", "user nice system idle")


class FakeSource:
    """Hands out prepared readings one per call, like psutil would over time."""

    def __init__(self, readings: list[object]) -> None:
        self._readings = list(readings)

    def __call__(self) -> object:
        return self._readings.pop(0)


def _memory(*percents: float) -> FakeSource:
    return FakeSource([SimpleNamespace(percent=p) for p in percents])


def _linux(user: float, idle: float, iowait: float = 0.0, guest: float = 0.0) -> LinuxTimes:
    return LinuxTimes(user, 0.0, 0.0, idle, iowait, 0.0, 0.0, 0.0, guest, 0.0)


def test_first_call_primes_and_returns_none() -> None:
    sampler = SystemSampler(FakeSource([_linux(1, 1)]), _memory(50.0))
    assert sampler.sample() is None


def test_cpu_percent_from_deltas() -> None:
    times = FakeSource([_linux(user=10, idle=90), _linux(user=40, idle=160)])
    sampler = SystemSampler(times, _memory(20.0, 37.5))
    sampler.sample()
    # busy delta 30 of total delta 100
    assert sampler.sample() == (30.0, 37.5)


def test_iowait_counts_as_idle() -> None:
    times = FakeSource([_linux(user=0, idle=0), _linux(user=25, idle=50, iowait=25)])
    sampler = SystemSampler(times, _memory(0.0, 0.0))
    sampler.sample()
    assert sampler.sample() == (25.0, 0.0)


def test_guest_time_is_not_counted_twice() -> None:
    # 40 s of user time of which 20 s ran a guest; 60 s idle: busy is 40 of 100, not 60 of 120.
    times = FakeSource([_linux(user=0, idle=0), _linux(user=40, idle=60, guest=20)])
    sampler = SystemSampler(times, _memory(0.0, 0.0))
    sampler.sample()
    assert sampler.sample() == (40.0, 0.0)


def test_platform_without_iowait() -> None:
    times = FakeSource([MacTimes(0, 0, 0, 0), MacTimes(30, 5, 15, 50)])
    sampler = SystemSampler(times, _memory(0.0, 12.0))
    sampler.sample()
    assert sampler.sample() == (50.0, 12.0)


def test_each_sample_covers_span_since_previous_call() -> None:
    times = FakeSource(
        [_linux(user=0, idle=0), _linux(user=10, idle=10), _linux(user=10, idle=40)]
    )
    sampler = SystemSampler(times, _memory(1.0, 2.0, 3.0))
    sampler.sample()
    assert sampler.sample() == (50.0, 2.0)
    assert sampler.sample() == (0.0, 3.0)


def test_two_samplers_are_independent() -> None:
    # Both read the same shared clock, interleaved; each must measure from its own last call.
    shared = FakeSource(
        [
            _linux(user=0, idle=0),  # a primes
            _linux(user=10, idle=10),  # b primes
            _linux(user=30, idle=10),  # a: busy 30 / total 40
            _linux(user=30, idle=50),  # b: busy 20 / total 60
        ]
    )
    memory = _memory(0.0, 0.0, 0.0, 0.0)
    a, b = SystemSampler(shared, memory), SystemSampler(shared, memory)
    assert a.sample() is None
    assert b.sample() is None
    assert a.sample() == (75.0, 0.0)
    assert b.sample() == pytest.approx((100 / 3, 0.0))


def test_no_elapsed_time_reports_zero_and_keeps_previous() -> None:
    times = FakeSource(
        [_linux(user=0, idle=0), _linux(user=0, idle=0), _linux(user=20, idle=80)]
    )
    sampler = SystemSampler(times, _memory(5.0, 6.0, 7.0))
    sampler.sample()
    assert sampler.sample() == (0.0, 6.0)
    assert sampler.sample() == (20.0, 7.0)


def test_backwards_counters_are_clamped() -> None:
    times = FakeSource([_linux(user=50, idle=0), _linux(user=40, idle=20)])
    sampler = SystemSampler(times, _memory(0.0, 0.0))
    sampler.sample()
    assert sampler.sample() == (0.0, 0.0)


def test_real_psutil_defaults() -> None:
    sampler = SystemSampler()
    assert sampler.sample() is None
    sum(i * i for i in range(200_000))  # let some CPU time pass
    result = sampler.sample()
    assert result is not None
    cpu, memory = result
    assert 0.0 <= cpu <= 100.0
    assert 0.0 < memory <= 100.0
