"""Benchmark results: raw timers, configs, outcomes and run metadata, and their Parquet file.

A :class:`Results` is what ``benchmark(..., return_timers=True)`` returns. It is also a list of
``(config, results)`` pairs, as NeuronPerf returned, so code written for NeuronPerf keeps working.

The Parquet file holds the timer table (``TIMER_SCHEMA``) and, in the schema's key/value
metadata under the key ``raybench``, the configs, outcomes and run metadata as JSON — one
self-describing file that pyarrow, pandas, polars and duckdb open directly (duckdb:
``read_parquet(path)`` for the timers, ``parquet_kv_metadata(path)`` for the JSON).

Reports are recomputed from the timers on demand (:func:`get_reports`, a list of dicts as
NeuronPerf returned; :attr:`Results.reports`, the same rows as an Arrow table with a declared
schema).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raybench.core.errors import ConfigError
from raybench.core.files import atomic_write_path
from raybench.core.schema import ConfigOutcome, CopyOutcome, RunConfig, stages_of, streams_of, timer_schema
from raybench.core.slo import check_slo
from raybench.report.capacity import capacity_reports
from raybench.report.reports import REPORT_FIELDS, compute_node_reports, compute_reports
from raybench.report.telemetry_table import attach_samples, empty_telemetry, read_telemetry, telemetry_path, without_samples, write_telemetry

_META_KEY = b"raybench"


def parquet() -> Any:
    """``pyarrow.parquet``, imported on first use: every model copy imports raybench, and the
    Parquet module (~0.1 s) is only needed where results are written or read."""
    import pyarrow.parquet

    return pyarrow.parquet


class Results(list):  # type: ignore[type-arg]
    """Everything a run measured.

    Attributes:
        configs: The configs that ran, in order.
        outcomes: How each config ended (status, per-copy load/warmup/system samples).
        timers: Raw timers, one row per measured inference (``pyarrow.Table``: TIMER_SCHEMA without absent stages).
        telemetry: Host, per-copy process (and, where present, NeuronCore and GPU) samples, one
            row per sample (``pyarrow.Table``, :data:`raybench.telemetry.TELEMETRY_SCHEMA`).
        metadata: Run metadata (versions, host, cost_per_hour, ...).

    As a list it holds NeuronPerf-style ``(config_dict, results_dict)`` pairs; each
    ``results_dict`` has ``status``, ``error``, ``n_infs``, ``total_s``, ``timers`` (that config's
    rows), ``cpu_percents``, ``mem_percents``, ``copies`` (per copy: node, visible NeuronCores,
    inference and error counts, and its warmup — inferences, their summed ms, wall seconds) and
    ``nodes`` (that config's per-node rows, see :func:`get_node_reports`).
    """

    def __init__(
        self,
        configs: list[RunConfig],
        outcomes: list[ConfigOutcome],
        timers: pa.Table,
        metadata: dict[str, Any] | None = None,
        telemetry: pa.Table | None = None,
    ) -> None:
        self.configs = list(configs)
        self.outcomes = list(outcomes)
        self.timers = timers
        self.metadata = dict(metadata or {})
        self.telemetry = empty_telemetry() if telemetry is None else telemetry
        super().__init__(_pairs(self.configs, self.outcomes, timers))

    @staticmethod
    def check(value: object, name: str = "results") -> Results:
        """Return ``value`` if it is a :class:`Results`, for functions that take one.

        Raises:
            ConfigError: it is not (the message names ``name`` and what it was).
        """
        if not isinstance(value, Results):
            msg = (
                f"{name} must be a raybench Results (from return_timers=True or read_results) "
                f"(got {type(value).__name__})"
            )
            raise ConfigError(msg)
        return value

    @property
    def reports(self) -> pa.Table:
        """One row per config, columns in ``REPORT_FIELDS`` order (see :func:`reports_table`).

        Computed from the timers on every access (``.to_pandas()`` gives a DataFrame,
        ``.to_pylist()`` the dicts of :func:`get_reports`).
        """
        return reports_table(get_reports(self))


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
                        "niceness": c.niceness, "n_infs": c.n_infs, "n_errors": c.n_errors, "warmup_infs": c.warmup_infs,
                        "warmup_ms": c.warmup_sum_ns / 1e6, "warmup_wall_s": _seconds(c.warmup_wall_ns)}
                       for c in outcome.copies],
            "nodes": compute_node_reports(config, outcome, rows),
        }
        pairs.append((config.to_dict(), result))
    return pairs


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def get_reports(results: Results, cost_per_hour: float | None = None,
                slo: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Compute one report per config from a results object.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`read_results`.
        cost_per_hour: Instance price for ``cost_per_1m_inf``; defaults to the run's own.
        slo: An SLO to judge the run by (``benchmark``'s ``slo``); defaults to the run's own.

    Returns:
        Report dicts (NeuronPerf's field names), equal to what the run itself reported.
    """
    Results.check(results)
    if cost_per_hour is None:
        cost_per_hour = results.metadata.get("cost_per_hour")
    if slo is None:
        slo = results.metadata.get("slo")
    return compute_reports(results.configs, results.outcomes, results.timers, cost_per_hour=cost_per_hour,
                           slo=check_slo(slo))


def get_capacity_reports(results: Results, cost_per_hour: float | None = None) -> list[dict[str, Any]]:
    """One capacity report per searched config of a capacity search (``search=``), recomputed
    from its probes (see :func:`~raybench.report.capacity.capacity_reports`).

    Args:
        results: From a ``benchmark(..., search=..., return_timers=True)`` or :func:`read_results`.
        cost_per_hour: Instance price for ``cost_per_1m_at_slo``; defaults to the run's own.

    Returns:
        The probe at capacity's report with the ``capacity_*`` fields, per searched config;
        empty for a run without a search.
    """
    Results.check(results)
    if cost_per_hour is None:
        cost_per_hour = results.metadata.get("cost_per_hour")
    tolerance = (results.metadata.get("search") or {}).get("tolerance")
    return capacity_reports(get_reports(results, cost_per_hour), cost_per_hour, tolerance)


#: Arrow types of the report fields that are not float64 (every other field of
#: ``REPORT_FIELDS`` is float64), so a column's type never depends on its values — an
#: all-None ``error`` column is still a string column.
#: A name here that ``REPORT_FIELDS`` does not hold is simply unused.
REPORT_TYPES: dict[str, pa.DataType] = {
    **dict.fromkeys(
        ("model_filename", "model_name", "device_type", "instance_type", "start_dts", "stop_dts", "status",
         "error", "arrival", "search"),
        pa.string(),
    ),
    **dict.fromkeys(
        ("config_id", "batch_size", "n_models", "workers_per_model", "pipeline_size", "n_devices",
         "performance_level", "n_errors", "n_nodes", "total_infs", "warmup_infs", "dropped",
         "queue_depth_max", "search_id", "probe", "capacity_workers", "capacity_steps", "capacity_probes"),
        pa.int64(),
    ),
    **dict.fromkeys(("multiprocess", "multiinterpreter", "converged", "dataset_exhausted", "rate_met", "slo_decided"),
                   pa.bool_()),
}  # fmt: skip


def reports_table(reports: Sequence[dict[str, Any]]) -> pa.Table:
    """Report dicts as an Arrow table: one row per report, one column per field.

    Columns follow ``REPORT_FIELDS``, then any other key the reports hold (in the order first
    seen). Types come from :data:`REPORT_TYPES`; any other field of ``REPORT_FIELDS`` whose
    values are all numbers or None is float64; any other field is typed from its values.

    Args:
        reports: Report dicts (from :func:`get_reports` or a run); a missing key is None.

    Returns:
        The table (zero rows, all ``REPORT_FIELDS`` columns, when ``reports`` is empty).

    Raises:
        pyarrow.ArrowInvalid, pyarrow.ArrowTypeError: A value does not fit its field's declared type.
    """
    names = list(REPORT_FIELDS)
    for report in reports:
        for key in report:
            if key not in names:
                names.append(key)
    columns = [[report.get(name) for report in reports] for name in names]
    fields = [pa.field(name, _report_type(name, values)) for name, values in zip(names, columns)]
    schema = pa.schema(fields)
    return pa.table([pa.array(values, field.type) for values, field in zip(columns, schema)], schema=schema)


def _report_type(name: str, values: list[Any]) -> pa.DataType:
    """The declared type of a report field, else float64 for numbers, else inferred."""
    declared = REPORT_TYPES.get(name)
    if declared is not None:
        return declared
    numeric = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)
    if name in REPORT_FIELDS and numeric:
        return pa.float64()
    return pa.array(values).type


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
    Results.check(results)
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


