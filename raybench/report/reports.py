"""Reports: pure functions from one config's outcome and raw timers to one report row.

A report is a flat ``dict`` whose keys follow :data:`REPORT_FIELDS`. Missing values are None and
numbers are plain Python ``int``/``float``, so a report goes straight to CSV, JSON or a DataFrame.

Statistics are taken over the pooled raw samples of every worker of every copy, never averaged
per copy. Percentiles use linear interpolation between the closest ranks (numpy's default
method, Hyndman & Fan definition 7). Throughput counts ok inferences by the one-second bucket in
which they ended, measured from the common start of the copies.

A config can hold tens of millions of timer rows, so the work is done on numpy views of the int64
columns in O(n): no sorting, no Python loop over rows, and the latency array is computed once and
then partitioned in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raybench.core.errors import one_line
from raybench.core.schema import STATUS_FINISHED, ConfigOutcome, CopyOutcome, RunConfig
from raybench.core.units import NS_PER_MS, NS_PER_S
from raybench.core.slo import LATENCY_PERCENTILES, percentile_field, thresholds_of
from raybench.report.capacity import slo_decided
from raybench.report.pairing import SATURATED_CPU_PERCENT
from raybench.report.stats import linear_percentiles
from raybench.report.streams import SLO_FIELDS, STREAM_FIELDS, Requests, ok_requests, slo_fields, stream_fields
from raybench.report.timer_fields import PERCENTILES, timer_fields
from raybench.telemetry.summary import DEVICE_FIELDS, device_fields

#: Report keys, in the order they are declared (and printed / written).
REPORT_FIELDS: tuple[str, ...] = (
    # config
    "config_id", "model_filename", "model_name", "device_type", "instance_type", "batch_size",
    "n_models", "workers_per_model", "pipeline_size", "n_devices", "cpus_per_copy", "performance_level",
    "cast_mode", "multiprocess", "multiinterpreter", "start_dts", "stop_dts", "duration", "status", "error",
    "n_errors", "n_nodes", "arrival", "target_rate", "converged", "dataset_exhausted", "search", "search_id", "probe",
    # stage and timing averages
    "load_avg_ms", "warmup_avg_ms", "warmup_infs", "warmup_s", "env_setup_avg_ms", "setup_avg_ms",
    "queue_avg_ms", "input_avg_ms", "preprocess_avg_ms", "infer_avg_ms", "postprocess_avg_ms",
    "e2e_avg_ms", "worker_avg_s",
    # totals
    "total_infs", "total_s",
    # system
    "cpu_avg_percent", *(f"cpu_percent_p{q}" for q in PERCENTILES),
    "mem_avg_percent", *(f"mem_percent_p{q}" for q in PERCENTILES),
    "copy_cpu_avg_percent", "copy_rss_max_mb", "host_saturated",
    # device telemetry (neuron-monitor, NVML), beside raybench's own client-side latency
    *DEVICE_FIELDS,
    # latency
    *(percentile_field("latency_ms", q) for q in LATENCY_PERCENTILES),
    # throughput and cost
    "throughput_avg", "throughput_peak", "cost_per_1m_inf",
    # open-loop load
    "delayed_pct", "dropped", "queue_depth_max", "rate_met",
    # streaming calls, and SLOs
    *STREAM_FIELDS, *SLO_FIELDS,
)  # fmt: skip

def compute_report(
    config: RunConfig,
    outcome: ConfigOutcome,
    timers: pa.Table,
    *,
    cost_per_hour: float | None = None,
    slo: dict[str, float] | None = None,
) -> dict[str, object]:
    """Summarise one config into a report row.

    Latency is ``end_ns - start_ns`` of the ok rows; errors are counted in ``n_errors`` and kept
    out of every latency, stage and throughput figure. When no ok row has an ``infer_ns`` (the
    model ran without pre/postprocess stages, so the timed span is the model call itself),
    ``infer_avg_ms`` equals ``e2e_avg_ms``. ``throughput_avg`` is the mean count of the one-second
    buckets without the first and the last (a partial start and end would drag it down); runs
    shorter than three buckets fall back to ``total_infs * batch_size / total_s``.
    ``throughput_peak`` is the largest count among buckets that lie wholly inside the
    measurement, and never less than ``throughput_avg``.

    Args:
        config: The config that was run.
        outcome: How it ended, with one :class:`~raybench.core.schema.CopyOutcome` per copy.
        timers: This config's rows of the timer table (``TIMER_SCHEMA``); any number of rows
            and chunks.
        cost_per_hour: Price of the instance per hour, for ``cost_per_1m_inf`` (and
            ``cost_per_1m_tokens``).
        slo: The SLO, for ``goodput``, the attainment figures and ``slo_ok``
            (:func:`~raybench.report.streams.slo_fields`).

    Returns:
        The report, keyed in :data:`REPORT_FIELDS` order.
    """
    report: dict[str, object] = {
        "config_id": config.config_id,
        "model_filename": config.model_filename,
        "model_name": config.model_name,
        "device_type": config.device_type,
        "instance_type": outcome.instance_type,
        "batch_size": config.batch_size,
        "n_models": config.n_models,
        "workers_per_model": config.workers_per_model,
        "pipeline_size": config.pipeline_size,
        "n_devices": config.n_models * config.pipeline_size,
        "cpus_per_copy": config.cpus_per_copy,
        "performance_level": config.performance_level,
        "cast_mode": config.cast_mode,
        "multiprocess": config.multiprocess,
        "multiinterpreter": config.multiinterpreter,
        "start_dts": iso_utc(outcome.start_ns),
        "stop_dts": iso_utc(outcome.stop_ns),
        "duration": config.measure.duration_s,
        "status": outcome.status,
        "error": one_line(_first_error(outcome)),  # the outcome keeps the whole message
        "n_nodes": _count_nodes(outcome, timers),
        "search": config.search,
        "search_id": config.search_id,
        "probe": config.probe,
    }
    copies = outcome.copies
    report["load_avg_ms"] = _mean_ms(c.load_ns for c in copies)
    report.update(_warmup_fields(copies))
    report.update(_load_fields(config, outcome))
    if report["error"] is None and outcome.status == STATUS_FINISHED:
        report["error"] = _unmet_schedule_note(config, outcome) or _dropped_output_note(outcome)
    report["env_setup_avg_ms"] = _mean_ms(c.env_setup_ns for c in copies)
    report["setup_avg_ms"] = _mean_ms(c.setup_ns for c in copies)
    report.update(timer_fields(timers, outcome, config.batch_size))
    report.update(_sample_fields("cpu", [x for c in copies for x in c.cpu_percent]))
    report.update(_sample_fields("mem", [x for c in copies for x in c.mem_percent]))
    report.update(copy_fields(copies))
    report.update(device_fields(copies, report["total_infs"]))
    throughput = report["throughput_avg"]
    report["cost_per_1m_inf"] = (
        cost_per_hour * 1e6 / (3600 * throughput)
        if cost_per_hour is not None and isinstance(throughput, float) and throughput > 0
        else None
    )
    streamed = "chunk_ns" in timers.column_names
    # Per-request arrays only when a figure needs them: a stream's chunks, or a threshold SLO.
    probe = config.search is not None  # a capacity search's probe: its verdict needs the samples too
    requests = ok_requests(timers) if streamed or thresholds_of(slo) or probe else Requests(np.zeros(0, np.int64),
                                                                                              np.zeros(0, np.int64))
    total_s = report["total_s"] if isinstance(report["total_s"], float) else None
    report.update(stream_fields(requests, outcome, total_s, cost_per_hour, config.batch_size))
    report.update(slo_fields(requests, outcome, report, config.batch_size, slo))
    if probe:
        report["slo_decided"] = slo_decided(requests, report, config.batch_size, slo)
    return {name: report[name] for name in REPORT_FIELDS}


def compute_reports(
    configs: Sequence[RunConfig],
    outcomes: Iterable[ConfigOutcome],
    timers: pa.Table,
    *,
    cost_per_hour: float | None = None,
    slo: dict[str, float] | None = None,
) -> list[dict[str, object]]:
    """Summarise every config of a run, selecting each one's timer rows by ``config_id``.

    Args:
        configs: The configs to report on, in the order the reports should come out.
        outcomes: One outcome per config (any order), matched by ``config_id``.
        timers: The timer table (``TIMER_SCHEMA``) of the run; it may hold other configs too.
        cost_per_hour: Price of the instance per hour, for ``cost_per_1m_inf``.

    Returns:
        One report per config, in the order of ``configs``.

    Raises:
        ValueError: A config has no outcome.
    """
    by_id = {outcome.config_id: outcome for outcome in outcomes}
    ids = timers.column("config_id")
    # A table holding a single config (the usual case: one table per config from the collector)
    # is used as is; filtering would copy every column for nothing.
    bounds = pc.min_max(ids).as_py() if timers.num_rows else {"min": None, "max": None}
    reports = []
    for config in configs:
        outcome = by_id.get(config.config_id)
        if outcome is None:
            msg = (
                "outcomes must include one for every config "
                f"(none for config_id {config.config_id})"
            )
            raise ValueError(msg)
        if timers.num_rows == 0 or bounds["min"] == bounds["max"] == config.config_id:
            rows = timers
        else:
            rows = timers.filter(pc.equal(ids, config.config_id))
        reports.append(compute_report(config, outcome, rows, cost_per_hour=cost_per_hour, slo=slo))
    return reports


#: Keys of a per-node row (:func:`compute_node_reports`), in order.
NODE_REPORT_FIELDS: tuple[str, ...] = (
    "config_id", "node_id", "n_copies", "total_infs", "n_errors", "throughput_avg",
    "throughput_peak", "latency_ms_p50", "latency_ms_p99", "e2e_avg_ms",
    # the node's utilisation: its host CPU, its copies' own CPU and memory, its devices
    "cpu_avg_percent", "copy_cpu_avg_percent", "copy_rss_max_mb", "host_saturated", "neuroncore_util_avg",
    "gpu_util_avg",
)  # fmt: skip


def compute_node_reports(
    config: RunConfig, outcome: ConfigOutcome, timers: pa.Table
) -> list[dict[str, object]]:
    """Break one config down by node, so a slow or overloaded node stands out.

    Each node's figures are those of :func:`compute_report` over the node's own rows: the same
    pooled percentiles and the same one-second buckets counted from the config's common start
    (``outcome.start_ns``), so the nodes' ``total_infs`` add up to the config's and their
    buckets line up with the config's.

    Args:
        config: The config that was run.
        outcome: How it ended; its copies say which node ran each copy.
        timers: This config's rows of the timer table (``TIMER_SCHEMA``).

    Returns:
        One row per node named by a copy outcome or a timer row, sorted by ``node_id`` and
        keyed in :data:`NODE_REPORT_FIELDS` order; ``n_copies`` counts the copies known from
        either (a copy that died leaves rows but no outcome). A config that ran nowhere gives
        an empty list.
    """
    copies_by_node: dict[str, set[int]] = {}
    for copy in outcome.copies:
        copies_by_node.setdefault(copy.node_id, set()).add(copy.copy_id)
    rows = []
    for node_id in sorted(set(copies_by_node) | _timer_nodes(timers)):
        node_timers = timers.filter(pc.equal(timers.column("node_id"), node_id))
        copy_ids = copies_by_node.get(node_id, set()) | set(pc.unique(node_timers.column("copy_id")).to_pylist())
        # The outcome matters only for its start and stop, which the nodes share.
        fields = timer_fields(node_timers, outcome, config.batch_size)
        here = [c for c in outcome.copies if c.node_id == node_id]
        row = {"config_id": config.config_id, "node_id": node_id, "n_copies": len(copy_ids), **fields,
               **_sample_fields("cpu", [x for c in here for x in c.cpu_percent]), **copy_fields(here),
               **device_fields(here, fields["total_infs"])}
        rows.append({name: row[name] for name in NODE_REPORT_FIELDS})
    return rows


def _warmup_fields(copies: Sequence[CopyOutcome]) -> dict[str, object]:
    """Warmup, its own timer: inferences, mean latency and the longest copy's wall time."""
    n = sum(c.warmup_infs for c in copies)
    walls = [c.warmup_wall_ns for c in copies if c.warmup_wall_ns is not None]
    return {
        "warmup_avg_ms": sum(c.warmup_sum_ns for c in copies) / n / NS_PER_MS if n else None,
        "warmup_infs": n if copies else None,
        "warmup_s": max(walls) / NS_PER_S if walls else None,
    }


