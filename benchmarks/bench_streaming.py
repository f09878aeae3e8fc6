"""The streaming loop's cost per token, and what a token costs the collector. Prints the figures;
no asserts.

Usage:  .venv/bin/python benchmarks/bench_streaming.py [--quick]

1. Per-token cost in-process: a generator that yields as fast as it can (1000 chunks a call),
   read by raybench's streaming burst (a stamp per chunk into a preallocated buffer) against a
   bare Python loop over the same generator (``for chunk in gen: pass``) and a loop that stamps
   each chunk into a Python list; ns per token, best of 5 rounds, alternating.
2. The same generator through Ray copies (1 copy x 1 worker): ``output_tokens_per_s`` against the
   bare loop's tokens/s in a plain Ray actor.
3. Collector bytes per token: the kept timer table's bytes (``Results.timers.nbytes``) over the
   tokens it holds, for 1-token chunks (no ``chunk_tokens`` column) and multi-token list chunks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import ray

import raybench
from raybench.engine.hotloop import TimerBuffer
from raybench.engine.streaming import run_stream_burst

CHUNKS = 1000


class FastStream:
    """Yields ``CHUNKS`` small ints per call, as fast as a generator can."""

    def __call__(self, x):
        for i in range(CHUNKS):
            yield i


class ListChunks:
    """Yields ``CHUNKS`` chunks of 4 tokens each (a list: counted by its length)."""

    def __call__(self, x):
        chunk = [1, 2, 3, 4]
        for _ in range(CHUNKS):
            yield chunk


def bare_ns_per_token(seconds: float) -> float:
    gen, n, end = FastStream(), 0, time.perf_counter() + seconds
    t0 = time.perf_counter_ns()
    while time.perf_counter() < end:
        for _ in gen(None):
            pass
        n += CHUNKS
    return (time.perf_counter_ns() - t0) / n


def list_stamp_ns_per_token(seconds: float) -> float:
    gen, pc, n, end = FastStream(), time.perf_counter_ns, 0, time.perf_counter() + seconds
    t0 = pc()
    while time.perf_counter() < end:
        stamps = []
        for _ in gen(None):
            stamps.append(pc())
        n += CHUNKS
    return (pc() - t0) / n


def raybench_ns_per_token(seconds: float) -> float:
    buf = TimerBuffer(1 << 12, stream=True)
    buf.resize_chunks((1 << 12) * CHUNKS)
    t0 = time.perf_counter_ns()
    deadline = t0 + int(seconds * 1e9)
    tokens = 0
    while time.perf_counter_ns() < deadline:
        buf.clear()
        run_stream_burst(FastStream(), (None,), buf, deadline)
        tokens += buf.n_chunks
    return (time.perf_counter_ns() - t0) / tokens


@ray.remote(num_cpus=1)
def bare_tokens_per_s(seconds: float) -> float:
    return 1e9 / bare_ns_per_token(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short rounds (a smoke run)")
    args = parser.parse_args()
    seconds, rounds = (0.3, 2) if args.quick else (1.5, 5)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

    print(f"1. per-token cost in-process ({CHUNKS} chunks a call, {rounds} alternating rounds of {seconds:g} s)")
    figures: dict[str, list[float]] = {"bare loop": [], "list of stamps": [], "raybench burst": []}
    for _ in range(rounds):
        figures["bare loop"].append(bare_ns_per_token(seconds))
        figures["list of stamps"].append(list_stamp_ns_per_token(seconds))
        figures["raybench burst"].append(raybench_ns_per_token(seconds))
    for name, values in figures.items():
        print(f"   {name:15s} best {min(values):6.1f} ns/token   median {statistics.median(values):6.1f}")
    extra = min(figures["raybench burst"]) - min(figures["bare loop"])
    print(f"   raybench's stamp costs {extra:.1f} ns per token over the bare loop (best against best)")

    ray.init(address="local", include_dashboard=False, num_cpus=2, logging_level="ERROR", log_to_driver=False)
    duration = 1.0 if args.quick else 3.0
    print(f"\n2. through Ray copies, 1 copy x 1 worker, {duration:g} s a config")
    for _ in range(1 if args.quick else 3):
        (report,) = raybench.cpu.benchmark(FastStream, 0, n_models=1, workers_per_model=1, duration=duration,
                                           verbosity=0, batch_sizes=1)
        bare = ray.get(bare_tokens_per_s.remote(duration))
        print(f"   raybench {report['output_tokens_per_s']:12,.0f} tokens/s   bare loop in a Ray actor {bare:12,.0f}"
              f"   ratio {report['output_tokens_per_s'] / bare:.3f}")

    print("\n3. collector bytes per token (kept timer table)")
    for model, kind in ((FastStream, "1-token chunks"), (ListChunks, "4-token list chunks")):
        results = raybench.cpu.benchmark(model, 0, n_models=1, workers_per_model=1, duration=1.0, verbosity=0,
                                         batch_sizes=1, return_timers=True)
        (report,) = raybench.get_reports(results)
        tokens = report["output_tokens_avg"] * report["total_infs"]
        chunks = sum(len(c) for c in results.timers.column("chunk_ns").to_pylist()[:1]) * results.timers.num_rows
        print(f"   {kind:20s} {results.timers.nbytes / tokens:6.2f} bytes/token, {results.timers.nbytes / chunks:6.2f}"
              f" bytes/chunk ({results.timers.num_rows:,} calls, {int(tokens):,} tokens, "
              f"columns {', '.join(results.timers.column_names[4:])})")
    ray.shutdown()


if __name__ == "__main__":
    main()
