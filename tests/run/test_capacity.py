"""Capacity searches end to end, against ground truth: simulated devices of known service time.

A 10 ms device with one copy and one worker serves 100 requests/s; under constant arrivals its
latency stays at 10 ms up to that rate, so with ``latency_ms_p99 <= 30`` the capacity is about
100/s (a one-second probe a little past it still meets the SLO: its queue has no time to grow).
Under Poisson arrivals the latencies are those of an M/D/1 queue.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

import raybench
from raybench.testing import SimulatedDevice, make_simulated_device, md1_response_quantile

SLO = {"latency_ms_p99": 30}


pytestmark = pytest.mark.integration  # timed runs of simulated devices


class LoadCounter:
    """setup_fn: one line per model load, in a file every copy appends to."""

    def __init__(self, path):
        self.path = path

    def __call__(self, copy_id, config, model):
        with open(self.path, "a") as f:
            f.write(f"{copy_id}\n")


def test_rate_search_finds_the_capacity_of_a_10_ms_device(ray_session, tmp_path):
    loads = tmp_path / "loads.txt"
    results = raybench.cpu.benchmark(
        SimulatedDevice, np.zeros(1), batch_sizes=1, n_models=1, workers_per_model=1, duration=1,
        search="rate", slo=SLO, device_type="neuron", cost_per_hour=3.6, setup_fn=LoadCounter(str(loads)),
        return_timers=True, verbosity=0,
    )
    (one,) = raybench.get_capacity_reports(results)
    # 94-97 on a quiet host; 70 was seen with half the CPU stolen by the VM's host (late wake-ups
    # fill the p99), so the lower side only says the search found the device's order of capacity.
    assert 60 <= one["capacity_rate"] <= 101, one
    assert one["capacity_probes"] <= 15
    assert one["neuron_cores_per_1k_rps"] == pytest.approx(1000 / one["capacity_rate"])
    assert one["cost_per_1m_at_slo"] == pytest.approx(3.6 * 1e6 / 3600 / one["capacity_throughput"])
    assert one["latency_ms_p99"] <= 30 and one["slo_ok"] and one["rate_met"]
    # Every probe is a config of its own, with its own timers; the copy loaded once.
    reports = raybench.get_reports(results)
    assert [r["probe"] for r in reports] == list(range(1, one["capacity_probes"] + 1))
    assert sorted(set(pc.unique(results.timers["config_id"]).to_pylist())) == [r["config_id"] for r in reports]
    assert loads.read_text().split() == ["0"]  # one load for every probe
    assert reports[0]["arrival"] == "closed" and reports[0]["warmup_infs"] == 1
    assert all(r["warmup_infs"] == 0 for r in reports[1:])  # warmed up once, by the closed loop
    # The search can be re-analysed from the file.
    path = raybench.write_results(results, tmp_path / "capacity.parquet")
    (again,) = raybench.get_capacity_reports(raybench.read_results(path))
    assert again["capacity_rate"] == one["capacity_rate"]


def test_two_copies_have_twice_the_capacity(ray_session):
    """2 s probes: at about 200 requests/s they hold the ~380 requests a p99 needs to be decided."""
    (two,) = raybench.cpu.benchmark(SimulatedDevice, np.zeros(1), batch_sizes=1, n_models=2, workers_per_model=1,
                                    duration=2, search="rate", slo=SLO, verbosity=0)
    # 192-196 on a quiet host; CI saw 167. One copy can never pass 101, so 130 still fails a sweep
    # whose second copy takes no share of the sends.
    assert 130 <= two["capacity_rate"] <= 202, two
    assert two["capacity_steps"] <= 12


def test_poisson_arrivals_give_the_latencies_of_an_m_d_1_queue(ray_session):
    """One worker on a 4 ms device at half its capacity: mean latency D + rho D / (2 (1 - rho))
    (Pollaczek-Khinchine), a share rho of the sends wait, and the p99 is the M/D/1 queue's."""
    rate = 125.0
    results = raybench.cpu.benchmark(make_simulated_device(0.004), np.zeros(1), batch_sizes=1, n_models=1,
                                     workers_per_model=1, duration=5, arrival="poisson", rate=rate,
                                     return_timers=True, verbosity=0)
    (report,) = results.reports.to_pylist()
    assert report["status"] == "finished" and report["rate_met"], report["error"]
    service_s = report["infer_avg_ms"] / 1e3  # the device as measured (sleep overshoots a little)
    rho = rate * service_s
    mean_theory_ms = 1e3 * (service_s + rho * service_s / (2 * (1 - rho)))
    # Constant sends would give 1 / 1.5 of the theory here; a busy host adds late wake-ups on top
    # (1.40 seen once while a second test run competed), hence the wider upper side.
    assert 0.8 <= report["e2e_avg_ms"] / mean_theory_ms <= 1.6, (report["e2e_avg_ms"], mean_theory_ms)
    p99_theory_ms = 1e3 * md1_response_quantile(0.99, rate, service_s)
    assert 0.6 <= report["latency_ms_p99"] / p99_theory_ms <= 1.8, (report["latency_ms_p99"], p99_theory_ms)
    # Without counting the wait (coordinated omission) the p99 would be the service time.
    assert report["latency_ms_p99"] > 1.5e3 * service_s
    waited = (results.timers["queue_ns"].to_numpy() > 0.25 * service_s * 1e9).mean()
    assert abs(waited - rho) <= 0.12, (waited, rho)


def test_concurrency_search_finds_the_workers_a_locked_device_can_take():
    """One call at a time per copy, first come first served: w workers take w x 20 ms a call, so
    p50 <= 70 ms allows 3 (about 62 ms measured, 4 workers about 82 ms). 20 ms rather than 10: a
    sleep's overshoot and the harness add a fixed ~0.5 ms a call, which a longer call dwarfs."""
    device = make_simulated_device(0.020, locked=True)
    (capacity,) = raybench.cpu.benchmark(device, np.zeros(1), batch_sizes=1, n_models=1, duration=1,
                                         search="concurrency", slo={"latency_ms_p50": 70}, multiprocess=False,
                                         verbosity=0)
    assert capacity["capacity_workers"] == 3, capacity
    assert capacity["workers_per_model"] == 3 and capacity["capacity_missed_at"] == 4
    assert 42.5 <= capacity["capacity_rate"] <= 50.5  # the device's rate, whatever the workers


def test_a_search_whose_slo_nothing_meets_says_so():
    (capacity,) = raybench.cpu.benchmark(SimulatedDevice, np.zeros(1), batch_sizes=1, n_models=1,
                                         workers_per_model=1, duration=1, search="rate", max_steps=4,
                                         slo={"latency_ms_p50": 5}, multiprocess=False, verbosity=0)
    assert capacity["capacity_rate"] is None
    assert "no rate met the SLO" in capacity["error"] and capacity["capacity_steps"] == 4
