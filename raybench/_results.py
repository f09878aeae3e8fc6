"""Benchmark results: raw timers, configs, outcomes and run metadata, and their Parquet file.

A :class:`Results` is what ``benchmark(..., return_timers=True)`` returns. It is also a list of
``(config, results)`` pairs, as NeuronPerf returned, so code written for NeuronPerf keeps working.

The Parquet file holds the timer table (``TIMER_SCHEMA``) and, in the schema's key/value
metadata, the configs, outcomes and run metadata as JSON — one self-describing file that
pyarrow, pandas, polars and duckdb open directly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import socket
import sys
import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from raybench._config import RunConfig
from raybench._exceptions import ConfigError
from raybench._output import atomic_write_path
from raybench._reports import compute_node_reports, compute_reports
from raybench._schema import ConfigOutcome, CopyOutcome, stages_of, timer_schema

_META_KEY = b"raybench"
FORMAT_VERSION = 1


def parquet() -> Any:
    """``pyarrow.parquet``, imported on first use: every model copy imports raybench, and the
    Parquet module (~0.1 s) is only needed where results are written or read."""
    import pyarrow.parquet

    return pyarrow.parquet


def run_metadata(**extra: Any) -> dict[str, Any]:
    """Versions, host and start time of a run (stored with the results)."""
    from raybench import __version__

    versions = {"raybench": __version__, "python": platform.python_version(), "pyarrow": pa.__version__}
    for package in ("ray", "numpy", "torch", "tensorflow"):
        module = sys.modules.get(package)
        if module is not None:
            versions[package] = getattr(module, "__version__", "?")
    return {
        "format_version": FORMAT_VERSION,
        "versions": versions,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "created_ns": time.time_ns(),
        **extra,
    }


class Results(list):  # type: ignore[type-arg]
    """Everything a run measured.

    Attributes:
        configs: The configs that ran, in order.
        outcomes: How each config ended (status, per-copy load/warmup/system samples).
        timers: Raw timers, one row per measured inference (``pyarrow.Table``: TIMER_SCHEMA without absent stages).
        metadata: Run metadata (versions, host, cost_per_hour, ...).

    As a list it holds NeuronPerf-style ``(config_dict, results_dict)`` pairs; each
    ``results_dict`` has ``status``, ``error``, ``n_infs``, ``total_s``, ``timers`` (that config's
    rows), ``cpu_percents``, ``mem_percents``, ``copies`` (per copy: node, visible NeuronCores,
    inference and error counts) and ``nodes`` (that config's per-node rows, see
    :func:`get_node_reports`).
    """

    def __init__(
        self,
        configs: list[RunConfig],
        outcomes: list[ConfigOutcome],
        timers: pa.Table,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.configs = list(configs)
        self.outcomes = list(outcomes)
        self.timers = timers
        self.metadata = dict(metadata or {})
        super().__init__(_pairs(self.configs, self.outcomes, timers))

    @property
    def reports(self) -> list[dict[str, Any]]:
        """One report per config (see :func:`get_reports`)."""
        return get_reports(self)


def _pairs(configs: list[RunConfig], outcomes: list[ConfigOutcome], timers: pa.Table) -> list[tuple[dict, dict]]:
    pairs = []
    for config, outcome in zip(configs, outcomes):
        rows = timers.filter(pc.equal(timers["config_id"], config.config_id))
        total_s = None
        if outcome.start_ns is not None and outcome.stop_ns is not None:
            total_s = (outcome.stop_ns - outcome.start_ns) / 1e9
        result = {
            "status": outcome.status,
            "error": outcome.error,
            "n_infs": sum(c.n_infs for c in outcome.copies),
            "total_s": total_s,
            "timers": rows,
            "cpu_percents": [p for c in outcome.copies for p in c.cpu_percent],
            "mem_percents": [p for c in outcome.copies for p in c.mem_percent],
            "copies": [{"copy_id": c.copy_id, "node_id": c.node_id, "visible_cores": c.visible_cores,
                        "n_infs": c.n_infs, "n_errors": c.n_errors} for c in outcome.copies],
            "nodes": compute_node_reports(config, outcome, rows),
        }
        pairs.append((dataclasses.asdict(config), result))
    return pairs


def get_reports(results: Results, cost_per_hour: float | None = None) -> list[dict[str, Any]]:
    """Compute one report per config from a results object.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`read_results`.
        cost_per_hour: Instance price for ``cost_per_1m_inf``; defaults to the run's own.

    Returns:
        Report dicts (NeuronPerf's field names), equal to what the run itself reported.
    """
    _require_results(results)
    if cost_per_hour is None:
        cost_per_hour = results.metadata.get("cost_per_hour")
    return compute_reports(results.configs, results.outcomes, results.timers, cost_per_hour=cost_per_hour)


def get_node_reports(results: Results) -> list[dict[str, Any]]:
    """Break every config down by the node its copies ran on, so a slow node stands out.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`read_results`.

    Returns:
        Per-node rows (``config_id, node_id, n_copies, total_infs, n_errors, throughput_avg,
        throughput_peak, latency_ms_p50, latency_ms_p99, e2e_avg_ms``), config by config in the
        order of ``results.configs`` and by ``node_id`` within a config. Each config's rows are
        also in its results dict under ``"nodes"``.

    Raises:
        ConfigError: ``results`` is not a :class:`Results`.
        ValueError: A config has no outcome.
    """
    _require_results(results)
    by_id = {outcome.config_id: outcome for outcome in results.outcomes}
    rows: list[dict[str, Any]] = []
    for config in results.configs:
        outcome = by_id.get(config.config_id)
        if outcome is None:
            msg = f"outcomes must include one for every config (none for config_id {config.config_id})"
            raise ValueError(msg)
        timers = results.timers.filter(pc.equal(results.timers["config_id"], config.config_id))
        rows.extend(compute_node_reports(config, outcome, timers))
    return rows


def _require_results(results: object) -> None:
    """Raise ConfigError unless ``results`` is a :class:`Results`."""
    if not isinstance(results, Results):
        msg = (
            "results must be a raybench Results (from return_timers=True or read_results) "
            f"(got {type(results).__name__})"
        )
        raise ConfigError(msg)


def write_results(results: Results, filename: str | os.PathLike[str], *, overwrite: bool = False) -> str:
    """Write raw timers, configs, outcomes and metadata to one Parquet file (atomically).

    Args:
        results: What to write.
        filename: The file to write.
        overwrite: Replace ``filename`` if it exists (else it is refused).

    Returns:
        The path written.

    Raises:
        ConfigError: ``filename`` exists and ``overwrite`` is False; nothing is written.
    """
    payload = {
        "metadata": results.metadata,
        "configs": [dataclasses.asdict(c) for c in results.configs],
        "outcomes": [dataclasses.asdict(o) for o in results.outcomes],
    }
    table = results.timers.replace_schema_metadata({_META_KEY: json.dumps(payload).encode()})
    path = os.fspath(filename)
    with atomic_write_path(path, overwrite=overwrite) as tmp:
        parquet().write_table(table, tmp)
    return path


def read_results(filename: str | os.PathLike[str]) -> Results:
    """Read a file written by :func:`write_results`.

    Raises:
        ConfigError: the file is not a raybench results file.
    """
    table = parquet().read_table(os.fspath(filename))
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        msg = f"filename must name a raybench results file (no raybench metadata in {os.fspath(filename)!r})"
        raise ConfigError(msg)
    payload = json.loads(raw)
    timers = table.replace_schema_metadata(None)
    timers = timers.cast(timer_schema(stages_of(timers.schema)))
    configs = [RunConfig(**c) for c in payload["configs"]]
    outcomes = [_outcome_from_dict(o) for o in payload["outcomes"]]
    return Results(configs, outcomes, timers, payload["metadata"])


def _outcome_from_dict(data: dict[str, Any]) -> ConfigOutcome:
    copies = tuple(
        CopyOutcome(**{**c, "warmup_ns": tuple(c["warmup_ns"]), "cpu_percent": tuple(c["cpu_percent"]),
                       "mem_percent": tuple(c["mem_percent"])})
        for c in data["copies"]
    )
    return ConfigOutcome(**{**data, "copies": copies})
