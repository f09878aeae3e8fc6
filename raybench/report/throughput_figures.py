"""Throughput plots of a sweep (:mod:`raybench.plot` exports them): throughput against model
copies with ideal scaling, and latency against throughput with configs joined by concurrency,
the Pareto front and an SLO line.

Throughput is the reports' ``throughput_avg``: samples per second, i.e. inferences per second
times the batch size (:func:`raybench.report.stats.bucket_throughput`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from raybench.core.errors import ConfigError
from raybench.core.slo import constraints_of
from raybench.report.figures import axes, config_label, finish, legend_proxy, pareto_front, plain_log, reported, title
from raybench.report.results import Results

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

THROUGHPUT_LABEL = "throughput (samples/s = inferences/s × batch size)"
#: Closest two labels at one x may come, in points: a small font's line with its backing, which
#: matplotlib 3.10 (the newest for Python 3.10) draws a point taller than 3.11 does.
LABEL_GAP_PT = 10.5


def scaling(results: Results, ax: Axes | None = None) -> Figure:
    """Draw throughput (samples/s) against n_models, with ideal linear scaling and each point's
    efficiency.

    One line per (workers_per_model, batch_size, pipeline_size) group, and per model file when
    the run holds several (two artifacts are different models). The dashed ideal line grows
    linearly from the group's n_models=1 point (its smallest n_models, when 1 was not run), and
    each later point is labelled with its scaling efficiency ``throughput(n) / (n * throughput(1))``
    (labels at one n are spread apart so they never overlap). The x axis spans the n_models run,
    ticked at each; a sweep with two n_models per line (``n_models=[1, MAX]``) says in the plot
    that it shows only the two ends.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        ax: Axes to draw on; a new 10 x 5 inch figure when None.

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`.
        MissingDependencyError: matplotlib is not installed.
    """
    results, ax = Results.check(results), axes(ax)
    groups: dict[tuple[str, int, int, int], list[tuple[int, float]]] = {}
    skipped = []
    for config, report in reported(results):
        if report["throughput_avg"] is None:
            skipped.append(f"{config_label(config)}: {report['status']}, no throughput")
            continue
        key = (config.model_filename, config.workers_per_model, config.batch_size, config.pipeline_size)
        groups.setdefault(key, []).append((config.n_models, report["throughput_avg"]))
    several_models = len({key[0] for key in groups}) > 1
    labels: list[tuple[float, float, str, str]] = []
    for (model, workers, batch, pipeline), points in groups.items():
        n_models, throughput = (np.array(column) for column in zip(*sorted(points)))
        label = f"w={workers} b={batch}" + (f" p={pipeline}" if pipeline != 1 else "")
        (line,) = ax.plot(n_models, throughput, marker="o", label=label + (f" {model}" if several_models else ""))
        per_copy = throughput[0] / n_models[0]
        if per_copy <= 0:  # nothing to scale from: no ideal line, no efficiency
            continue
        ideal_n = np.array([n_models[0], n_models[-1]])
        ax.plot(ideal_n, ideal_n * per_copy, linestyle="--", color=line.get_color(), alpha=0.6, gid="ideal")
        # The first point is 100 % by definition: labelling it only crowds the left edge.
        labels += [(n, value, f"{value / (n * per_copy):.0%}", line.get_color())
                   for n, value in zip(n_models[1:], throughput[1:])]
    run = sorted({n for points in groups.values() for n, _ in points})
    if run:
        _n_models_axis(ax, run)
        ax.set_ylim(0, 1.1 * max(max(line.get_ydata()) for line in ax.lines) or 1.0)  # room for the top label
        spread_labels(ax, labels, gid="efficiency")
        _sweep_hint(ax, max(len(points) for points in groups.values()), run)
    styles = [legend_proxy("ideal: linear from the first n_models", linestyle="--"),
              legend_proxy("%: efficiency = throughput(n) / (n × throughput(first))", linestyle="none")]
    finish(ax, title("Throughput scaling with model copies", results), "n_models (model copies)",
           THROUGHPUT_LABEL, skipped, empty=not groups, extra=styles, loc="upper left")
    return ax.figure


def _n_models_axis(ax: Axes, run: list[int]) -> None:
    """x from just below the smallest n_models run to just above the largest (not from 0: with
    [1, 2] that would leave a third of the plot empty), ticked at each value run."""
    pad = max(0.08 * (run[-1] - run[0]), 0.3)
    ax.set_xlim(run[0] - pad, run[-1] + pad)
    if len(run) <= 12:
        ax.set_xticks(run)
    else:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _sweep_hint(ax: Axes, most_points: int, run: list[int]) -> None:
    """Say in the plot when the lines are too short to show a curve."""
    if most_points > 2:
        return
    if most_points == 2:
        text = (f"2 points per line (n_models {run[0]} and {run[-1]}): a sweep like n_models=[1, MAX] shows only "
                "the ends;\na list such as n_models=[1, 2, 4, 8] shows the curve between")
    else:
        text = "1 point per line: sweep n_models (e.g. [1, 2, 4, 8]) to see how throughput scales"
    ax.text(0.99, 0.02, text, transform=ax.transAxes, ha="right", va="bottom", fontsize="x-small", color="0.3",
            gid="hint", bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.8"})


def spread_labels(ax: Axes, labels: Sequence[tuple[float, float, str, str]], *, gid: str) -> None:
    """Label points ``(x, y, text, colour)`` to their right, nudging labels at one x apart in
    height so none overlaps another. Needs the axes' final limits (set them first)."""
    if not labels:
        return
    ax.figure.draw_without_rendering()  # lays the figure out, so data map to their final points
    to_pt = 72.0 / ax.figure.dpi
    by_x: dict[float, list[tuple[float, float, str, str]]] = {}
    for label in labels:
        by_x.setdefault(label[0], []).append(label)
    for same_x in by_x.values():
        placed = -math.inf
        for x, y, text, color in sorted(same_x, key=lambda label: label[1]):
            y_pt = ax.transData.transform((x, y))[1] * to_pt
            at = max(y_pt, placed + LABEL_GAP_PT)
            placed = at
            # A light backing keeps a label readable where it sits on a line running on to the right.
            ax.annotate(text, (x, y), xytext=(8, at - y_pt), textcoords="offset points", ha="left", va="center",
                        fontsize="small", color=color, gid=gid,
                        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def latency_vs_throughput(results: Results, ax: Axes | None = None, *, slo_ms: float | None = None) -> Figure:
    """Draw every config at its throughput (samples/s) and its p99 (solid, ^) and p50 (dashed, o)
    latency on a log axis, configs that differ only in concurrency joined by a line, the Pareto
    front of p99 ringed, and an SLO as a horizontal line.

    A line joins the configs of one (model, batch_size, pipeline_size, n_models) in order of
    workers_per_model, each point labelled ``w=``; when no line would have two points (workers
    not swept) it joins along n_models instead (``n=``). The Pareto front is the configs no other
    beats on both: more samples/s at a lower p99.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        ax: Axes to draw on; a new 10 x 5 inch figure when None.
        slo_ms: A p99 latency limit (ms) to draw; None draws the run's own ``latency_ms_p99``
            SLO when it had one, else none.

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`, or ``slo_ms`` is not a
            positive number.
        MissingDependencyError: matplotlib is not installed.
    """
    results = Results.check(results)
    if slo_ms is not None and (isinstance(slo_ms, bool) or not isinstance(slo_ms, (int, float))
                               or not (math.isfinite(slo_ms) and slo_ms > 0)):
        raise ConfigError(f"slo_ms must be a positive number of milliseconds (got {slo_ms!r})")
    ax = axes(ax)
    slo_ms = slo_ms if slo_ms is not None else constraints_of(results.metadata.get("slo")).get("latency_ms_p99")
    points, skipped = [], []
    for config, report in reported(results):
        if report["throughput_avg"] is None or report["latency_ms_p50"] is None:
            skipped.append(f"{config_label(config)}: {report['status']}, no data")
            continue
        points.append((config, report["throughput_avg"], report["latency_ms_p50"], report["latency_ms_p99"]))
    knob, groups = concurrency_lines(points)
    for index, (name, line) in enumerate(groups.items()):
        color = f"C{index % 10}"
        _, x, p50, p99 = zip(*line)
        ax.plot(x, p99, "-^", color=color, markersize=5, label=name, gid="p99")
        ax.plot(x, p50, "--o", color=color, markersize=3.5, linewidth=0.9, alpha=0.7, gid="p50")
        for config, x_value, y_value in zip(line, x, p99):
            value = getattr(config[0], knob)
            ax.annotate(f"{knob[0]}={value}", (x_value, y_value), xytext=(3, 4), textcoords="offset points",
                        fontsize="x-small", color=color)
    if points:
        front = pareto_front([(x, p99, config) for config, x, _, p99 in points])
        fx, fy, _ = zip(*front)
        ax.plot(fx, fy, color="0.3", linewidth=5, alpha=0.18, zorder=1, solid_capstyle="round", gid="pareto",
                label="Pareto front of p99")
        plain_log(ax, "y")
        top = max(max(p99 for *_, p99 in points), slo_ms or 0)
        ax.set_ylim(top=top * 1.3)  # room for the top point's label on the log axis
        ax.margins(x=0.08)  # and for the labels right of the outermost points
    if slo_ms is not None:
        ax.axhline(slo_ms, color="red", linewidth=1, alpha=0.8, gid="slo", label=f"SLO p99 ≤ {slo_ms:g} ms")
        ax.annotate(f"SLO {slo_ms:g} ms", (0, slo_ms), xycoords=("axes fraction", "data"), xytext=(4, 3),
                    textcoords="offset points", fontsize="x-small", color="red")
    joined = {"workers_per_model": "workers per copy", "n_models": "model copies"}[knob]
    styles = [legend_proxy("p99 (solid, ^)", linestyle="-", marker="^"),
              legend_proxy("p50 (dashed, o)", linestyle="--", marker="o"),
              legend_proxy(f"a line: more {joined} ({knob[0]}=)", linestyle="none")]
    finish(ax, title("Latency vs throughput", results), THROUGHPUT_LABEL, "latency (ms, log scale)", skipped,
           empty=not points, extra=styles, below=True)
    return ax.figure


def concurrency_lines(points: list[tuple[Any, ...]]) -> tuple[str, dict[str, list[tuple[Any, ...]]]]:
    """The knob the lines run along ("workers_per_model", else "n_models") and the lines:
    a legend label to its ``(config, ...)`` points in order of the knob."""
    def lines(knob: str, other: str) -> dict[str, list[tuple[Any, ...]]]:
        found: dict[str, list[tuple[Any, ...]]] = {}
        for point in points:
            c = point[0]
            name = f"{other[0]}={getattr(c, other)} b={c.batch_size}" + (f" p={c.pipeline_size}" if c.pipeline_size != 1
                                                                          else "")
            several = len({p[0].model_filename for p in points}) > 1
            found.setdefault(name + (f" {c.model_filename}" if several else ""), []).append(point)
        return {name: sorted(line, key=lambda p: getattr(p[0], knob)) for name, line in found.items()}

    by_workers = lines("workers_per_model", "n_models")
    if any(len(line) > 1 for line in by_workers.values()):
        return "workers_per_model", by_workers
    return "n_models", lines("n_models", "workers_per_model")
