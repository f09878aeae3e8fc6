"""What the telemetry sampler costs: throughput of a no-op model, 1 copy x 1 worker on an embedded
Ray, with the sampler reading every --interval seconds (default 0.5, raybench's stats_interval)
against every 1000 s (it then reads only at the start and the end: off, in effect), in
alternating rounds. Prints the figures.

Usage:  .venv/bin/python benchmarks/bench_telemetry.py [--rounds N] [--duration S] [--interval S]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import ray

import raybench
from raybench.telemetry.sampler import copy_sources
from raybench.testing import NoopModel


def throughput(interval_s: float, duration: float) -> tuple[float, int]:
    results = raybench.cpu.benchmark(NoopModel, np.zeros(1), batch_sizes=1, n_models=1, workers_per_model=1,
                                     duration=duration, stats_interval=interval_s, return_timers=True, verbosity=0)
    (report,) = raybench.get_reports(results)
    return report["throughput_avg"], results.telemetry.num_rows


def reading_cost_us(n: int = 2000) -> float:
    """CPU microseconds one reading of a copy's sources takes (host and process), in this process."""
    sources = copy_sources(0)
    for source in sources:
        source.sample(time.time_ns())  # prime
    start = time.process_time_ns()
    for _ in range(n):
        for source in sources:
            source.sample(time.time_ns())
    return (time.process_time_ns() - start) / n / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    cost = reading_cost_us()
    print(f"one reading of host + process: {cost:.0f} µs of CPU; at every {args.interval:g} s that is "
          f"{cost / (args.interval * 1e6) * 100:.3f} % of one core, holding the GIL at most that long")
    ray.init(address="local", include_dashboard=False, num_cpus=2, _system_config={"worker_niceness": 0})
    on, off = [], []
    for round_ in range(args.rounds):
        pairs = ((args.interval, on), (1000.0, off))
        for interval, into in pairs if round_ % 2 == 0 else pairs[::-1]:
            value, rows = throughput(interval, args.duration)
            into.append(value)
            print(f"round {round_}: stats_interval {interval:g} s: {value:,.0f} inferences/s, {rows} telemetry rows")
    ratio = [a / b for a, b in zip(on, off)]
    print(f"sampler every {args.interval:g} s / effectively off: median {statistics.median(ratio):.3f} "
          f"(rounds {min(ratio):.3f}-{max(ratio):.3f}); on {statistics.median(on):,.0f}/s, off {statistics.median(off):,.0f}/s")


if __name__ == "__main__":
    main()
