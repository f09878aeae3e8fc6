"""Rows out on stdout for the command line: the table, CSV, JSON or a GitHub Markdown table.

CSV and JSON go through ``raybench.write_csv``/``write_json`` into a temporary file that is then
copied to stdout, so what a command prints is byte for byte what those functions write.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from raybench.core.errors import ConfigError
from raybench.report.output import (
    PRINT_COLS,
    STREAM_PRINT_COLS,
    default_columns,
    write_csv,
    write_json,
)
from raybench.cli.history import results_file
from raybench.cli.table import cell, print_table, sort_best_first
from raybench.report.results import get_reports, read_results

FORMATS: tuple[str, ...] = ("table", "csv", "json", "markdown")
#: ``--sort-by``'s help, the same for run and report.
SORT_HELP = ("sort rows best first on this report column, missing values last (default best: the table's "
             "first column, throughput or capacity; none: config order)")


def _config_error(msg: str) -> Exception:
    return ConfigError(msg)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_columns(option: str, wanted: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Raise ConfigError naming ``option`` when a wanted column is a key of no row."""
    known = sorted({key for row in rows for key in row})
    for name in wanted:
        if rows and name not in known:
            raise _config_error(f"{option} must name columns of the rows (got {name!r}{_hint(name, known)})")


def sort_rows(rows: Sequence[Mapping[str, Any]], sort_by: str, reverse: bool,
              cols: Sequence[str] | None = None) -> list[Mapping[str, Any]]:
    """Rows for ``--sort-by``/``--reverse``: best first on the column (``best``: the first one
    shown, ``none``: the given order), the worst first with ``--reverse``; errors name ``--sort-by``."""
    return sort_best_first(rows, None if sort_by.lower() == "none" else sort_by, reverse, cols=cols)


def _cell(col: str, value: object) -> str:
    """A Markdown cell: the table's number format (significant digits), N/A when missing."""
    return cell(col, value).replace("|", "\\|").replace("\n", " ")


def markdown(rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> str:
    """A GitHub-flavoured Markdown table; columns holding only numbers are right-aligned."""
    def numeric(col: str) -> bool:
        values = [row.get(col) for row in rows if not _missing(row.get(col))]
        return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)

    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---:" if numeric(col) else "---" for col in cols) + "|"]
    lines += ["| " + " | ".join(_cell(col, row.get(col)) for col in cols) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _through_file(write: Any, rows: Sequence[Mapping[str, Any]], suffix: str, **kwargs: Any) -> str:
    with tempfile.TemporaryDirectory(prefix="raybench-cli-") as tmp:
        path = write(list(rows), os.path.join(tmp, "rows" + suffix), **kwargs)
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()


def emit(rows: Sequence[Mapping[str, Any]], cols: Sequence[str] | None, fmt: str) -> None:
    """Print ``rows`` to stdout in ``fmt`` (one of :data:`FORMATS`).

    Args:
        rows: Dicts, already sorted.
        cols: The columns, in order. None: the table's (:func:`raybench.cli.table.print_table`)
            and Markdown's default is
            ``raybench.PRINT_COLS`` (the token columns for a streaming run), CSV's
            ``raybench.CSV_COLS`` (plus them), and JSON writes every key.
        fmt: "table", "csv", "json" or "markdown".
    """
    if fmt == "table":
        print_table(rows, list(cols) if cols else None)
    elif fmt == "markdown":
        sys.stdout.write(markdown(rows, list(cols or default_columns(rows, PRINT_COLS, STREAM_PRINT_COLS, replace=True))))
    elif fmt == "csv":
        sys.stdout.write(_through_file(write_csv, rows, ".csv", cols=list(cols) if cols else None))
    else:
        picked = rows if cols is None else [{col: row.get(col) for col in cols} for row in rows]
        sys.stdout.write(_through_file(write_json, picked, ".json"))


def read_results_file(path: str, label: str) -> Any:
    """Read a Parquet results file (``raybench.write_results``), or the one in a run folder or in
    a history folder's latest run (:func:`raybench.cli.history.results_file`); ``label`` names
    the argument.

    Raises:
        ConfigError: the file is missing or is not a raybench results file.
    """
    if os.path.isdir(path):
        path = results_file(path, label)
    if not os.path.isfile(path):
        raise _config_error(f"{label} must name an existing results file (got {path!r})")
    return read_results(path)  # a damaged or foreign file is its ConfigError, naming the file


def read_reports(path: str, label: str) -> list[dict[str, Any]]:
    """Reports from a Parquet results file, or from a reports JSON file (``raybench.write_json``).

    Raises:
        ConfigError: the file is missing or neither kind of file.
    """
    if path.lower().endswith(".json") and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                rows = json.load(f)
        except (ValueError, RecursionError) as err:  # RecursionError: nested too deeply to parse
            raise _config_error(f"{label} must be a reports JSON file (got {path!r}: {err})") from None
        if not (isinstance(rows, list) and all(isinstance(row, dict) for row in rows)):
            raise _config_error(f"{label} must be a JSON list of report objects (got {path!r})")
        return rows
    return get_reports(read_results_file(path, label))