def _load_fields(config: RunConfig, outcome: ConfigOutcome) -> dict[str, object]:
    """How the load was offered and whether it was met: arrival process, target rate, open-loop
    drops and queue depth, dataset exhaustion and convergence."""
    copies = outcome.copies
    exhausted = [c.dataset_exhausted for c in copies if c.dataset_exhausted is not None]
    fields: dict[str, object] = {
        "arrival": config.load.arrival,
        "target_rate": config.rate * config.n_models if config.rate is not None else None,
        "converged": outcome.converged,
        "dataset_exhausted": any(exhausted) if exhausted else None,
        "dropped": None, "queue_depth_max": None, "rate_met": None,
    }  # fmt: skip
    scheduled = [c.n_scheduled for c in copies if c.n_scheduled is not None]
    if scheduled:
        dropped = sum(c.n_dropped or 0 for c in copies)
        fields["dropped"] = dropped
        fields["queue_depth_max"] = max(c.queue_depth_max or 0 for c in copies)
        # A copy that keeps up ends with a short queue that does not grow with the run (a few
        # sends at high load, from random arrivals); an overloaded one falls behind by a share
        # of every second. Met: at most 2 % of the sends plus two per worker left waiting.
        slack = 0.02 * sum(scheduled) + 2 * config.n_models * config.workers_per_model
        fields["rate_met"] = dropped <= slack
    return fields