#: The config fields the results file repeats beside each timer row, so any Parquet reader can
#: group by them (``group by n_models, workers_per_model``) without raybench. Each is a
#: dictionary column whose indices are the row's config: constant over a config's rows, which
#: Parquet stores as a run (see ``benchmarks/bench_results_file.py`` for the bytes).
#: ``rate`` is the config's offered open-loop rate (requests/s of all its copies; null closed).
CONFIG_COLUMNS: tuple[str, ...] = (
    "model_name", "batch_size", "n_models", "workers_per_model", "pipeline_size", "performance_level", "cast_mode",
    "arrival", "rate", "search_id", "probe",
)  # fmt: skip
_CONFIG_COLUMN_TYPES: dict[str, pa.DataType] = {"model_name": pa.string(), "cast_mode": pa.string(),
                                                "arrival": pa.string(), "rate": pa.float64()}


def _config_value(config: RunConfig, name: str) -> Any:
    if name == "arrival":
        return config.load.arrival
    if name == "rate":
        return None if config.rate is None else config.rate * config.n_models
    return getattr(config, name)


def with_config_columns(timers: pa.Table, configs: Sequence[RunConfig]) -> pa.Table:
    """``timers`` with :data:`CONFIG_COLUMNS` appended: each row's config's value, dictionary
    encoded (one dictionary entry per distinct value; a config's None is a null index)."""
    if not configs:
        return timers
    lookup = np.full(max(c.config_id for c in configs) + 1, 0, np.int16)
    for position, config in enumerate(configs):
        lookup[config.config_id] = position
    ids = timers.column("config_id").to_numpy()
    positions = lookup[np.minimum(ids, lookup.size - 1)] if ids.size else np.zeros(0, np.int16)
    for name in CONFIG_COLUMNS:
        raw = [_config_value(c, name) for c in configs]
        distinct = list(dict.fromkeys(v for v in raw if v is not None))
        entry = np.asarray([-1 if v is None else distinct.index(v) for v in raw], np.int16)[positions]
        indices = pa.array(entry, mask=entry < 0) if None in raw else pa.array(entry)
        dictionary = pa.array(distinct, _CONFIG_COLUMN_TYPES.get(name, pa.int16()))
        timers = timers.append_column(name, pa.DictionaryArray.from_arrays(indices, dictionary))
    return timers


