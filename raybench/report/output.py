"""Reports out: NeuronPerf's aligned table, CSV and JSON files (written atomically, see
:mod:`raybench.core.files`).

A report is a flat ``dict`` (one per config); missing values are None. NaN counts as missing
too: it is what "not measured" looks like once numpy has touched a value, and it would
otherwise break sorting (NaN compares false with everything) and strict JSON readers.
"""

from __future__ import annotations

import csv
import datetime
import difflib
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import numpy as np

from raybench.core.errors import ConfigError
from raybench.core.files import atomic_write_path, safe_file_stem
from raybench.report.capacity import CAPACITY_FIELDS

#: Columns :func:`print_reports` shows by default (NeuronPerf's, in its order).
PRINT_COLS: list[str] = [
    "throughput_avg", "latency_ms_p50", "latency_ms_p99", "n_models", "pipeline_size",
    "workers_per_model", "batch_size", "model_filename",
]  # fmt: skip

#: Columns :func:`write_csv` writes by default (NeuronPerf's, in its order).
CSV_COLS: list[str] = [
    "model_name", "n_models", "workers_per_model", "pipeline_size", "batch_size", "throughput_avg",
    "throughput_peak", "latency_ms_p0", "latency_ms_p50", "latency_ms_p90", "latency_ms_p95",
    "latency_ms_p99", "latency_ms_p100", "cpu_avg_percent", "cpu_percent_p50", "mem_avg_percent",
    "mem_percent_p50", "e2e_avg_ms", "infer_avg_ms", "total_infs", "total_s", "performance_level",
    "model_filename", "device_type", "instance_type", "cost_per_1m_inf",
]  # fmt: skip

#: Columns :func:`print_reports` shows by default for a run whose model streamed.
STREAM_PRINT_COLS: list[str] = [
    "output_tokens_per_s", "ttft_ms_p50", "ttft_ms_p99", "itl_ms_p50", "itl_ms_p99", "tpot_ms_p50",
    "latency_ms_p99", "n_models", "workers_per_model", "batch_size", "model_filename",
]  # fmt: skip

#: Columns :func:`write_csv` adds to :data:`CSV_COLS` for a run whose model streamed.
STREAM_CSV_COLS: list[str] = [
    "ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p95", "ttft_ms_p99", "itl_ms_p50", "itl_ms_p90", "itl_ms_p95",
    "itl_ms_p99", "tpot_ms_p50", "tpot_ms_p90", "tpot_ms_p99", "output_tokens_avg", "output_tokens_per_s",
    "input_tokens_avg", "cost_per_1m_tokens",
]  # fmt: skip

#: Columns the table and the CSV add for a run judged against an SLO.
SLO_COLS: list[str] = ["goodput", "slo_met_pct", "slo_ok"]

#: Columns of the table of a capacity search's answers (one row per searched config).
CAPACITY_PRINT_COLS: list[str] = [
    "capacity_rate", "capacity_throughput", "latency_ms_p50", "latency_ms_p99", "capacity_probes", "n_models",
    "workers_per_model", "batch_size", "pipeline_size", "model_filename",
]  # fmt: skip
#: Columns of the table of a capacity search's probes.
PROBE_PRINT_COLS: list[str] = [
    "search_id", "probe", "arrival", "target_rate", "throughput_avg", "latency_ms_p50", "latency_ms_p99", "rate_met",
    "slo_ok", "slo_decided", "n_models", "workers_per_model", "batch_size",
]  # fmt: skip
#: Columns the CSV adds for a capacity search's probes, and for its answers.
PROBE_CSV_COLS: list[str] = ["search", "search_id", "probe", "arrival", "target_rate", "rate_met", "slo_decided"]
CAPACITY_CSV_COLS: list[str] = ["search", "search_id", *CAPACITY_FIELDS]

#: What a missing value looks like in the table and the CSV.
MISSING = "N/A"


