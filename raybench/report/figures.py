"""What every plot of :mod:`raybench.plot` shares: the lazily imported matplotlib figure, the
axes, the config labels and titles, plain-number log axes, and one legend per plot.

matplotlib is imported only when a plot is drawn, so ``import raybench`` never loads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.compute as pc

from raybench.core.errors import MissingDependencyError
from raybench.core.units import NS_PER_MS, NS_PER_S
from raybench.report.results import Results, get_reports
from raybench.report.streams import Requests, ok_requests

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FIGSIZE_IN = (10.0, 5.0)
CONFIG_KEY = "n copies, w workers/copy, b batch, p pipeline"
#: Most time bins per config in latency over time, and the rows a bin holds on average at least.
MAX_BINS = 200
ROWS_PER_BIN = 20


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
    """A plot's title: what it shows, and the run's model names."""
    names = list(dict.fromkeys(config.model_name for config in results.configs))
    return f"{what}: {', '.join(names)}" if names else what


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
            extra: list[Any] | None = None, loc: str = "best", outside: bool = False) -> None:
    """Title, axis labels, a "no data" note, and one legend: entries, style keys, configs left out."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if empty:
        ax.text(0.5, 0.5, "no data: no successful inferences", transform=ax.transAxes, ha="center", va="center")
        extra = None  # no style to explain
    handles, labels = ax.get_legend_handles_labels()
    for artist in [*(extra or []), *(legend_proxy(note, linestyle="none") for note in skipped)]:
        handles.append(artist)
        labels.append(artist.get_label())
    if handles:
        place = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if outside else {"loc": loc}
        ax.legend(handles, labels, title=CONFIG_KEY, fontsize="small", title_fontsize="small", **place)



def binned(offset_ns: np.ndarray, latency_ns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Bin centres (s) and per-bin p50, p99 and max latency (ms); NaN for an empty bin."""
    n_bins = int(np.clip(latency_ns.size // ROWS_PER_BIN, 1, MAX_BINS))
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