def _unmet_schedule_note(config: RunConfig, outcome: ConfigOutcome) -> str | None:
    """Say so when the copies made fewer than half of their open-loop sends: the rate was beyond
    what they could even send, not a load they served slowly."""
    scheduled = sum(c.n_scheduled or 0 for c in outcome.copies)
    if not scheduled or config.rate is None:
        return None
    sent = scheduled - sum(c.n_dropped or 0 for c in outcome.copies)
    if sent >= scheduled / 2:
        return None
    return (f"open loop: only {sent:,} of {scheduled:,} scheduled sends were made ({100 * sent / scheduled:.2g} %): "
            f"a rate of {config.rate:g}/s per copy is beyond what the copies can send")


def _dropped_output_note(outcome: ConfigOutcome) -> str | None:
    """Say so when copies printed so much that the rest of their output was dropped."""
    dropped = sum(c.output_dropped for c in outcome.copies)
    if not dropped:
        return None
    return (f"the model printed too much: {dropped / 1e6:.3g} MB of the copies' output was dropped "
            "(a copy may print 10 MB into Ray's log folder; the rest is dropped)")


def _sample_fields(prefix: str, samples: list[float]) -> dict[str, float | None]:
    """Average and percentiles of utilisation samples (already in percent)."""
    fields: dict[str, float | None] = {f"{prefix}_avg_percent": None}
    fields.update({f"{prefix}_percent_p{q}": None for q in PERCENTILES})
    if samples:
        values = np.asarray(samples, dtype=np.float64)
        fields[f"{prefix}_avg_percent"] = float(values.mean())
        for q, value in zip(PERCENTILES, linear_percentiles(values, PERCENTILES)):
            fields[f"{prefix}_percent_p{q}"] = value
    return fields


