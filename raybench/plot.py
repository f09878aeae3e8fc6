"""Plots of a run: latency CDF, latency over time, throughput scaling, latency vs throughput; for
a streaming model also the TTFT and ITL CDFs and tokens/s and TTFT against concurrency; for a
capacity search latency against offered load and the Pareto front (``capacity_curve``,
``pareto``: :mod:`raybench.report.capacity_figures`).

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

from raybench.core.errors import ConfigError
from raybench.core.units import NS_PER_MS
from raybench.report.capacity_figures import capacity_curve, pareto
from raybench.report.figures import axes as _axes
from raybench.report.figures import binned as _binned
from raybench.report.figures import config_requests as _config_requests
from raybench.report.figures import config_label as _label
from raybench.report.figures import figure_class as _figure_class
from raybench.report.figures import finish as _finish
from raybench.report.figures import legend_proxy as _proxy
from raybench.report.figures import plain_log as _plain_log
from raybench.report.figures import reported as _reported
from raybench.report.figures import title as _title
from raybench.report.results import Results, get_reports

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["capacity_curve", "latency_cdf", "latency_over_time", "latency_vs_throughput", "pareto", "save_plots",
           "scaling", "token_latency_cdf", "tokens_vs_concurrency"]

#: Most latencies per config the CDF curve is drawn from: 20k points resolve it below a pixel.
_CDF_POINTS = 20_000


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


def token_latency_cdf(results: Results) -> Figure:
    """Draw each config's TTFT CDF (left) and ITL CDF (right) of a streaming run, log-x, with the
    reports' p50 and p99 marked (each CDF from at most 20k seeded samples).

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`
            of a model that streamed.

    Returns:
        The figure.

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`.
        MissingDependencyError: matplotlib is not installed.
    """
    results = Results.check(results)
    figure = _figure_class()(figsize=(12.0, 5.0), layout="constrained")
    ttft_ax, itl_ax = figure.subplots(1, 2)
    reports = {r["config_id"]: r for r in get_reports(results)}
    rng = np.random.default_rng(0)
    skipped: list[str] = []
    for config, requests in _config_requests(results, skipped):
        report = reports[config.config_id]
        for ax, name, samples in ((ttft_ax, "ttft", requests.ttft_ns), (itl_ax, "itl", requests.gaps)):
            if samples is None or samples.size == 0:
                continue
            if samples.size > _CDF_POINTS:
                samples = rng.choice(samples, _CDF_POINTS, replace=False)
            values = np.sort(samples) / NS_PER_MS
            p50, p99 = report[f"{name}_ms_p50"], report[f"{name}_ms_p99"]
            (line,) = ax.plot(values, np.arange(1, values.size + 1) / values.size, drawstyle="steps-post",
                              label=f"{_label(config)}: p50 {p50:.3g} ms, p99 {p99:.3g} ms")
            ax.scatter([p50, p99], [0.5, 0.99], color=line.get_color(), edgecolors="black", zorder=3)
    for ax, what in ((ttft_ax, "Time to first token"), (itl_ax, "Inter-token latency")):
        _plain_log(ax, "x")
        _finish(ax, _title(what, results), f"{what.lower()} (ms, log scale)", "fraction of samples", skipped,
                empty=not ax.lines, loc="lower right")
    return figure


def tokens_vs_concurrency(results: Results, ax: Axes | None = None) -> Figure:
    """Draw output tokens/s (left axis) and TTFT p50/p99 (right axis) against concurrency (copies
    x workers per copy), one line per batch size: where more concurrent calls stop buying
    tokens and start costing time to first token.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`
            of a model that streamed.
        ax: Axes to draw on; a new 10 x 5 inch figure when None.

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`.
        MissingDependencyError: matplotlib is not installed.
    """
    results, ax = Results.check(results), _axes(ax)
    right = ax.twinx()
    groups: dict[int, list[tuple[int, float, float, float]]] = {}
    skipped = []
    for config, report in _reported(results):
        if report["output_tokens_per_s"] is None:
            skipped.append(f"{_label(config)}: {report['status']}, no tokens")
            continue
        groups.setdefault(config.batch_size, []).append((config.n_models * config.workers_per_model,
                                                         report["output_tokens_per_s"], report["ttft_ms_p50"],
                                                         report["ttft_ms_p99"]))
    for batch, points in sorted(groups.items()):
        concurrency, tokens, p50, p99 = (np.array(column) for column in zip(*sorted(points)))
        (line,) = ax.plot(concurrency, tokens, marker="o", label=f"b={batch}: tokens/s")
        right.plot(concurrency, p50, marker="s", linestyle="--", color=line.get_color(), label=f"b={batch}: TTFT p50")
        right.plot(concurrency, p99, marker="^", linestyle=":", color=line.get_color(), label=f"b={batch}: TTFT p99")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    right.set_ylim(bottom=0)
    right.set_ylabel("time to first token (ms)")
    extra = list(right.get_lines())
    _finish(ax, _title("Tokens per second and TTFT against concurrency", results),
            "concurrent calls (n_models × workers_per_model)", "output tokens/s", skipped, empty=not groups,
            extra=extra, loc="center right")
    return ax.figure


_PLOTS: tuple[tuple[str, Callable[..., Figure]], ...] = (
    ("latency_cdf.png", latency_cdf),
    ("latency_over_time.png", latency_over_time),
    ("scaling.png", scaling),
    ("latency_vs_throughput.png", latency_vs_throughput),
)
#: Drawn too when the run's model streamed.
_STREAM_PLOTS: tuple[tuple[str, Callable[..., Figure]], ...] = (
    ("token_latency_cdf.png", token_latency_cdf),
    ("tokens_vs_concurrency.png", tokens_vs_concurrency),
)
#: Drawn too for a capacity search.
_SEARCH_PLOTS: tuple[tuple[str, Callable[..., Figure]], ...] = (
    ("capacity_curve.png", capacity_curve),
    ("pareto.png", pareto),
)


def save_plots(results: Results, out_dir: str | os.PathLike[str], *, overwrite: bool = False,
               dpi: float = 100) -> list[str]:
    """Write the four plots as PNG files into ``out_dir`` (created if missing), for a run whose
    model streamed also ``token_latency_cdf.png`` and ``tokens_vs_concurrency.png``, and for a
    capacity search ``capacity_curve.png`` and ``pareto.png``.

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
    plots = _PLOTS + (_STREAM_PLOTS if "chunk_ns" in results.timers.column_names else ())
    plots += _SEARCH_PLOTS if any(config.search is not None for config in results.configs) else ()
    paths = [os.path.join(os.fspath(out_dir), name) for name, _ in plots]
    existing = [path for path in paths if os.path.lexists(path)]
    if existing and not overwrite:
        raise _exists_error(existing)
    _figure_class()  # a missing matplotlib fails before the folder is made
    os.makedirs(out_dir, exist_ok=True)
    for path, (_, draw) in zip(paths, plots):
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
