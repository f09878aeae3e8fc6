"""Open-loop load, stability and dataset feeding, on an embedded local Ray (CPU). Prints the
figures; no asserts.

Usage:  .venv/bin/python benchmarks/bench_load.py [--quick]

1. Open loop against the simulated 10 ms device (1 copy x 1 worker, so capacity is 100/s):
   constant and Poisson sends at 50 %, 90 % and 120 % load — p50, p99, delayed_pct, dropped,
   deepest queue, whether the target rate was met. Ground truth: at 50 % the p50 is the service
   time; at 120 % the latency grows over the run and the rate is not met.
2. Stability (10 % over three 1 s windows): time to converge for the simulated device and a
   no-op model; min_infs: how long 3000 inferences of 10 ms with 2 workers take.
3. Dataset feeding cost: a no-op model fed from a looping in-memory list, against the same
   model with a fixed input (calls/s of one worker).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import raybench
from raybench.testing import NoopModel, SimulatedDevice

COMMON = {"device_type": "cpu", "verbosity": 0, "n_models": 1}


def one(reports: list[dict]) -> dict:
    (report,) = reports
    return report


def open_loop(duration: float) -> None:
    print("1. open loop, simulated 10 ms device, 1 copy x 1 worker (capacity 100/s)")
    print(f"   {'arrival':9} {'load':>5} {'p50 ms':>8} {'p99 ms':>9} {'delayed %':>9} {'dropped':>7} "
          f"{'queue max':>9} {'rate met':>8} {'inf/s':>7}")
    for arrival in ("constant", "poisson"):
        for load in (0.5, 0.9, 1.2):
            results = raybench.cpu.benchmark(
                SimulatedDevice, np.zeros(2), workers_per_model=1, duration=duration, arrival=arrival,
                rate=100 * load, return_timers=True, **COMMON,
            )
            r = one(raybench.get_reports(results))
            t = results.timers
            latency_ms = (t["end_ns"].to_numpy() - t["start_ns"].to_numpy()) / 1e6
            tenth = max(latency_ms.size // 10, 1)
            drift = f"   first/last tenth p50 {np.median(latency_ms[:tenth]):.1f} / {np.median(latency_ms[-tenth:]):.1f} ms"
            print(f"   {arrival:9} {load:5.0%} {r['latency_ms_p50']:8.2f} {r['latency_ms_p99']:9.2f} "
                  f"{r['delayed_pct']:9.1f} {r['dropped']:7d} {r['queue_depth_max']:9d} {r['rate_met']!s:>8} "
                  f"{r['throughput_avg']:7.1f}" + (drift if load > 1 else ""))


def stability(max_duration: float) -> None:
    print("2. stability=0.1 over three 1 s windows (time from the common start to the stop)")
    for name, model, workers in (("simulated 10 ms", SimulatedDevice, 1), ("no-op", NoopModel, 1)):
        r = one(raybench.cpu.benchmark(model, np.zeros(2), workers_per_model=workers, duration=60, stability=0.1,
                                       max_duration=max_duration, **COMMON))
        print(f"   {name:16} converged={r['converged']!s:5} after {r['total_s']:.2f} s "
              f"({r['total_infs']:,} inferences, p50 {r['latency_ms_p50']:.4f} ms)")
    r = one(raybench.cpu.benchmark(SimulatedDevice, np.zeros(2), workers_per_model=2, duration=1, min_infs=3000,
                                   max_duration=60, **COMMON))
    print(f"   min_infs=3000, 10 ms x 2 workers, duration 1 s: {r['total_infs']:,} inferences in {r['total_s']:.2f} s "
          "(ideal 15.0 s)")


def dataset_cost(duration: float) -> None:
    print("3. feeding cost, no-op model, 1 copy x 1 worker")
    fixed = one(raybench.cpu.benchmark(NoopModel, np.zeros(2), workers_per_model=1, duration=duration, **COMMON))
    items = [np.full(2, float(i)) for i in range(10_000)]
    fed = one(raybench.cpu.benchmark(NoopModel, items, loop_dataset=True, workers_per_model=1, duration=duration,
                                     **COMMON))
    paced = one(raybench.cpu.benchmark(NoopModel, np.zeros(2), workers_per_model=1, duration=duration,
                                       arrival="constant", rate=20_000, **COMMON))
    print(f"   fixed input: {fixed['throughput_avg']:,.0f} calls/s; dataset (looping list): "
          f"{fed['throughput_avg']:,.0f} calls/s, fetch {fed['input_avg_ms'] * 1000:.2f} us/call; "
          f"open loop at 20,000/s: {paced['throughput_avg']:,.0f} calls/s, delayed {paced['delayed_pct']:.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier figures)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    duration = 4.0 if args.quick else 10.0
    open_loop(duration)
    stability(20.0 if args.quick else 60.0)
    dataset_cost(3.0 if args.quick else 5.0)


if __name__ == "__main__":
    main()
