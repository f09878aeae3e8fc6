"""Capacity searches against ground truth: the probes, the wall time of the whole search and the
capacity found. Prints the figures; no asserts.

Usage:  .venv/bin/python benchmarks/bench_capacity.py [--duration SECONDS]

1. A 10 ms device (``raybench.testing.SimulatedDevice``), 1 copy x 1 worker, constant arrivals,
   ``slo={"latency_ms_p99": 30}``: its capacity is 100 requests/s (85-101 expected, at most 15
   probes).
2. The same with 2 copies: about twice that.
3. Poisson arrivals on 1 copy: against the M/D/1 queue's capacity, the rate at which its p99
   response time (wait plus the measured service time) reaches 30 ms.
4. A concurrency search on a 10 ms device that serves one call at a time per copy
   (``LockedDevice``), ``slo={"latency_ms_p50": 35}``: 3 workers (w workers take w x 10 ms).

Every search runs on an embedded local Ray with declared NeuronCores (so the copies count as
NeuronCores and ``neuron_cores_per_1k_rps`` is reported).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import ray

import raybench
from raybench.testing import SimulatedDevice, make_simulated_device, md1_response_quantile

SLO = {"latency_ms_p99": 30}


def search(label: str, model: type, **kwargs) -> list[dict]:
    """Run one search, print its probes and answers, return the answers."""
    started = time.perf_counter()
    results = raybench.cpu.benchmark(model, np.zeros(1, np.float32), batch_sizes=1, device_type="neuron",
                                     return_timers=True, verbosity=0, **kwargs)
    wall_s = time.perf_counter() - started
    print(f"\n== {label}: {wall_s:.1f} s wall for the whole search (copies' start included)")
    print(f"{'config':>6} {'probe':>5} {'load':>14} {'served/s':>9} {'p50 ms':>8} {'p99 ms':>8} verdict")
    for report in raybench.get_reports(results):
        load = "closed loop" if report["arrival"] == "closed" else f"{report['target_rate']:.1f}/s"
        if report["search"] == "concurrency":
            load = f"{report['workers_per_model']} workers"
        verdict = "met" if report["slo_ok"] and report["rate_met"] is not False else "missed"
        if report["slo_decided"] is False:
            verdict += " (within noise)"
        print(f"{report['search_id'] + 1:>6} {report['probe']:>5} {load:>14} {report['throughput_avg']:>9.1f} "
              f"{report['latency_ms_p50']:>8.2f} {report['latency_ms_p99']:>8.2f} {verdict}")
    answers = raybench.get_capacity_reports(results)
    for answer in answers:
        found = answer["capacity_workers"] if answer["search"] == "concurrency" else answer["capacity_rate"]
        print(f"config {answer['search_id'] + 1} (n_models={answer['n_models']}): capacity {found:.4g} "
              f"(missed at {answer['capacity_missed_at']}), {answer['capacity_probes']} probes, "
              f"{answer['search_s']:.1f} s measuring; {answer['neuron_cores_per_1k_rps']:.3g} NeuronCores per 1k req/s")
    return answers


def md1_capacity(service_s: float, limit_s: float) -> float:
    """The Poisson rate at which an M/D/1 queue's p99 response time reaches ``limit_s``."""
    low, high = 1e-6, (1 - 1e-9) / service_s
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if md1_response_quantile(0.99, middle, service_s) <= limit_s else (low, middle)
    return low


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per probe (default 1)")
    args = parser.parse_args()
    ray.init(address="local", num_cpus=4, resources={"neuron_cores": 4}, include_dashboard=False,
             _node_ip_address="127.0.0.1", logging_level="WARNING", log_to_driver=False)
    common = {"duration": args.duration, "workers_per_model": 1}
    (one,) = search("1 copy x 1 worker, constant arrivals", SimulatedDevice, n_models=1, search="rate", slo=SLO,
                    **common)
    (two,) = search("2 copies x 1 worker, constant arrivals", SimulatedDevice, n_models=2, search="rate", slo=SLO,
                    **common)
    print(f"\n2 copies / 1 copy = {two['capacity_rate'] / one['capacity_rate']:.3f}")
    (poisson,) = search("1 copy x 1 worker, Poisson arrivals", SimulatedDevice, n_models=1, search="rate", slo=SLO,
                        arrival="poisson", **common)
    service_s = poisson["infer_avg_ms"] / 1e3
    theory = md1_capacity(service_s, SLO["latency_ms_p99"] / 1e3)
    print(f"M/D/1 with the measured service time {service_s * 1e3:.2f} ms: capacity {theory:.1f}/s; "
          f"found {poisson['capacity_rate']:.1f}/s ({poisson['capacity_rate'] / theory - 1:+.0%}; a probe of "
          f"{args.duration:g} s at {theory:.0f}/s holds ~{theory * args.duration:.0f} requests, so its p99 is noisy)")
    search("1 copy, one call at a time, concurrency", make_simulated_device(0.010, locked=True), n_models=1,
           search="concurrency", slo={"latency_ms_p50": 35}, duration=args.duration)
    ray.shutdown()


if __name__ == "__main__":
    main()