def plain_value(value: object) -> object:
    """Numpy scalars and arrays as Python numbers and lists; NaN as None."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def check_reports(reports: object, name: str = "reports") -> list[Mapping[str, Any]]:
    """Return ``reports`` as a list if it is a sequence of report dicts.

    Raises:
        ConfigError: it is not (a string, None, a Results object of ``(config, result)`` pairs...).
    """
    if isinstance(reports, (str, bytes)) or not isinstance(reports, Sequence):
        raise ConfigError(f"{name} must be a list of report dicts (got {type(reports).__name__})")
    bad = next((r for r in reports if not isinstance(r, Mapping)), None)
    if bad is not None:
        hint = "; pass raybench.get_reports(results) for a Results" if isinstance(bad, tuple) else ""
        raise ConfigError(f"{name} must be a list of report dicts (got an item of type {type(bad).__name__}{hint})")
    return list(reports)


def _cell(value: object) -> str:
    """One table cell: floats to 3 decimals without trailing zeros, missing values as N/A."""
    value = plain_value(value)
    if value is None:
        return MISSING
    if isinstance(value, float) and math.isfinite(value):
        # round() then str() keeps the shortest repr: 307.25, 3.251 and 2746.0 (not 2746.000).
        return str(round(value, 3))
    return str(value)


def sort_reports(reports: Sequence[Mapping[str, Any]], sort_by: str | None, reverse: bool = False, *,
                 name: str = "sort_by") -> list[Mapping[str, Any]]:
    """``reports`` sorted on ``sort_by`` (ascending unless ``reverse``); rows missing it (None or
    NaN) keep their order and come last; ``sort_by=None`` keeps the given order.

    Args:
        name: How the caller's argument is called, for the error (``--sort-by`` on the CLI).

    Raises:
        ConfigError: ``sort_by`` is a key of none of the reports, or its values do not compare.
    """
    rows = list(reports)
    if sort_by is None:
        return rows
    if rows and not any(sort_by in report for report in rows):
        keys = sorted({key for report in rows for key in report})
        close = difflib.get_close_matches(sort_by, keys, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{name} must be a key of the reports or None (got {sort_by!r}{hint})")
    present = [report for report in rows if plain_value(report.get(sort_by)) is not None]
    missing = [report for report in rows if plain_value(report.get(sort_by)) is None]
    try:
        present.sort(key=lambda report: plain_value(report[sort_by]), reverse=reverse)  # type: ignore[arg-type,return-value]
    except TypeError as err:
        raise ConfigError(f"{name} must name a column whose values compare with each other "
                          f"(got {sort_by!r}: {err})") from err
    return present + missing


def default_columns(reports: Sequence[Mapping[str, Any]], base: Sequence[str], streamed: Sequence[str], *,
                    replace: bool) -> list[str]:
    """The default columns for these reports: ``base``; with ``streamed`` instead (``replace``) or
    after it when a report streamed; then the SLO columns when a report was judged by one, and
    ``converged`` when a config was measured to stability. A capacity search's answers and
    probes get their own columns instead (``replace``) or after."""
    capacity = any(r.get("capacity_steps") is not None for r in reports)
    probes = any(r.get("probe") is not None for r in reports)
    if replace and (capacity or probes):
        return list(CAPACITY_PRINT_COLS if capacity else PROBE_PRINT_COLS)
    cols = list(base)
    if any(plain_value(r.get("ttft_ms_p50")) is not None for r in reports):
        cols = list(streamed) if replace else cols + [c for c in streamed if c not in cols]
    if any(plain_value(r.get("slo_met_pct")) is not None or plain_value(r.get("slo_ok")) is not None for r in reports):
        cols += [c for c in SLO_COLS if c not in cols]
    if any(r.get("converged") is not None for r in reports) and "converged" not in cols:
        cols.append("converged")  # stability= was asked for: say which configs reached it
    if capacity or probes:
        cols += [c for c in (CAPACITY_CSV_COLS if capacity else PROBE_CSV_COLS) if c not in cols]
    return cols


def print_reports(
    reports: Sequence[Mapping[str, Any]],
    cols: Sequence[str] | None = None,
    sort_by: str | None = "throughput_peak",
    reverse: bool = False,
    file: TextIO | None = None,
) -> None:
    """Print reports as a left-justified table: a header of column names, one row per report.

    Unlike NeuronPerf, the rows really are sorted when ``sort_by`` is not a printed column.

    Args:
        reports: Report dicts (from ``benchmark`` or ``get_reports``).
        cols: The columns to show, in order; a key a report lacks shows as N/A. Default
            :data:`PRINT_COLS` (NeuronPerf's), or :data:`STREAM_PRINT_COLS` when a model
            streamed; plus ``goodput``, ``slo_met_pct`` and ``slo_ok`` when an SLO was given;
            :data:`CAPACITY_PRINT_COLS` for a capacity search's answers, :data:`PROBE_PRINT_COLS`
            for its probes.
        sort_by: The key to sort rows on (ascending unless ``reverse``), printed or not;
            rows missing it come last. None keeps the given order.
        reverse: Sort descending.
        file: Where to print; default ``sys.stdout`` (looked up at call time).

    Returns:
        None.

    Raises:
        ConfigError: ``reports`` is not a list of report dicts, ``sort_by`` is a key of none
            of the reports, or its values cannot be compared with each other.
    """
    rows = sort_reports(check_reports(reports), sort_by, reverse)
    if cols is None:
        cols = default_columns(rows, PRINT_COLS, STREAM_PRINT_COLS, replace=True)
    table = [list(cols)] + [[_cell(report.get(col)) for col in cols] for report in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    out = sys.stdout if file is None else file
    for line in table:
        # rstrip: padding the last column would only add trailing spaces.
        print(" ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip(), file=out)


def _default_filename(reports: Sequence[Mapping[str, Any]], extension: str) -> str:
    """NeuronPerf's ``{model_name}.results-%Y%m%d-%H%M%S.{extension}``, in local time, from the
    model name made safe as a file name (:func:`safe_file_stem`).

    The time is ``datetime.now()``'s, not ``time.strftime()``'s: the latter reads glibc's coarse
    ``time(NULL)``, which can still say the last second a few milliseconds into the next, so a
    name could predate the clock readings around it."""
    model_name = safe_file_stem(reports[0].get("model_name") if reports else None)
    return f"{model_name}.results-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}.{extension}"


def write_csv(
    reports: Sequence[Mapping[str, Any]],
    filename: str | os.PathLike[str] | None = None,
    cols: Sequence[str] | None = None,
    *,
    overwrite: bool = False,
) -> str:
    """Write reports as CSV, atomically: a header of ``cols``, then one row per report.

    Args:
        reports: Report dicts.
        filename: The file to write; default ``{model_name}.results-%Y%m%d-%H%M%S.csv`` in the
            working directory, ``model_name`` from the first report ("model" without one).
        cols: The columns, in order; missing values and keys a report lacks are written N/A.
            Default :data:`CSV_COLS` (NeuronPerf's), then :data:`STREAM_CSV_COLS` when a model
            streamed, :data:`SLO_COLS` when an SLO was given, and :data:`CAPACITY_CSV_COLS`
            (a capacity search's answers) or :data:`PROBE_CSV_COLS` (its probes).
        overwrite: Replace ``filename`` if it exists (else it is refused).

    Returns:
        The path written (``filename`` as given, or the default name).

    Raises:
        ConfigError: ``reports`` is not a list of report dicts, or ``filename`` exists and
            ``overwrite`` is False; nothing is written.
        OSError: The file cannot be written; no partial file is left.
    """
    reports = check_reports(reports)
    if cols is None:
        cols = default_columns(reports, CSV_COLS, STREAM_CSV_COLS, replace=False)
    path = os.fspath(filename) if filename is not None else _default_filename(reports, "csv")
    with atomic_write_path(path, overwrite=overwrite) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(cols)
        for report in reports:
            values = [plain_value(report.get(col)) for col in cols]
            writer.writerow([MISSING if value is None else value for value in values])
    return path


def json_ready(value: object) -> object:
    """``value`` with numpy types as Python ones and non-finite floats as None (strict JSON)."""
    value = plain_value(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def write_json(
    reports: Sequence[Mapping[str, Any]],
    filename: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
) -> str:
    """Write reports, atomically, as a JSON list of objects holding every key of each report.

    numpy scalars become Python numbers; NaN and infinities become null, so any JSON reader
    accepts the file.

    Args:
        reports: Report dicts.
        filename: The file to write; default ``{model_name}.results-%Y%m%d-%H%M%S.json`` in the
            working directory, ``model_name`` from the first report ("model" without one).
        overwrite: Replace ``filename`` if it exists (else it is refused).

    Returns:
        The path written (``filename`` as given, or the default name).

    Raises:
        ConfigError: ``reports`` is not a list of report dicts, or ``filename`` exists and
            ``overwrite`` is False; nothing is written.
        TypeError: A report holds a value JSON cannot represent; no file is written.
        OSError: The file cannot be written; no partial file is left.
    """
    reports = check_reports(reports)
    path = os.fspath(filename) if filename is not None else _default_filename(reports, "json")
    plain = [json_ready(dict(report)) for report in reports]
    # Serialise before opening the file, so an unrepresentable value fails without touching disk.
    text = json.dumps(plain, indent=2, allow_nan=False)
    with atomic_write_path(path, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    return path
