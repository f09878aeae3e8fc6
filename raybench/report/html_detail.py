"""The HTML report's breakdown: each config by node (:func:`~raybench.report.results.get_node_reports`)
and by model copy (the copies' outcomes, with each copy's own latency from the timers), so a slow
node or a straggling copy stands out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.compute as pc

from raybench.core.errors import one_line
from raybench.core.units import NS_PER_MS, NS_PER_S
from raybench.report.html_parts import Column, table, with_values
from raybench.report.results import Results, get_node_reports
from raybench.report.stats import linear_percentiles

NODE_COLUMNS: tuple[Column, ...] = (
    Column("config_id", "#"), Column("node_id", "node", numeric=False), Column("n_copies", "copies"),
    Column("total_infs", "inferences"), Column("n_errors", "errors"), Column("throughput_avg", "throughput (samples/s)"),
    Column("throughput_peak", "peak (samples/s)"), Column("latency_ms_p50", "p50 (ms)"),
    Column("latency_ms_p99", "p99 (ms)"), Column("e2e_avg_ms", "e2e avg (ms)"),
    Column("cpu_avg_percent", "host CPU (%)"), Column("copy_cpu_avg_percent", "copy CPU (% of a core)"),
    Column("copy_rss_max_mb", "copy RSS max (MB)"), Column("host_saturated", "host saturated"),
    Column("neuroncore_util_avg", "NeuronCore util (%)"), Column("gpu_util_avg", "GPU util (%)"),
)  # fmt: skip
COPY_COLUMNS: tuple[Column, ...] = (
    Column("config_id", "#"), Column("copy_id", "copy"), Column("node_id", "node", numeric=False),
    Column("visible_cores", "NeuronCores", numeric=False), Column("n_infs", "inferences"),
    Column("n_errors", "errors"), Column("infs_per_s", "inferences/s"), Column("latency_ms_p50", "p50 (ms)"),
    Column("latency_ms_p99", "p99 (ms)"), Column("load_ms", "load (ms)"), Column("warmup_infs", "warmup infs"),
    Column("warmup_avg_ms", "warmup avg (ms)"), Column("cpu_avg_percent", "host CPU (%)"),
    Column("mem_avg_percent", "mem avg (%)"), Column("copy_cpu_avg_percent", "copy CPU (% of a core)"),
    Column("copy_rss_max_mb", "RSS max (MB)"), Column("error", "error", numeric=False),
)  # fmt: skip
TELEMETRY_COLUMNS: tuple[Column, ...] = (
    Column("config_id", "#"), Column("source", "source", numeric=False), Column("metric", "metric", numeric=False),
    Column("series", "series"), Column("samples", "samples"), Column("mean", "mean"), Column("max", "max"),
)  # fmt: skip
#: Up to this many rows a breakdown table shows at once; a longer one starts folded.
OPEN_ROWS = 40


def breakdown_section(results: Results) -> str:
    """The per-node table, then the per-copy table, each folded when long."""
    nodes = get_node_reports(results)
    copies = copy_rows(results)
    copy_table = table(copies, with_values(COPY_COLUMNS, copies, keep=COPY_COLUMNS[:3]), table_id="copies",
                       bad=[bool(r["error"]) or bool(r["n_errors"]) for r in copies])
    return (_folded("Per node", table(nodes, with_values(NODE_COLUMNS, nodes, keep=NODE_COLUMNS[:3]),
                                      table_id="nodes"), len(nodes))
            + _folded("Per copy", copy_table, len(copies)))


def telemetry_section(results: Results) -> str:
    """Each config's telemetry series summarised: per source and metric, how many series (a copy
    or a node each), samples, mean and max. The raw table is ``results.telemetry``."""
    summary: dict[tuple[int, str, str], dict[str, Any]] = {}
    for row in results.telemetry.to_pylist():
        entry = summary.setdefault((row["config_id"], row["source"], row["metric"]), {"keys": set(), "values": []})
        entry["keys"].add((row["node_id"], row["copy_id"]))
        entry["values"].append(row["value"])
    rows = [{"config_id": c, "source": s, "metric": m, "series": len(e["keys"]), "samples": len(e["values"]),
             "mean": float(np.mean(e["values"])), "max": float(np.max(e["values"]))}
            for (c, s, m), e in sorted(summary.items())]
    if not rows:
        return '<p class="note">No telemetry was recorded (a run from before telemetry, or its file is missing).</p>'
    return _folded("Telemetry", table(rows, TELEMETRY_COLUMNS, table_id="telemetry"), len(rows))


def _folded(what: str, html: str, n_rows: int) -> str:
    state = " open" if n_rows <= OPEN_ROWS else ""
    return f"<details{state}><summary><strong>{what}</strong> ({n_rows} rows)</summary>{html}</details>"


def copy_rows(results: Results) -> list[dict[str, Any]]:
    """One row per model copy of every config: where it ran, what it did, and its own latency.

    ``infs_per_s`` is the copy's inferences over its config's measured window; ``latency_ms_p50``
    and ``_p99`` are over the copy's ok rows (linear interpolation, like the reports).
    """
    ids, ok = results.timers.column("config_id"), results.timers.column("ok")
    rows = []
    for outcome in results.outcomes:
        window_s = None
        if outcome.start_ns is not None and outcome.stop_ns is not None and outcome.stop_ns > outcome.start_ns:
            window_s = (outcome.stop_ns - outcome.start_ns) / NS_PER_S
        mine = results.timers.filter(pc.and_(pc.equal(ids, outcome.config_id), ok))
        copy_of = mine.column("copy_id").to_numpy()
        latency_ns = mine.column("end_ns").to_numpy() - mine.column("start_ns").to_numpy()
        for copy in outcome.copies:
            own = latency_ns[copy_of == copy.copy_id]  # a fresh array: the percentiles reorder it
            p50, p99 = linear_percentiles(own, [50, 99]) if own.size else (None, None)
            rows.append({
                "config_id": outcome.config_id, "copy_id": copy.copy_id, "node_id": copy.node_id,
                "visible_cores": copy.visible_cores, "n_infs": copy.n_infs, "n_errors": copy.n_errors,
                "infs_per_s": copy.n_infs / window_s if window_s else None,
                "latency_ms_p50": None if p50 is None else p50 / NS_PER_MS,
                "latency_ms_p99": None if p99 is None else p99 / NS_PER_MS,
                "load_ms": None if copy.load_ns is None else copy.load_ns / NS_PER_MS,
                "warmup_infs": copy.warmup_infs,
                "warmup_avg_ms": copy.warmup_sum_ns / copy.warmup_infs / NS_PER_MS if copy.warmup_infs else None,
                "cpu_avg_percent": _mean(copy.cpu_percent), "mem_avg_percent": _mean(copy.mem_percent),
                "copy_cpu_avg_percent": copy.copy_cpu_avg_percent, "copy_rss_max_mb": copy.copy_rss_max_mb,
                "error": one_line(copy.error),
            })  # fmt: skip
    return rows


def _mean(values: tuple[float, ...]) -> float | None:
    return float(np.mean(values)) if values else None
