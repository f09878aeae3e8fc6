"""Plots of a run: latency CDF, latency over time, throughput scaling, latency vs throughput.

Each function takes a :class:`raybench.Results` (``benchmark(..., return_timers=True)`` or
:func:`raybench.read_results`) and returns a ``matplotlib.figure.Figure``; :func:`save_plots`
writes all four as PNG files (what ``raybench plot RESULTS --out DIR`` does).

matplotlib is imported here only, on first use, so ``import raybench`` never loads it. Figures
are built as ``matplotlib.figure.Figure`` objects, not through pyplot: no global figure registry
to leak into, no backend to choose, and they render headless. A bare Figure has no PNG
representation of its own, so in Jupyter run ``%matplotlib inline`` once; then a returned figure
shows as a cell's value or with ``display(fig)``.

A run can hold tens of millions of timer rows, so no plot draws one mark per row: the CDF is drawn
from a seeded random subsample (its p50/p99 marks are the reports' exact values) and latency over
time from per-time-bin p50, p99 and max. Only ok rows are latencies (``end_ns - start_ns``).
Configs without data (an error before any call succeeded) are left out and named in the legend.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.compute as pc

from raybench.core.errors import ConfigError, MissingDependencyError
from raybench.core.units import NS_PER_MS, NS_PER_S
from raybench.report.results import Results, get_reports

__all__ = ["latency_cdf", "latency_over_time", "latency_vs_throughput", "save_plots", "scaling"]

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["latency_cdf", "latency_over_time", "latency_vs_throughput", "save_plots", "scaling"]

#: Most latencies per config the CDF curve is drawn from: 20k points resolve it below a pixel.
_CDF_POINTS = 20_000
#: Most time bins per config in latency over time, and the rows a bin holds on average at least.
_MAX_BINS = 200
_ROWS_PER_BIN = 20
_FIGSIZE_IN = (10.0, 5.0)
_CONFIG_KEY = "n copies, w workers/copy, b batch, p pipeline"


def latency_cdf(results: Results, ax: Axes | None = None) -> Figure:
    """Draw each config's latency CDF on a log-x axis, its p50 and p99 marked with dots.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        ax: Axes to draw on; a new 10 x 5 inch figure when None.

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`.
        MissingDependencyError: matplotlib is not installed.
    """
    results, ax = Results.check(results), _axes(ax)
    p50_p99 = {r["config_id"]: (r["latency_ms_p50"], r["latency_ms_p99"]) for r in get_reports(results)}
    rng = np.random.default_rng(0)  # seeded: the same results always draw the same figure
    skipped: list[str] = []
    for config, _, _, latency_ns in _ok_rows(results, skipped):
        if latency_ns.size > _CDF_POINTS:
            latency_ns = rng.choice(latency_ns, _CDF_POINTS, replace=False)
        latency_ms = np.sort(latency_ns) / NS_PER_MS
        p50, p99 = p50_p99[config.config_id]
        label = f"{_label(config)}: p50 {p50:.3g} ms, p99 {p99:.3g} ms"
        (line,) = ax.plot(latency_ms, np.arange(1, latency_ms.size + 1) / latency_ms.size, label=label,
                          drawstyle="steps-post")
        ax.scatter([p50, p99], [0.5, 0.99], color=line.get_color(), edgecolors="black", zorder=3)
    for level, name, align in ((0.5, "p50", "bottom"), (0.99, "p99", "top")):
        ax.axhline(level, color="0.6", linewidth=0.8, linestyle=":")
        ax.text(0.01, level, name, transform=ax.get_yaxis_transform(), va=align, color="0.4")
    _plain_log(ax, "x")
    ax.set_ylim(0, 1.02)
    _finish(ax, _title("Latency CDF", results), "latency (ms, log scale)", "fraction of inferences ≤ latency",
            skipped, empty=len(skipped) == len(results.configs), outside=True)
    return ax.figure


def latency_over_time(results: Results, ax: Axes | None = None) -> Figure:
    """Draw each config's latency against time, binned: p50 (solid), p99 (dashed), max (x).

    Time is when a call started, in seconds since the config's start (its barrier, else its first
    call). Up to 200 bins per config, of 20 rows or more; an empty bin leaves a gap in the lines,
    so a stall shows as a gap and a tall max. The y axis is logarithmic.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        ax: Axes to draw on; a new 10 x 5 inch figure when None.

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`.
        MissingDependencyError: matplotlib is not installed.
    """
    results, ax = Results.check(results), _axes(ax)
    skipped: list[str] = []
    for config, origin_ns, start_ns, latency_ns in _ok_rows(results, skipped):
        seconds, p50, p99, peak = _binned(start_ns - origin_ns, latency_ns)
        (line,) = ax.plot(seconds, p50, marker=".", markersize=3, label=_label(config))
        ax.plot(seconds, p99, linestyle="--", linewidth=1, color=line.get_color())
        ax.plot(seconds, peak, linestyle="none", marker="x", markersize=3, color=line.get_color(), alpha=0.5)
    _plain_log(ax, "y")
    styles = [_proxy("p50 per bin", linestyle="-"), _proxy("p99 per bin", linestyle="--"),
              _proxy("max per bin", linestyle="none", marker="x")]
    _finish(ax, _title("Latency over time", results), "time since the config's start (s)", "latency (ms, log scale)",
            skipped, empty=len(skipped) == len(results.configs), extra=styles, outside=True)
    return ax.figure


def scaling(results: Results, ax: Axes | None = None) -> Figure:
    """Draw throughput against n_models, with ideal linear scaling and each point's efficiency.

    One line per (workers_per_model, batch_size, pipeline_size) group, and per model file when
    the run holds several (two artifacts are different models). The dashed ideal line grows
    linearly from the group's n_models=1 point (its smallest n_models, when 1 was not run), and
    each point is labelled with its scaling efficiency ``throughput(n) / (n * throughput(1))``.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        ax: Axes to draw on; a new 10 x 5 inch figure when None.

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`.
        MissingDependencyError: matplotlib is not installed.
    """
    results, ax = Results.check(results), _axes(ax)
    groups: dict[tuple[str, int, int, int], list[tuple[int, float]]] = {}
    skipped = []
    for config, report in _reported(results):
        if report["throughput_avg"] is None:
            skipped.append(f"{_label(config)}: {report['status']}, no throughput")
            continue
        key = (config.model_filename, config.workers_per_model, config.batch_size, config.pipeline_size)
        groups.setdefault(key, []).append((config.n_models, report["throughput_avg"]))
    several_models = len({key[0] for key in groups}) > 1
    for (model, workers, batch, pipeline), points in groups.items():
        n_models, throughput = (np.array(column) for column in zip(*sorted(points)))
        label = f"w={workers} b={batch}" + (f" p={pipeline}" if pipeline != 1 else "")
        (line,) = ax.plot(n_models, throughput, marker="o", label=label + (f" {model}" if several_models else ""))
        per_copy = throughput[0] / n_models[0]
        if per_copy <= 0:  # nothing to scale from: no ideal line, no efficiency
            continue
        ideal_n = np.array([n_models[0], n_models[-1]])
        ax.plot(ideal_n, ideal_n * per_copy, linestyle="--", color=line.get_color(), alpha=0.6, gid="ideal")
        for n, value in zip(n_models, throughput):
            ax.annotate(f"{value / (n * per_copy):.0%}", (n, value), xytext=(0, 7), textcoords="offset points",
                        ha="center", fontsize="small", color=line.get_color(), gid="efficiency")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(y=0.1)  # headroom for the top point's label
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    styles = [_proxy("ideal: linear from n_models=1", linestyle="--"),
              _proxy("%: efficiency = throughput(n) / (n × throughput(1))", linestyle="none")]
    _finish(ax, _title("Throughput scaling with model copies", results), "n_models (model copies)",
            "throughput (inferences/s)", skipped, empty=not groups, extra=styles, loc="upper left")
    return ax.figure


def latency_vs_throughput(results: Results, ax: Axes | None = None) -> Figure:
    """Draw every config as a point: its throughput_avg against its p50 (o) and p99 (^) latency.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        ax: Axes to draw on; a new 10 x 5 inch figure when None.

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`.
        MissingDependencyError: matplotlib is not installed.
    """
    results, ax = Results.check(results), _axes(ax)
    points: list[tuple[float, float, float, str]] = []
    skipped = []
    for config, report in _reported(results):
        if report["throughput_avg"] is None or report["latency_ms_p50"] is None:
            skipped.append(f"{_label(config)}: {report['status']}, no data")
            continue
        points.append((report["throughput_avg"], report["latency_ms_p50"], report["latency_ms_p99"], _label(config)))
    if points:
        x, p50, p99, labels = zip(*points)
        ax.vlines(x, p50, p99, color="0.7", linewidth=1, zorder=1)
        ax.scatter(x, p50, marker="o", label="p50", zorder=2)
        ax.scatter(x, p99, marker="^", label="p99", zorder=2)
        for x_value, y_value, text in zip(x, p99, labels):
            ax.annotate(text, (x_value, y_value), xytext=(4, 4), textcoords="offset points", fontsize="small")
        ax.set_ylim(0, max(p99) * 1.15)  # from zero, so heights compare; headroom for the labels
    _finish(ax, _title("Latency vs throughput", results), "throughput (inferences/s)", "latency (ms)", skipped,
            empty=not points)
    return ax.figure


_PLOTS: tuple[tuple[str, Callable[..., Figure]], ...] = (
    ("latency_cdf.png", latency_cdf),
    ("latency_over_time.png", latency_over_time),
    ("scaling.png", scaling),
    ("latency_vs_throughput.png", latency_vs_throughput),
)


def save_plots(results: Results, out_dir: str | os.PathLike[str], *, overwrite: bool = False,
               dpi: float = 100) -> list[str]:
    """Write the four plots as PNG files into ``out_dir`` (created if missing).

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        out_dir: Folder for ``latency_cdf.png``, ``latency_over_time.png``, ``scaling.png`` and
            ``latency_vs_throughput.png``.
        overwrite: Replace existing files of those names (else none is written).
        dpi: Dots per inch; each figure is 10 x 5 inches (1000 x 500 pixels at 100 dpi).

    Returns:
        The paths written, in the order above.

    Raises:
        ConfigError: ``results`` is not a Results, ``dpi`` is not a positive number, or one of
            the files exists and ``overwrite`` is False.
        MissingDependencyError: matplotlib is not installed.
        OSError: ``out_dir`` cannot be created or written.
    """
    results = Results.check(results)
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not (math.isfinite(dpi) and dpi > 0):
        raise ConfigError(f"dpi must be a positive number of dots per inch (got {dpi!r})")
    paths = [os.path.join(os.fspath(out_dir), name) for name, _ in _PLOTS]
    existing = [path for path in paths if os.path.lexists(path)]
    if existing and not overwrite:
        raise _exists_error(existing)
    _figure_class()  # a missing matplotlib fails before the folder is made
    os.makedirs(out_dir, exist_ok=True)
    for path, (_, draw) in zip(paths, _PLOTS):
        figure = draw(results)
        try:  # "xb" refuses a file created since the check rather than replacing it
            file = open(path, "wb" if overwrite else "xb")  # noqa: SIM115 - closed by the with below
        except FileExistsError:
            raise _exists_error([path]) from None
        try:
            with file:
                figure.savefig(file, format="png", dpi=dpi)
        except BaseException:
            os.unlink(path)  # no half-written PNG left behind
            raise
    return paths


def _exists_error(paths: list[str]) -> ConfigError:
    listed = ", ".join(repr(path) for path in paths)
    return ConfigError(f"out_dir already holds {listed} (pass overwrite=True to replace)")


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        msg = "raybench.plot needs matplotlib, which is not installed: pip install 'raybench[plot]'"
        raise MissingDependencyError(msg) from err
    return Figure


def _axes(ax: Axes | None) -> Axes:
    """``ax``, or the axes of a new figure (constrained layout keeps labels and legend inside)."""
    figure_class = _figure_class()
    return ax if ax is not None else figure_class(figsize=_FIGSIZE_IN, layout="constrained").add_subplot()


def _ok_rows(results: Results, skipped: list[str]) -> Iterator[tuple[Any, int, np.ndarray, np.ndarray]]:
    """Each config with ok rows: its start (ns), and its rows' start times and latencies (ns).

    A config without ok rows is noted in ``skipped`` instead. One config's arrays at a time.
    """
    outcomes = {outcome.config_id: outcome for outcome in results.outcomes}
    ids, ok = results.timers.column("config_id"), results.timers.column("ok")
    measured = results.timers.select(["start_ns", "end_ns"])
    for config in results.configs:
        rows = measured.filter(pc.and_(pc.equal(ids, config.config_id), ok))
        outcome = outcomes.get(config.config_id)
        if rows.num_rows == 0:
            skipped.append(f"{_label(config)}: {outcome.status if outcome else 'no outcome'}, no data")
            continue
        start_ns = rows.column("start_ns").to_numpy()
        origin_ns = outcome.start_ns if outcome and outcome.start_ns is not None else int(start_ns.min())
        yield config, origin_ns, start_ns, rows.column("end_ns").to_numpy() - start_ns


def _reported(results: Results) -> list[tuple[Any, dict[str, Any]]]:
    configs = {config.config_id: config for config in results.configs}
    return [(configs[report["config_id"]], report) for report in get_reports(results)]


def _binned(offset_ns: np.ndarray, latency_ns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Bin centres (s) and per-bin p50, p99 and max latency (ms); NaN for an empty bin."""
    n_bins = int(np.clip(latency_ns.size // _ROWS_PER_BIN, 1, _MAX_BINS))
    first = min(int(offset_ns.min()), 0)  # from the config's start, or before it (clock skew)
    width = max((int(offset_ns.max()) - first) / n_bins, 1.0)
    index = np.minimum((offset_ns - first) / width, n_bins - 1).astype(np.uint16)
    # A stable sort of 16-bit keys is numpy's radix sort: O(n) even for tens of millions of rows.
    by_bin = latency_ns[np.argsort(index, kind="stable")] / NS_PER_MS
    bounds = np.concatenate(([0], np.cumsum(np.bincount(index, minlength=n_bins))))
    stats = np.full((3, n_bins), np.nan)
    for b in range(n_bins):
        chunk = by_bin[bounds[b] : bounds[b + 1]]
        if chunk.size:
            stats[:, b] = [*np.percentile(chunk, [50, 99]), chunk.max()]
    return (first + (np.arange(n_bins) + 0.5) * width) / NS_PER_S, *stats


def _label(config: Any) -> str:
    text = f"#{config.config_id} n={config.n_models} w={config.workers_per_model} b={config.batch_size}"
    return text + (f" p={config.pipeline_size}" if config.pipeline_size != 1 else "")


def _title(what: str, results: Results) -> str:
    names = list(dict.fromkeys(config.model_name for config in results.configs))
    return f"{what}: {', '.join(names)}" if names else what


def _plain_log(ax: Axes, which: str) -> None:
    """Log scale labelled with plain numbers (0.3, 12, 150) where matplotlib would put 1.2×10¹."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):  # keeps LogFormatter's choice of which ticks get a label
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain())


def _proxy(label: str, **style: Any) -> Any:
    """A legend entry drawn nowhere else: a style key or a config left out."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color="0.4", label=label, **style)


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str, skipped: list[str], *, empty: bool,
            extra: list[Any] | None = None, loc: str = "best", outside: bool = False) -> None:
    """Title, axis labels, a "no data" note, and one legend: entries, style keys, configs left out."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if empty:
        ax.text(0.5, 0.5, "no data: no successful inferences", transform=ax.transAxes, ha="center", va="center")
        extra = None  # no style to explain
    handles, labels = ax.get_legend_handles_labels()
    for artist in [*(extra or []), *(_proxy(note, linestyle="none") for note in skipped)]:
        handles.append(artist)
        labels.append(artist.get_label())
    if handles:
        place = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if outside else {"loc": loc}
        ax.legend(handles, labels, title=_CONFIG_KEY, fontsize="small", title_fontsize="small", **place)