def copy_fields(copies: Sequence[CopyOutcome]) -> dict[str, Any]:
    """The copies' own figures from their telemetry: ``copy_cpu_avg_percent`` (mean over copies,
    percent of one core), ``copy_rss_max_mb`` (the largest copy), and ``host_saturated``: on some
    node the host CPU averaged above 90 % of its CPUs while the copies there used less than 90 %
    of them (something else competed). None where nothing was sampled."""
    cpu = [c.copy_cpu_avg_percent for c in copies if c.copy_cpu_avg_percent is not None]
    rss = [c.copy_rss_max_mb for c in copies if c.copy_rss_max_mb is not None]
    saturated: bool | None = None
    for node in {c.node_id for c in copies}:
        here = [c for c in copies if c.node_id == node]
        host = [x for c in here for x in c.cpu_percent]
        # One figure per process: copies in the calling process (multiprocess=False) share one.
        own = list({c.pid if c.pid is not None else -c.copy_id - 1: c.copy_cpu_avg_percent for c in here
                    if c.copy_cpu_avg_percent is not None}.values())
        cpus = next((c.host_cpus for c in here if c.host_cpus), None)
        if host and own and cpus:
            hot = float(np.mean(host)) > SATURATED_CPU_PERCENT and sum(own) / cpus < SATURATED_CPU_PERCENT
            saturated = bool(saturated) or hot
    return {"copy_cpu_avg_percent": float(np.mean(cpu)) if cpu else None,
            "copy_rss_max_mb": max(rss) if rss else None, "host_saturated": saturated}


def _mean_ms(values_ns: Iterable[int | None]) -> float | None:
    """Mean of the known durations in ms, or None when none is known."""
    known = [value for value in values_ns if value is not None]
    return sum(known) / len(known) / NS_PER_MS if known else None


def _first_error(outcome: ConfigOutcome) -> str | None:
    """The config's own error, else the first error a copy reported."""
    if outcome.error is not None:
        return outcome.error
    return next((copy.error for copy in outcome.copies if copy.error is not None), None)


def _count_nodes(outcome: ConfigOutcome, timers: pa.Table) -> int:
    """Distinct nodes that ran the config: from the copies, else from the timer rows."""
    if outcome.copies:
        return len({copy.node_id for copy in outcome.copies})
    return len(_timer_nodes(timers))


def _timer_nodes(timers: pa.Table) -> set[str]:
    """The distinct node ids in the timer rows."""
    nodes: set[str] = set()
    # Per chunk, because chunks may carry different dictionaries; the loop is over chunks only.
    for chunk in timers.column("node_id").chunks:
        nodes.update(chunk.unique().dictionary_decode().to_pylist())
    return nodes


def iso_utc(ns: int | None) -> str | None:
    """Wall-clock ns as an ISO-8601 UTC string, truncated to milliseconds."""
    if ns is None:
        return None
    seconds, rest_ns = divmod(ns, NS_PER_S)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc)
    stamp = stamp.replace(microsecond=rest_ns // NS_PER_MS * 1000)
    return stamp.isoformat(timespec="milliseconds")
