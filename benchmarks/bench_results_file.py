"""What the config columns cost in a results file: bytes per inference of the Parquet file with
and without them. Prints the figures; no asserts.

Usage:  .venv/bin/python benchmarks/bench_results_file.py [--rows N]

Synthetic timers (TIMER_SCHEMA, 8 configs of N/8 rows each, 4 copies x 2 workers per config,
10 ms +- jitter latencies, rows in the order the collector keeps them) are written twice: by
``raybench.write_results`` (the config columns ``n_models``, ``workers_per_model``... beside every
row, dictionary encoded) and as the bare timer table (pyarrow's ``write_table``, the same
default options). The difference is what makes the file self-describing to duckdb or pandas.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import raybench
from raybench.core.schema import STATUS_FINISHED, ConfigOutcome, RunConfig, timer_schema


def synthetic(rows: int) -> raybench.Results:
    rng = np.random.default_rng(0)
    per_config = rows // 8
    configs, outcomes, tables = [], [], []
    for config_id in range(8):
        n_models, workers = 1 + config_id % 4, 1 + config_id // 4
        configs.append(RunConfig(config_id, "m.pt", "m", "cpu", 1, 0, n_models, workers))
        outcomes.append(ConfigOutcome(config_id, STATUS_FINISHED))
        start = np.sort(rng.integers(0, 60 * 10**9, per_config)) + 1_700_000_000 * 10**9
        end = start + rng.normal(10e6, 1e6, per_config).astype(np.int64)
        copy, worker = np.arange(per_config) % 4, (np.arange(per_config) // 4) % 2
        tables.append(pa.table({
            "config_id": pa.array(np.full(per_config, config_id, np.int16)),
            "copy_id": pa.array(np.sort(copy).astype(np.int16)),
            "worker_id": pa.array(worker.astype(np.int16)),
            "node_id": pa.DictionaryArray.from_arrays(pa.array(np.zeros(per_config, np.int16)), pa.array(["n0"])),
            "start_ns": start, "end_ns": end, "ok": pa.array(np.ones(per_config, bool)),
        }, schema=timer_schema(())))
    return raybench.Results(configs, outcomes, pa.concat_tables(tables))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4_000_000, help="timer rows (default 4M)")
    args = parser.parse_args()
    results = synthetic(args.rows)
    rows = results.timers.num_rows
    with tempfile.TemporaryDirectory() as tmp:
        with_columns = raybench.write_results(results, os.path.join(tmp, "with.parquet"))
        bare = os.path.join(tmp, "bare.parquet")
        pq.write_table(results.timers, bare)
        size_with, size_bare = os.path.getsize(with_columns), os.path.getsize(bare)
        readable = raybench.read_results(with_columns).timers.num_rows == rows
    print(f"{rows:,} timer rows in 8 configs")
    print(f"  bare timer table:          {size_bare / rows:7.3f} bytes per inference ({size_bare / 1e6:.1f} MB)")
    print(f"  with the config columns:   {size_with / rows:7.3f} bytes per inference ({size_with / 1e6:.1f} MB)")
    print(f"  the config columns cost:   {(size_with - size_bare) / rows:7.3f} bytes per inference "
          f"({100 * (size_with / size_bare - 1):+.2f} %); read back: {readable}")


if __name__ == "__main__":
    main()
