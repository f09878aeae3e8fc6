"""A run's telemetry table (:data:`raybench.telemetry.TELEMETRY_SCHEMA`), built from its copies'
samples, and its Parquet file beside the results file.

A Parquet file holds one schema, and the timers' is one row per inference; the telemetry is one
row per sample. So it is a file of its own next to the results file: ``x.results.parquet``
gets ``x.telemetry.parquet`` (``r.parquet`` gets ``r.telemetry.parquet``), named in the results
file's metadata, written before it and read back by ``read_results``; any Parquet reader opens
either and they join on ``config_id`` (and ``node_id``, ``copy_id``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence

import pyarrow as pa

from raybench.core.files import atomic_write_path
from raybench.core.schema import ConfigOutcome
from raybench.telemetry import TELEMETRY_SCHEMA, Sample

logger = logging.getLogger("raybench")


def empty_telemetry() -> pa.Table:
    """A telemetry table without rows."""
    return TELEMETRY_SCHEMA.empty_table()


def telemetry_table(outcomes: Sequence[ConfigOutcome]) -> pa.Table:
    """Every copy's samples as one table. Each copy samples its host too (source ``host``);
    of those, one copy's per node and config are kept (the lowest ``copy_id``), so a node-wide
    series is one series however many copies the node runs."""
    columns: dict[str, list] = {name: [] for name in TELEMETRY_SCHEMA.names}
    for outcome in outcomes:
        leads = _lead_copies(outcome)
        for copy in outcome.copies:
            for sample in copy.telemetry:
                if sample.source == "host" and copy.copy_id != leads[copy.node_id]:
                    continue
                columns["time_ns"].append(sample.time_ns)
                columns["config_id"].append(outcome.config_id)
                columns["node_id"].append(copy.node_id)
                columns["copy_id"].append(sample.copy_id)
                columns["source"].append(sample.source)
                columns["metric"].append(sample.metric)
                columns["value"].append(float(sample.value))
    arrays = [pa.array(columns[field.name], field.type.value_type if pa.types.is_dictionary(field.type) else field.type)
              for field in TELEMETRY_SCHEMA]
    arrays = [a.dictionary_encode().cast(f.type) if pa.types.is_dictionary(f.type) else a
              for a, f in zip(arrays, TELEMETRY_SCHEMA)]
    return pa.Table.from_arrays(arrays, schema=TELEMETRY_SCHEMA)


def attach_samples(outcomes: Sequence[ConfigOutcome], table: pa.Table) -> list[ConfigOutcome]:
    """``outcomes`` (read back from a file) with their copies' samples from ``table`` again, so
    reports computed from them see what the run's reports saw. A node's samples without a copy
    go to its lowest copy, where :func:`telemetry_table` took the host's from."""
    if table.num_rows == 0:
        return list(outcomes)
    by_copy: dict[tuple[int, str, int | None], list[Sample]] = {}
    for row in table.to_pylist():
        by_copy.setdefault((row["config_id"], row["node_id"], row["copy_id"]), []).append(
            Sample(row["time_ns"], row["copy_id"], row["source"], row["metric"], row["value"]))
    attached = []
    for outcome in outcomes:
        leads = _lead_copies(outcome)
        copies = []
        for copy in outcome.copies:
            samples = [s for (config_id, node, copy_id), rows in by_copy.items() for s in rows
                       if config_id == outcome.config_id and node == copy.node_id
                       and (copy_id == copy.copy_id or (copy_id is None and copy.copy_id == leads[node]))]
            copies.append(dataclasses.replace(copy, telemetry=tuple(samples)))
        attached.append(dataclasses.replace(outcome, copies=tuple(copies)))
    return attached


def _lead_copies(outcome: ConfigOutcome) -> dict[str, int]:
    """Each node's lowest copy id: the copy whose host series stands for its node."""
    leads: dict[str, int] = {}
    for copy in outcome.copies:
        leads[copy.node_id] = min(leads.get(copy.node_id, copy.copy_id), copy.copy_id)
    return leads


def without_samples(outcomes: Sequence[ConfigOutcome]) -> list[ConfigOutcome]:
    """``outcomes`` with each copy's raw samples dropped (they live in the telemetry table)."""
    return [dataclasses.replace(o, copies=tuple(dataclasses.replace(c, telemetry=()) for c in o.copies))
            for o in outcomes]


def telemetry_path(results_path: str) -> str:
    """The telemetry file beside ``results_path``: ``x.results.parquet`` -> ``x.telemetry.parquet``."""
    stem = results_path[: -len(".parquet")] if results_path.endswith(".parquet") else results_path
    stem = stem[: -len(".results")] if stem.endswith(".results") else stem
    return stem + ".telemetry.parquet"


def write_telemetry(table: pa.Table, results_path: str, *, overwrite: bool) -> str | None:
    """Write ``table`` beside ``results_path`` (atomically); None when it has no rows (nothing written)."""
    if table.num_rows == 0:
        return None
    import pyarrow.parquet  # only where results are written or read, as in report.results

    path = telemetry_path(results_path)
    with atomic_write_path(path, overwrite=overwrite) as tmp:
        pyarrow.parquet.write_table(table, tmp)
    return path


def read_telemetry(results_path: str, name: str | None) -> pa.Table:
    """The telemetry file named ``name`` beside ``results_path``; an empty table when the results
    file names none. A named file that is missing or unreadable is a warning, not an error: the
    timers, the reports and the comparison do not need it."""
    if not name:
        return empty_telemetry()
    import pyarrow.parquet

    path = os.path.join(os.path.dirname(results_path), name)
    try:
        return pyarrow.parquet.read_table(path).select(TELEMETRY_SCHEMA.names).cast(TELEMETRY_SCHEMA)
    except (OSError, ValueError, KeyError, pa.ArrowException) as err:
        logger.warning("telemetry of %s not read from %s (%s): the results have no telemetry", results_path,
                       path, err)
        return empty_telemetry()