#: Rows written per Parquet row group, each with its config columns built for it alone (their
#: indices cost 2 bytes a row in memory while it is written).
_WRITE_ROWS = 1 << 20


def write_results(results: Results, filename: str | os.PathLike[str], *, overwrite: bool = False) -> str:
    """Write raw timers, configs, outcomes and metadata to one Parquet file (atomically).

    Beside each timer row the file holds its config's :data:`CONFIG_COLUMNS`, so the file is
    self-describing to duckdb, pandas or polars; :func:`read_results` leaves them out again.

    Args:
        results: What to write.
        filename: The file to write.
        overwrite: Replace ``filename`` if it exists (else it is refused).

    Returns:
        The path written.

    Raises:
        ConfigError: ``filename`` exists and ``overwrite`` is False; nothing is written.
    """
    Results.check(results)
    path = os.fspath(filename)
    payload = {
        "metadata": results.metadata,
        "configs": [c.to_dict() for c in results.configs],
        "outcomes": [dataclasses.asdict(o) for o in without_samples(results.outcomes)],
        "telemetry_file": os.path.basename(telemetry_path(path)) if results.telemetry.num_rows else None,
    }
    metadata = {_META_KEY: json.dumps(payload).encode()}
    schema = with_config_columns(results.timers.slice(0, 0), results.configs).schema.with_metadata(metadata)
    with atomic_write_path(path, overwrite=overwrite) as tmp, parquet().ParquetWriter(tmp, schema) as writer:
        write_telemetry(results.telemetry, path, overwrite=overwrite)  # first: the results file names it
        for first in range(0, max(results.timers.num_rows, 1), _WRITE_ROWS):
            piece = with_config_columns(results.timers.slice(first, _WRITE_ROWS), results.configs)
            writer.write_table(piece.replace_schema_metadata(metadata))
    return path


