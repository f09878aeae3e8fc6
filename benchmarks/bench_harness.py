"""Harness cost and fidelity, on an embedded local Ray (CPU). Prints the figures; no asserts.

Usage:  .venv/bin/python benchmarks/bench_harness.py [--quick]

1. Harness ceiling: a no-op model, 1 copy x 1 worker, inferences/s divided by a raw timed
   Python loop (two perf_counter_ns calls and a numpy store per call) run in the same process
   kind (a Ray actor) in the same run. Target >= 0.8.
2. Fidelity: a simulated 10 ms device (sleep), n_models {1,2} x workers {1,2}: p50 against the
   measured median of time.sleep(0.010), throughput against n*w / mean(sleep). Target within 1 %.
3. Per-config wall time with Ray up, beyond duration. Target <= duration + 1 s.
4. A 10 s no-op run at full speed: time from the call to the reports. Target <= duration + 1.5 s.
5. Collector memory per recorded inference (timer bytes held / rows). Target <= 24 bytes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import numpy as np
import ray

import raybench
from raybench.run.actors import shared_collector
from raybench.testing import NoopModel, SimulatedDevice


@ray.remote(num_cpus=1)
def raw_timed_loop(seconds: float) -> float:
    """Calls/s of the bare loop raybench's hot loop is compared with."""
    pc = time.perf_counter_ns
    model = NoopModel()
    buf = np.zeros(1 << 22, np.int64)
    n = 0
    end = pc() + int(seconds * 1e9)
    t_start = pc()
    while True:
        for i in range(len(buf)):
            t0 = pc()
            model()
            t1 = pc()
            buf[i] = t1 - t0
            if t1 >= end:
                n += i + 1
                return n / ((pc() - t_start) / 1e9)
        n += len(buf)


@ray.remote(num_cpus=1)
def sleep_floor(seconds: float, n: int) -> tuple[float, float]:
    """Median and mean of time.sleep(seconds) on a Ray worker, in seconds."""
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        time.sleep(seconds)
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1e9, statistics.fmean(samples) / 1e9


def harness_ceiling(duration: float, rounds: int = 3) -> None:
    """Alternate raw loop and raybench runs; the box is shared, so report every round."""
    ratios = []
    for round_no in range(rounds):
        raw = ray.get(raw_timed_loop.remote(duration))
        (report,) = raybench.cpu.benchmark(NoopModel, (), n_models=1, workers_per_model=1, duration=duration,
                                           verbosity=0)
        rate = report["total_infs"] / report["total_s"]
        ratios.append(rate / raw)
        print(f"[1] harness ceiling, round {round_no + 1}: raybench {rate / 1e6:.2f} M inf/s, "
              f"raw loop {raw / 1e6:.2f} M/s -> {rate / raw:.2f}")
    print(f"[1] harness ceiling: median ratio {statistics.median(ratios):.2f} (target >= 0.8)")


def fidelity(duration: float) -> None:
    floor_p50, floor_mean = ray.get(sleep_floor.remote(SimulatedDevice.service_time_s, 300))
    t0 = time.monotonic()
    reports = raybench.cpu.benchmark(SimulatedDevice, 1, n_models=[1, 2], workers_per_model=[1, 2],
                                     duration=duration, verbosity=0)
    wall = time.monotonic() - t0
    print(f"[2] fidelity: sleep(10 ms) floor p50 {floor_p50 * 1e3:.4f} ms, mean {floor_mean * 1e3:.4f} ms")
    for r in reports:
        ideal_tp = r["n_models"] * r["workers_per_model"] / floor_mean
        p50_err = (r["latency_ms_p50"] / 1e3 - floor_p50) / floor_p50 * 100
        tp_err = (r["throughput_avg"] - ideal_tp) / ideal_tp * 100
        print(f"    n_models={r['n_models']} workers={r['workers_per_model']}: p50 {r['latency_ms_p50']:.4f} ms "
              f"({p50_err:+.2f} %), throughput {r['throughput_avg']:.1f}/s vs ideal {ideal_tp:.1f} ({tp_err:+.2f} %)")
    per_config = wall / len(reports)
    print(f"[3] per-config wall time: {per_config:.2f} s for duration {duration:g} s "
          f"(+{per_config - duration:.2f} s; 4 configs, copies spawned for the first config of a pool included)")


def full_speed(duration: float) -> None:
    t0 = time.monotonic()
    (report,) = raybench.cpu.benchmark(NoopModel, (), n_models=1, workers_per_model=1, duration=duration, verbosity=0)
    reports_only = time.monotonic() - t0
    print(f"[4] {duration:g} s no-op run: {report['total_infs'] / 1e6:.1f} M inferences; reports returned after "
          f"{reports_only:.2f} s (+{reports_only - duration:.2f} s; target +1.5 s)")

    t0 = time.monotonic()
    results, peak = run_with_collector_polling(duration)
    with_timers = time.monotonic() - t0
    rows = results.timers.num_rows
    print(f"[4] with all {rows / 1e6:.1f} M raw timers handed back to the driver: {with_timers:.2f} s "
          f"(+{with_timers - duration:.2f} s)")
    print(f"[5] collector memory: timer data held at peak {peak['held'] / rows:.2f} bytes per inference "
          f"(target <= 24); process RSS growth at peak {peak['rss_growth'] / rows:.2f} bytes per inference "
          f"(includes the transient latency array of the report and the hand-off)")


def run_with_collector_polling(duration: float, **kwargs: object) -> tuple[raybench.Results, dict[str, int]]:
    """A full-speed no-op run that keeps its timers, with the collector's timer bytes and RSS
    growth polled every 0.2 s; returns the results and the peaks."""
    collector = shared_collector()
    base_rss = ray.get(collector.rss_bytes.remote())
    peak = {"held": 0, "rss_growth": 0}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            held, rss = ray.get([collector.held_bytes.remote(), collector.rss_bytes.remote()])
            peak["held"], peak["rss_growth"] = max(peak["held"], held), max(peak["rss_growth"], rss - base_rss)
            time.sleep(0.2)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        results = raybench.cpu.benchmark(NoopModel, (), n_models=1, workers_per_model=1, duration=duration,
                                         verbosity=0, return_timers=True, **kwargs)
    finally:
        done.set()
        poller.join()
    return results, peak  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter durations (a smoke run, not the figures)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="WARNING")
    short = 1.0 if args.quick else 5.0
    harness_ceiling(short)
    fidelity(short)
    full_speed(2.0 if args.quick else 10.0)
    ray.shutdown()


if __name__ == "__main__":
    main()
