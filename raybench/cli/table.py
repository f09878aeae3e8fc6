"""The command line's table: best config first, units under the headers, durations with their
significant digits, model paths as file names, and no wider than the terminal.

``raybench.print_reports`` stays NeuronPerf's plain table for API users; this is what a person at
a terminal reads. Column keys stay the report keys everywhere else (``--cols``, ``--sort-by``,
CSV, JSON): only the header shown here is short.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import numpy as np

from raybench.report.output import (
    MISSING,
    PRINT_COLS,
    STREAM_PRINT_COLS,
    default_columns,
    plain_value,
    sort_reports,
)

#: Short header and unit of the common columns; others get theirs from :func:`header`'s rules.
_HEADERS: dict[str, tuple[str, str]] = {
    "throughput_avg": ("throughput", "samples/s"),
    "throughput_peak": ("peak", "samples/s"),
    "n_models": ("copies", ""),
    "pipeline_size": ("pipeline", ""),
    "workers_per_model": ("workers", ""),
    "batch_size": ("batch", ""),
    "model_filename": ("model", ""),
    "model_name": ("name", ""),
    "output_tokens_per_s": ("output", "tokens/s"),
    "goodput": ("goodput", "samples/s"),
    "slo_met_pct": ("slo met", "%"),
    "slo_ok": ("slo ok", ""),
    "capacity_rate": ("capacity", "requests/s"),
    "capacity_throughput": ("capacity", "samples/s"),
    "capacity_probes": ("probes", ""),
    "target_rate": ("target", "requests/s"),
    "total_infs": ("inferences", ""),
    "total_s": ("measured", "s"),
    "cost_per_1m_inf": ("cost/1M inf", "USD"),
    "cost_per_1m_tokens": ("cost/1M tok", "USD"),
    "copy_cpu_avg_percent": ("copy cpu", "% of core"),
    "copy_rss_max_mb": ("copy rss max", "MB"),
    "neuroncore_util_avg": ("neuroncore", "util %"),
    "gpu_util_avg": ("gpu", "util %"),
    "gpu_mem_max_mb": ("gpu mem max", "MB"),
    "energy_j_per_1k_inf": ("energy/1k inf", "J"),
}
#: Columns where a larger value is the better config; ``_ms`` columns and costs are better smaller.
_HIGHER_IS_BETTER = re.compile(r"^(throughput_|capacity_rate$|capacity_throughput$|goodput$|slo_met_pct$|.*_per_s$)")
_LOWER_IS_BETTER = re.compile(r"(_ms_|_ms$|^cost_|^n_errors$)")
#: Columns that hold paths: shown as the file name.
_PATH_COLS = frozenset({"model_filename"})
#: The narrowest a shortened text column gets before columns are hidden instead.
_MIN_TEXT = 12


def header(col: str) -> tuple[str, str]:
    """The short header and the unit shown under it for report key ``col``.

    ``latency_ms_p99`` is ``("latency p99", "ms")``, ``cpu_avg_percent`` ``("cpu avg", "%")``;
    a key without a known unit is shown as it is.
    """
    if col in _HEADERS:
        return _HEADERS[col]
    match = re.fullmatch(r"(\w+?)_ms(?:_(\w+))?", col)
    if match:  # latency_ms_p99_9 is "latency p99.9": a percentile's decimals were joined by "_"
        name, percentile = match.groups()
        percentile = re.sub(r"^(p\d+)_(\d+)$", r"\1.\2", percentile) if percentile else None
        return " ".join(part.replace("_", " ") for part in (name, percentile) if part), "ms"
    if col.endswith("_percent"):
        return col[: -len("_percent")].replace("_", " "), "%"
    return col, ""


def best_first(col: str) -> bool:
    """Whether sorting ``col`` best first means descending (throughput, capacity, goodput)."""
    return bool(_HIGHER_IS_BETTER.match(col)) and not _LOWER_IS_BETTER.search(col)


def sort_best_first(rows: Sequence[Mapping[str, Any]], sort_by: str | None, reverse: bool = False, *,
                    cols: Sequence[str] | None = None) -> list[Mapping[str, Any]]:
    """Rows best first on ``sort_by`` (``"best"``: the table's first column), missing values last;
    ``reverse`` puts the worst first; ``None`` keeps the given order.

    Raises:
        ConfigError: naming ``--sort-by``, when it is a key of no row or its values do not compare.
    """
    if sort_by == "best":
        shown = list(cols) if cols else default_columns(rows, PRINT_COLS, STREAM_PRINT_COLS, replace=True)
        sort_by = shown[0] if shown and rows and any(shown[0] in row for row in rows) else None
    if sort_by is None:
        return list(rows)
    return sort_reports(rows, sort_by, best_first(sort_by) != reverse, name="--sort-by")


def cell(col: str, value: object) -> str:
    """One cell: floats with 4 significant digits (0.006123, 12.35, 307.2) and no decimals from
    1000 up, paths as their file name, missing values as N/A."""
    value = plain_value(value)
    if value is None:
        return MISSING
    if isinstance(value, float) and math.isfinite(value):
        if abs(value) >= 1000:
            return f"{value:.0f}"
        return str(np.format_float_positional(value, precision=4, unique=True, fractional=False, trim="-"))
    if col in _PATH_COLS and isinstance(value, str):
        return os.path.basename(value.rstrip("/\\")) or value
    return str(value)


def _numeric(values: Sequence[object]) -> bool:
    present = [v for v in (plain_value(v) for v in values) if v is not None]
    return bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)


def terminal_width(stream: TextIO) -> int | None:
    """The columns to fit: the terminal's, else ``$COLUMNS``, else None (a pipe gets it all)."""
    try:
        if stream.isatty():
            return shutil.get_terminal_size(fallback=(80, 24)).columns
    except (AttributeError, OSError, ValueError):
        pass
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else None


def _shorten(text: str, width: int) -> str:
    """``text`` cut in the middle to ``width`` characters (a name's start and end tell it apart)."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: (keep + 1) // 2] + "…" + text[len(text) - keep // 2:]


class _Column:
    def __init__(self, col: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.key = col
        self.name, self.unit = header(col)
        self.cells = [cell(col, row.get(col)) for row in rows]
        self.numeric = _numeric([row.get(col) for row in rows])

    def width(self) -> int:
        return max(len(self.name), len(self.unit), *(len(c) for c in self.cells))

    def constant(self) -> bool:
        return len(self.cells) > 1 and len(set(self.cells)) == 1

    def render(self, text: str, width: int) -> str:
        return text.rjust(width) if self.numeric else text.ljust(width)


def _fit(columns: list[_Column], width: int | None) -> tuple[list[_Column], list[str]]:
    """Columns that fit ``width``, and footer lines saying what was folded or hidden to fit."""
    notes: list[str] = []

    def total(cols: list[_Column]) -> int:
        return sum(c.width() for c in cols) + 2 * (len(cols) - 1)

    if width is None or total(columns) <= width:
        return columns, notes
    same = [c for c in columns[1:] if c.constant()]  # the first column is what the rows are sorted on
    if same:
        columns = [c for c in columns if c not in same]
        notes.append("every row: " + ", ".join(f"{c.name} {c.cells[0]}{(' ' + c.unit) if c.unit else ''}" for c in same))
    for column in columns:  # text columns give up their width before any column is hidden
        over = total(columns) - width
        if over > 0 and not column.numeric and column.width() > _MIN_TEXT:
            cut = max(column.width() - over, _MIN_TEXT, len(column.name))
            column.cells = [_shorten(c, cut) for c in column.cells]
    hidden: list[_Column] = []
    while len(columns) > 1 and total(columns) > width:
        hidden.insert(0, columns.pop())
    if hidden:
        notes.append(f"hidden to fit {width} columns: {', '.join(c.key for c in hidden)} (choose with --cols)")
    return columns, notes


def print_table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str] | None = None, *,
                file: TextIO | None = None, width: int | None | str = "terminal") -> None:
    """Print ``rows`` (already sorted) under short headers with their units, right-aligned numbers.

    Args:
        rows: Report dicts.
        cols: Report keys to show, in order; default the reports' default columns
            (``raybench.PRINT_COLS``, or the streaming, SLO or capacity ones).
        file: Where to print; default ``sys.stdout``.
        width: Columns to fit, None for no limit; ``"terminal"`` asks :func:`terminal_width`.
            To fit, columns whose value is the same in every row move to a footer line, text
            columns are shortened, then the last columns are hidden (the footer names them).
    """
    out = sys.stdout if file is None else file
    if cols is None:
        cols = default_columns(rows, PRINT_COLS, STREAM_PRINT_COLS, replace=True)
    columns = [_Column(col, rows) for col in cols]
    fit = terminal_width(out) if width == "terminal" else width
    columns, notes = _fit(columns, fit)  # type: ignore[arg-type]
    widths = [c.width() for c in columns]
    lines = ["  ".join(c.render(c.name, w) for c, w in zip(columns, widths))]
    if any(c.unit for c in columns):
        lines.append("  ".join(c.render(c.unit, w) for c, w in zip(columns, widths)))
    lines += ["  ".join(c.render(c.cells[i], w) for c, w in zip(columns, widths)) for i in range(len(rows))]
    for line in lines:
        print(line.rstrip(), file=out)
    for note in notes:  # wrapped, or the footer would be the one line that overflows
        print(textwrap.fill(note, width=fit or 10**6, subsequent_indent="  "), file=out)