def read_results(filename: str | os.PathLike[str]) -> Results:
    """Read a file written by :func:`write_results`.

    Only that one file is read: a directory is refused (pyarrow would silently merge every
    Parquet file in it, doubling counts when a results file was copied beside itself).

    Raises:
        ConfigError: the path is not a file, or the file is empty, truncated, corrupt or not a
            raybench results file; the message names the file and what is wrong.
    """
    if not isinstance(filename, (str, os.PathLike)):
        raise ConfigError(f"filename must be a path to a raybench results file (got {filename!r})")
    path = os.fspath(filename)
    if os.path.isdir(path):
        raise ConfigError(f"filename must name one results file, not a directory (got {path!r})")
    if not os.path.isfile(path):
        raise ConfigError(f"filename must name an existing results file (got {path!r})")
    try:
        table = parquet().ParquetFile(path).read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        msg = f"filename must name a Parquet results file written by raybench ({path!r} is not one: {exc})"
        raise ConfigError(msg) from None
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        msg = f"filename must name a raybench results file (no raybench metadata in {path!r})"
        raise ConfigError(msg)
    try:
        payload = json.loads(raw)
        timers = table.replace_schema_metadata(None)
        timers = timers.drop_columns([name for name in CONFIG_COLUMNS if name in timers.column_names])
        expected = timer_schema(stages_of(timers.schema), streams_of(timers.schema))
        # By name, then cast: files written before the combined timers were put back in schema
        # order (a failed config first, a config with stages after) hold ``ok`` elsewhere.
        timers = timers.select(expected.names).cast(expected)
        configs = [RunConfig.from_dict(c) for c in payload["configs"]]
        outcomes = [_outcome_from_dict(o) for o in payload["outcomes"]]
        metadata = payload["metadata"]
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata is a {type(metadata).__name__}, not an object")
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, pa.ArrowException) as exc:
        msg = f"{path!r} is not a readable raybench results file: its {_META_KEY.decode()} metadata or timers " \
              f"are damaged ({type(exc).__name__}: {exc})"
        raise ConfigError(msg) from None
    telemetry = read_telemetry(path, payload.get("telemetry_file"))
    return Results(configs, attach_samples(outcomes, telemetry), timers, metadata, telemetry)


def _outcome_from_dict(data: dict[str, Any]) -> ConfigOutcome:
    """Rebuild an outcome from its JSON form (JSON has lists where the dataclasses hold tuples)."""
    copies = tuple(
        CopyOutcome(**{key: tuple(value) if isinstance(value, list) else value for key, value in c.items()})
        for c in data["copies"]
    )
    return ConfigOutcome(**{**data, "copies": copies})
