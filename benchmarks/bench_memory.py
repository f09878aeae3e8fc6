"""Memory of very fast models: a no-op model at full speed for 30 s, and the timer budget.

Usage:  .venv/bin/python benchmarks/bench_memory.py [--duration 30]

Prints bytes per recorded inference (timer data the collector holds, and its process's RSS
growth) at their peak, and shows that a run over ``max_timer_rows`` stops at exactly its budget.
"""

from __future__ import annotations

import argparse
import os
import time

import ray
from bench_harness import run_with_collector_polling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="WARNING")
    t0 = time.monotonic()
    results, peak = run_with_collector_polling(args.duration)
    rows = results.timers.num_rows
    print(f"{args.duration:g} s no-op run: {rows / 1e6:.1f} M inferences recorded in {time.monotonic() - t0:.1f} s; "
          f"collector timer data at peak {peak['held'] / 1e6:.0f} MB = {peak['held'] / rows:.2f} B/inference; "
          f"collector RSS growth at peak {peak['rss_growth'] / 1e6:.0f} MB = {peak['rss_growth'] / rows:.2f} B/inference")
    budget = rows // 10
    t0 = time.monotonic()
    capped, capped_peak = run_with_collector_polling(args.duration, max_timer_rows=budget)
    (report,) = capped.reports.to_pylist()
    print(f"same run with max_timer_rows={budget:,}: {capped.timers.num_rows:,} rows kept, stopped after "
          f"{time.monotonic() - t0:.1f} s, collector timer data at peak {capped_peak['held'] / 1e6:.0f} MB; "
          f"report error: {report['error']!r}")
    ray.shutdown()


if __name__ == "__main__":
    main()
