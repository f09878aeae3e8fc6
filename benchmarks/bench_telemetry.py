"""What the telemetry sampler costs: throughput of a no-op model, 1 copy x 1 worker on an embedded
Ray, with the sampler reading every 0.05 s (10x the default rate) against every 1000 s (it then
reads only at the start and the end: off, in effect), in alternating rounds. Prints the figures.

Usage:  .venv/bin/python benchmarks/bench_telemetry.py [--rounds N] [--duration S]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import ray

import raybench
from raybench.testing import NoopModel


def throughput(interval_s: float, duration: float) -> tuple[float, int]:
    results = raybench.cpu.benchmark(NoopModel, np.zeros(1), batch_sizes=1, n_models=1, workers_per_model=1,
                                     duration=duration, stats_interval=interval_s, return_timers=True, verbosity=0)
    (report,) = raybench.get_reports(results)
    return report["throughput_avg"], results.telemetry.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    ray.init(address="local", include_dashboard=False, num_cpus=2, _system_config={"worker_niceness": 0})
    on, off = [], []
    for round_ in range(args.rounds):
        for interval, into in ((0.05, on), (1000.0, off)) if round_ % 2 == 0 else ((1000.0, off), (0.05, on)):
            value, rows = throughput(interval, args.duration)
            into.append(value)
            print(f"round {round_}: stats_interval {interval:g} s: {value:,.0f} inferences/s, {rows} telemetry rows")
    ratio = [a / b for a, b in zip(on, off)]
    print(f"sampler every 0.05 s / effectively off: median {statistics.median(ratio):.3f} "
          f"(rounds {min(ratio):.3f}-{max(ratio):.3f}); on {statistics.median(on):,.0f}/s, off {statistics.median(off):,.0f}/s")


if __name__ == "__main__":
    main()
