"""What every plot of :mod:`raybench.plot` shares: the lazily imported matplotlib figure, the
axes, the config labels and titles, plain-number log axes, and one legend per plot.

matplotlib is imported only when a plot is drawn, so ``import raybench`` never loads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.compute as pc

from raybench.core.errors import ConfigError, MissingDependencyError
from raybench.report.results import Results, get_reports
from raybench.report.streams import Requests, ok_requests

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FIGSIZE_IN = (10.0, 5.0)
CONFIG_KEY = "n copies, w workers/copy, b batch, p pipeline"


def figure_class() -> type[Figure]:
    """matplotlib's ``Figure``, imported now.

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        msg = "raybench.plot needs matplotlib, which is not installed: pip install 'raybench[plot]'"
        raise MissingDependencyError(msg) from err
    return Figure


def axes(ax: Axes | None) -> Axes:
    """``ax``, or the axes of a new figure (constrained layout keeps labels and legend inside)."""
    figure = figure_class()
    return ax if ax is not None else figure(figsize=FIGSIZE_IN, layout="constrained").add_subplot()


def config_label(config: Any) -> str:
    """A config in a legend: ``#3 n=2 w=1 b=8`` (and ``p=`` for a pipeline)."""
    text = f"#{config.config_id} n={config.n_models} w={config.workers_per_model} b={config.batch_size}"
    return text + (f" p={config.pipeline_size}" if config.pipeline_size != 1 else "")


def title(what: str, results: Results) -> str:
    """A plot's title: what it shows and the run's model names, then a line naming the run
    (:func:`run_text`) when its metadata says when, where or from which commit it ran."""
    names = list(dict.fromkeys(config.model_name for config in results.configs))
    head = f"{what}: {', '.join(names)}" if names else what
    run = run_text(results.metadata)
    return f"{head}\n{run}" if run else head


def run_text(metadata: dict[str, Any]) -> str:
    """A run in a line: ``2026-12-01 15:46 UTC · host ip-10-0-0-7 · commit 1172193293+dirty``;
    what the metadata lacks is left out ("" for none of it: a Results built by hand)."""
    parts = []
    started = metadata.get("started_at")
    if isinstance(started, str) and len(started) >= 16:  # ISO-8601 UTC: minutes are enough to tell runs apart
        parts.append(f"{started[:10]} {started[11:16]} UTC")
    if metadata.get("host"):
        parts.append(f"host {metadata['host']}")
    git = metadata.get("git") or {}
    if git.get("commit"):
        parts.append(f"commit {git['commit'][:10]}{'+dirty' if git.get('dirty') else ''}")
    return " · ".join(parts)


def plain_log(ax: Axes, which: str) -> None:
    """Log scale labelled with plain numbers (0.3, 12, 150) where matplotlib would put 1.2×10¹."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):  # keeps LogFormatter's choice of which ticks get a label
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain())


def legend_proxy(label: str, **style: Any) -> Any:
    """A legend entry drawn nowhere else: a style key or a config left out."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color="0.4", label=label, **style)


def finish(ax: Axes, title: str, xlabel: str, ylabel: str, skipped: list[str], *, empty: bool,
           extra: list[Any] | None = None, loc: str = "best", outside: bool = False, below: bool = False) -> None:
    """Title, axis labels, a "no data" note, and one legend: entries, style keys, configs left out.

    The legend goes inside at ``loc``; right of the axes with ``outside``; with ``below``, under
    the axes in up to four columns when the axes fill their own figure (else right of them), so
    many configs cost height, not a third of the plot's width.
    """
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if empty:
        ax.text(0.5, 0.5, "no data: no successful inferences", transform=ax.transAxes, ha="center", va="center")
        extra = None  # no style to explain
    handles, labels = ax.get_legend_handles_labels()
    for artist in [*(extra or []), *(legend_proxy(note, linestyle="none") for note in skipped)]:
        handles.append(artist)
        labels.append(artist.get_label())
    if not handles:
        return
    style = {"title": CONFIG_KEY, "fontsize": "x-small" if below else "small", "title_fontsize": "small"}
    if below and len(ax.figure.axes) == 1 and ax.figure.get_layout_engine() is not None:
        # "outside" asks the constrained layout to make room for the legend under the axes.
        ax.figure.legend(handles, labels, loc="outside lower center", ncols=min(4, len(handles)), **style)
    elif below or outside:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), **style)
    else:
        ax.legend(handles, labels, loc=loc, **style)


def pareto_front(points: list[tuple[float, float, Any]]) -> list[tuple[float, float, Any]]:
    """The points no other point beats on both (higher x, lower y): ``(throughput, latency,
    anything)`` in, the front out in increasing throughput."""
    front, best = [], float("inf")
    for point in sorted(points, key=lambda p: (-p[0], p[1])):
        if point[1] < best:  # nothing with more throughput has a lower latency
            front.append(point)
            best = point[1]
    return front[::-1]


def config_requests(results: Results, skipped: list[str]) -> Iterator[tuple[Any, Requests]]:
    """Each config whose calls streamed, with its ok calls (:func:`~raybench.report.streams.ok_requests`)."""
    ids = results.timers.column("config_id")
    for config in results.configs:
        requests = ok_requests(results.timers.filter(pc.equal(ids, config.config_id)))
        if requests.tokens is None or requests.tokens.size == 0:
            skipped.append(f"{config_label(config)}: no streamed calls")
            continue
        yield config, requests


def reported(results: Results) -> list[tuple[Any, dict[str, Any]]]:
    """Each config with its report."""
    configs = {config.config_id: config for config in results.configs}
    return [(configs[report["config_id"]], report) for report in get_reports(results)]


def ok_rows(results: Results, skipped: list[str]) -> Iterator[tuple[Any, int, np.ndarray, np.ndarray]]:
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
            skipped.append(f"{config_label(config)}: {outcome.status if outcome else 'no outcome'}, no data")
            continue
        start_ns = rows.column("start_ns").to_numpy()
        origin_ns = outcome.start_ns if outcome and outcome.start_ns is not None else int(start_ns.min())
        yield config, origin_ns, start_ns, rows.column("end_ns").to_numpy() - start_ns


def grid(ax: Axes | None, height_in: float) -> tuple[Figure, Any]:
    """Where a plot of several panels draws: a new figure ``height_in`` tall, or a subfigure in
    the place of ``ax`` (which is removed), so it still fits a figure the caller laid out.
    Returns the figure to hand back and the (sub)figure to draw in.

    Raises:
        ConfigError: ``ax`` is not a subplot (an axes placed by hand has no slot to take).
    """
    if ax is None:
        figure = figure_class()(figsize=(FIGSIZE_IN[0], height_in), layout="constrained")
        return figure, figure
    spec = ax.get_subplotspec()
    if spec is None:
        raise ConfigError("ax must be a subplot (from add_subplot or subplots) for a plot of several panels "
                          "(got axes at ({}))".format(", ".join(f"{v:.2g}" for v in ax.get_position().bounds)))
    figure = ax.figure
    ax.remove()
    return figure, figure.add_subfigure(spec)
