"""Time ``compute_report`` on a large timer table against ``np.percentile`` on its latencies.

The budget is 3x: a report does much more than the percentiles (stage means, per-worker spans,
throughput buckets), but all of it must stay O(n) on numpy views, so the percentile partition
should remain the dominant cost.

Usage::

    PYTHONPATH=. python benchmarks/bench_reports.py [--rows 10000000] [--error-rate 0.001]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from raybench.core.schema import TIMER_SCHEMA, ConfigOutcome, CopyOutcome, RunConfig
from raybench.report.reports import compute_report

_T0_NS = 1_700_000_000 * 1_000_000_000
_N_COPIES = 16
_WORKERS_PER_COPY = 4
_PERCENTILES = [0, 50, 90, 95, 99, 100]


def build_table(n_rows: int, error_rate: float, chunk_rows: int, seed: int = 0) -> pa.Table:
    """A timer table like a 16-copy x 4-worker run of a ~1 ms model, shipped in bursts.

    Args:
        n_rows: Rows to generate (rounded down to a multiple of the worker count).
        error_rate: Fraction of rows marked not ok.
        chunk_rows: Rows per record batch, as a copy would ship them.
        seed: Random seed.

    Returns:
        A ``TIMER_SCHEMA`` table, rows in time order with the workers interleaved.
    """
    rng = np.random.default_rng(seed)
    n_workers = _N_COPIES * _WORKERS_PER_COPY
    per_worker = n_rows // n_workers
    # Log-normal service time around 1 ms plus a few microseconds of harness gap per call.
    latency = rng.lognormal(np.log(1e6), 0.15, (per_worker, n_workers)).astype(np.int64)
    gap = rng.integers(500, 3_000, (per_worker, n_workers))
    end = _T0_NS + np.cumsum(latency + gap, axis=0)
    start = end - latency
    worker = np.broadcast_to(np.arange(n_workers, dtype=np.int32), (per_worker, n_workers))
    copy_id = (worker // _WORKERS_PER_COPY).ravel()
    nodes = np.where(copy_id < _N_COPIES // 2, 0, 1).astype(np.int32)
    table = pa.table(
        {
            "config_id": pa.array(np.zeros(copy_id.size, np.int32)),
            "copy_id": pa.array(copy_id),
            "worker_id": pa.array((worker % _WORKERS_PER_COPY).ravel()),
            "node_id": pa.DictionaryArray.from_arrays(nodes, pa.array(["node-a", "node-b"])),
            "start_ns": pa.array(start.ravel()),
            "end_ns": pa.array(end.ravel()),
            "input_ns": pa.nulls(copy_id.size, pa.int64()),
            "preprocess_ns": pa.nulls(copy_id.size, pa.int64()),
            "infer_ns": pa.array((latency - gap // 2).ravel()),
            "postprocess_ns": pa.nulls(copy_id.size, pa.int64()),
            "ok": pa.array(rng.random(copy_id.size) >= error_rate),
        },
        schema=TIMER_SCHEMA,
    )
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk_rows), TIMER_SCHEMA)


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Fastest of ``repeat`` calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    """Build the table, time both, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--chunk-rows", type=int, default=65_536)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    table = build_table(args.rows, args.error_rate, args.chunk_rows)
    start = table.column("start_ns").to_numpy()
    end = table.column("end_ns").to_numpy()
    latencies = (end - start)[table.column("ok").to_numpy(zero_copy_only=False)]
    config = RunConfig(
        config_id=0, model_filename="bench.pt", model_name="bench", device_type="cpu",
        batch_size=1, input_index=0, n_models=_N_COPIES, workers_per_model=_WORKERS_PER_COPY,
    )  # fmt: skip
    copies = tuple(
        CopyOutcome(i, "node-a" if i < _N_COPIES // 2 else "node-b", load_ns=2_000_000_000,
                    cpu_percent=(40.0, 55.0, 60.0), mem_percent=(20.0, 21.0))
        for i in range(_N_COPIES)
    )  # fmt: skip
    outcome = ConfigOutcome(
        0, "finished", start_ns=_T0_NS, stop_ns=int(end.max()) + 1, copies=copies
    )

    report_s = best_of(args.repeat, lambda: compute_report(config, outcome, table))
    percentile_s = best_of(args.repeat, lambda: np.percentile(latencies, _PERCENTILES))
    report = compute_report(config, outcome, table)

    print(
        f"rows={table.num_rows:,} chunks={table.column('start_ns').num_chunks} "
        f"error_rate={args.error_rate} ok_rows={latencies.size:,}"
    )
    print(f"compute_report best of {args.repeat}: {report_s * 1e3:8.1f} ms")
    print(f"np.percentile  best of {args.repeat}: {percentile_s * 1e3:8.1f} ms")
    print(f"ratio: {report_s / percentile_s:.2f}x (budget 3x)")
    expected_ms = (np.percentile(latencies, _PERCENTILES) / 1e6).tolist()
    reported_ms = [report[f"latency_ms_p{q}"] for q in _PERCENTILES]
    print(f"latency percentiles identical to np.percentile: {reported_ms == expected_ms}")
    print(
        f"check: p50={report['latency_ms_p50']:.4f} ms, "
        f"throughput_avg={report['throughput_avg']:.1f}/s, total_s={report['total_s']:.1f} s"
    )


if __name__ == "__main__":
    main()
