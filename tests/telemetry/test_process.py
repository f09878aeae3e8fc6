"""raybench.telemetry.process against real processes: this test process and a busy child."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from raybench.telemetry.process import MIN_RATE_SPAN_NS, HostSampler, ProcessSampler

# Spins for about a second, so a 0.5 s window of it is one core's worth of CPU.
BUSY_CHILD = "import time\nend = time.monotonic() + 1.0\nwhile time.monotonic() < end: pass"
CHILD_NICE_STEP = 3
PROCESS_METRICS = {"cpu_percent", "rss_mb", "threads", "ctx_switches_voluntary", "ctx_switches_involuntary",
                   "niceness"}


def _by_metric(samples):
    return {s.metric: s for s in samples}


@pytest.fixture
def busy_child():
    """A child spinning one core for ~1 s, started one nice step lower than this process."""
    child = subprocess.Popen([sys.executable, "-c", BUSY_CHILD], preexec_fn=lambda: os.nice(CHILD_NICE_STEP))
    yield child
    child.kill()
    child.wait()


def test_first_call_primes_the_rates_and_reports_the_levels() -> None:
    rows = ProcessSampler(os.getpid(), copy_id=3).sample(now_ns=123)
    assert set(_by_metric(rows)) == {"rss_mb", "threads", "niceness"}
    assert all(r.time_ns == 123 and r.copy_id == 3 and r.source == "process" for r in rows)


def test_own_process_reports_every_metric_from_the_second_call() -> None:
    sampler = ProcessSampler(os.getpid(), copy_id=0)
    sampler.sample(time.time_ns())
    time.sleep(0.05)
    rows = _by_metric(sampler.sample(time.time_ns()))
    assert set(rows) == PROCESS_METRICS
    assert rows["rss_mb"].value > 0
    assert rows["threads"].value >= 1
    assert rows["niceness"].value == os.nice(0)
    assert rows["ctx_switches_voluntary"].value >= 0 and rows["ctx_switches_involuntary"].value >= 0


def test_a_call_right_after_the_last_gives_no_rate_and_the_next_covers_the_span(busy_child) -> None:
    # A config's last sample can come a fraction of a millisecond after the one before; one
    # 10 ms clock tick of CPU time over that read as thousands of percent of a core.
    now = [0]
    sampler = ProcessSampler(busy_child.pid, copy_id=0, clock=lambda: now[0])
    time.sleep(0.1)  # past the interpreter's start-up
    sampler.sample(time.time_ns())
    now[0] = MIN_RATE_SPAN_NS - 1
    assert "cpu_percent" not in _by_metric(sampler.sample(time.time_ns()))
    time.sleep(0.3)
    now[0] = 300_000_000  # the spinning child's 0.3 s since the first call, over 0.3 s
    busy = _by_metric(sampler.sample(time.time_ns()))["cpu_percent"].value
    assert 0 < busy <= 110, busy  # one spinning thread: at most a core, and a tick is 3 % of 0.3 s


def test_busy_child_uses_about_one_core(busy_child) -> None:
    sampler = ProcessSampler(busy_child.pid, copy_id=1)
    time.sleep(0.1)  # past the interpreter's start-up
    sampler.sample(time.time_ns())
    time.sleep(0.5)
    rows = _by_metric(sampler.sample(time.time_ns()))
    # One spinning thread is 100 % of a core; the band is loose because the box is shared.
    assert 50 < rows["cpu_percent"].value < 150
    assert rows["rss_mb"].value > 0
    assert rows["threads"].value >= 1
    assert rows["niceness"].value == min(os.nice(0) + CHILD_NICE_STEP, 19)


def test_exited_process_returns_nothing(busy_child) -> None:
    sampler = ProcessSampler(busy_child.pid, copy_id=1)
    sampler.sample(time.time_ns())
    busy_child.kill()
    busy_child.wait()
    assert sampler.sample(time.time_ns()) == []
    assert sampler.sample(time.time_ns()) == []


def test_zombie_process_returns_nothing() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    sampler = ProcessSampler(child.pid, copy_id=2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sampler.sample(time.time_ns()):  # exited, not yet reaped
        time.sleep(0.01)
    assert sampler.sample(time.time_ns()) == []
    child.wait()


def test_pid_that_never_existed_returns_nothing() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    assert ProcessSampler(child.pid, copy_id=0).sample(time.time_ns()) == []


def test_host_reports_cpu_memory_and_load_node_wide() -> None:
    sampler = HostSampler()
    sampler.sample(time.time_ns())
    time.sleep(0.05)
    rows = sampler.sample(now_ns=456)
    by_metric = _by_metric(rows)
    assert set(by_metric) == {"cpu_percent", "mem_percent", "load_1m"}
    assert all(r.copy_id is None and r.source == "host" and r.time_ns == 456 for r in rows)
    assert 0 <= by_metric["cpu_percent"].value <= 100
    assert 0 < by_metric["mem_percent"].value <= 100
    assert by_metric["load_1m"].value >= 0


def test_host_without_load_average_leaves_it_out() -> None:
    sampler = HostSampler(loadavg=None)
    sampler.sample(time.time_ns())
    time.sleep(0.05)
    assert {r.metric for r in sampler.sample(time.time_ns())} == {"cpu_percent", "mem_percent"}
