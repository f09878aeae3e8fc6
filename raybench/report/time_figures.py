"""Latency and throughput over a run's time (:mod:`raybench.plot` exports it): one small panel
per config, all on the same axes, and a throughput panel under them.

Time bins are sized to the run, not fixed: about :data:`TARGET_BINS` over each config's span
(fewer when a config has too few rows for a bin's p99 to mean anything), so a 2 s smoke run and
a 10 min soak both read at the same resolution.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from raybench.core.units import NS_PER_MS, NS_PER_S
from raybench.report.figures import config_label, grid, legend_proxy, ok_rows, plain_log, title
from raybench.report.results import Results

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


#: Time bins per config over its span, and the rows a bin holds on average at least.
TARGET_BINS = 80
ROWS_PER_BIN = 20
#: Inches per row of config panels, and of the throughput panel.
PANEL_IN, THROUGHPUT_IN = 1.7, 2.0


def binned(offset_ns: np.ndarray, latency_ns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Bin centres (s), per-bin p50, p99 and max latency (ms; NaN for an empty bin) and rows per
    second (a bin's row count over its width)."""
    n_bins = int(np.clip(latency_ns.size // ROWS_PER_BIN, 1, TARGET_BINS))
    first = min(int(offset_ns.min()), 0)  # from the config's start, or before it (clock skew)
    width = max((int(offset_ns.max()) - first) / n_bins, 1.0)
    index = np.minimum((offset_ns - first) / width, n_bins - 1).astype(np.uint16)
    # A stable sort of 16-bit keys is numpy's radix sort: O(n) even for tens of millions of rows.
    by_bin = latency_ns[np.argsort(index, kind="stable")] / NS_PER_MS
    counts = np.bincount(index, minlength=n_bins)
    bounds = np.concatenate(([0], np.cumsum(counts)))
    stats = np.full((3, n_bins), np.nan)
    for b in range(n_bins):
        chunk = by_bin[bounds[b] : bounds[b + 1]]
        if chunk.size:
            stats[:, b] = [*np.percentile(chunk, [50, 99]), chunk.max()]
    return (first + (np.arange(n_bins) + 0.5) * width) / NS_PER_S, *stats, counts * (NS_PER_S / width)


def latency_over_time(results: Results, ax: Axes | None = None) -> Figure:
    """Draw each config's latency against time in a panel of its own — per time bin p50 (solid),
    p99 (dashed) and max (x), on a log axis shared by all panels — and under them every config's
    throughput (samples/s: inferences × batch size) per bin, in the config's colour.

    Time is when a call started, in seconds since the config's start (its barrier, else its first
    call). About 80 bins over each config's span (fewer for a config with under 20 rows a bin);
    an empty bin leaves a gap, so a stall shows as a gap, a tall max and a dip in throughput. A
    config without data keeps its panel, which says so.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        ax: A subplot whose place the panels take (it is removed); a new figure when None,
            10 inches wide and taller with more configs (1.7 inches a row of panels).

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`, or ``ax`` is not a subplot.
        MissingDependencyError: matplotlib is not installed.
    """
    results = Results.check(results)
    n = max(len(results.configs), 1)
    n_cols = 1 if n == 1 else 2 if n <= 4 else 3 if n <= 9 else 4
    n_rows = math.ceil(n / n_cols)
    figure, canvas = grid(ax, n_rows * PANEL_IN + THROUGHPUT_IN + 0.9)
    slots = canvas.add_gridspec(n_rows + 1, n_cols, height_ratios=[1.0] * n_rows + [THROUGHPUT_IN / PANEL_IN])
    panels = []  # the config panels first, then the throughput panel: figure.axes in reading order
    for i in range(len(results.configs)):
        first = panels[0] if panels else None
        panels.append(canvas.add_subplot(slots[i // n_cols, i % n_cols], sharex=first, sharey=first))
    rate = canvas.add_subplot(slots[n_rows, :], sharex=panels[0] if panels else None)
    skipped: list[str] = []
    drawn = {config.config_id: (config, *rest) for config, *rest in ok_rows(results, skipped)}
    for index, (config, panel) in enumerate(zip(results.configs, panels)):
        color = f"C{index % 10}"
        panel.set_title(config_label(config), fontsize="small", color=color, pad=3)
        if config.config_id not in drawn:
            note = next((s for s in skipped if s.startswith(config_label(config) + ":")), "no data")
            panel.text(0.5, 0.5, note.split(": ", 1)[-1], transform=panel.transAxes, ha="center", va="center")
            continue
        _, origin_ns, start_ns, latency_ns = drawn[config.config_id]
        seconds, p50, p99, peak, per_s = binned(start_ns - origin_ns, latency_ns)
        panel.plot(seconds, p50, color=color, linewidth=1.2, label=config_label(config))
        panel.plot(seconds, p99, "--", color=color, linewidth=0.9)
        panel.plot(seconds, peak, linestyle="none", marker="x", markersize=3, color=color, alpha=0.5)
        rate.plot(seconds, per_s * config.batch_size, color=color, linewidth=1.1, label=config_label(config))
        _draw_utilisation(panel, utilisation(results, config.config_id, origin_ns), right=index % n_cols == n_cols - 1
                          or index == len(panels) - 1)
    _label_panels(panels, n_cols, bool(drawn))
    rate.set_ylim(bottom=0)
    rate.set_xlabel("time since the config's start (s)")
    rate.set_ylabel("samples/s")
    rate.set_title("throughput per bin (samples/s = inferences × batch size), in each panel's colour",
                   fontsize="small", pad=3)
    if not drawn:
        rate.text(0.5, 0.5, "no data: no successful inferences", transform=rate.transAxes, ha="center", va="center")
    canvas.suptitle(title("Latency over time", results), fontsize="medium")
    return figure


#: Which telemetry series is a panel's utilisation, first found first: the device, else the copies' CPU.
UTILISATION_SERIES: tuple[tuple[str, str, str], ...] = (
    ("neuron", "neuroncore_util_percent", "NeuronCore util %"),
    ("gpu", "gpu_util_percent", "GPU util %"),
    ("process", "cpu_percent", "copy CPU % (of a core)"),
)


def utilisation(results: Results, config_id: int, origin_ns: int) -> tuple[str, np.ndarray, np.ndarray] | None:
    """A config's utilisation over time from ``results.telemetry``: the first series of
    :data:`UTILISATION_SERIES` it has, averaged over its copies at each sample time, as
    (label, seconds since ``origin_ns``, percent); None without telemetry."""
    rows = [r for r in results.telemetry.to_pylist() if r["config_id"] == config_id and r["copy_id"] is not None]
    for source, metric, label in UTILISATION_SERIES:
        by_time: dict[int, list[float]] = {}
        for row in rows:
            if row["source"] == source and row["metric"] == metric:
                by_time.setdefault(row["time_ns"], []).append(row["value"])
        if by_time:
            times = np.array(sorted(by_time), dtype=np.int64)
            values = np.array([np.mean(by_time[t]) for t in times])
            return label, (times - origin_ns) / NS_PER_S, values
    return None


def _draw_utilisation(panel: Axes, series: tuple[str, np.ndarray, np.ndarray] | None, *, right: bool) -> None:
    """The utilisation on a second, linear axis at the panel's right, in grey under the latencies."""
    if series is None:
        return
    label, seconds, values = series
    twin = panel.twinx()
    twin.fill_between(seconds, values, color="0.6", alpha=0.25, linewidth=0, step="mid")
    twin.set_ylim(0, max(100.0, float(values.max()) * 1.05))
    twin.set_zorder(panel.get_zorder() - 1)  # behind the latency lines
    panel.patch.set_visible(False)
    twin.tick_params(labelsize="x-small", colors="0.4")
    twin.set_ylabel(label if right else "", fontsize="x-small", color="0.4")


def _label_panels(panels: list[Axes], n_cols: int, drawn: bool) -> None:
    """Log latency axis, its label on the first column only, and the style key in the first panel."""
    if not panels:
        return
    if drawn:
        plain_log(panels[0], "y")
    for index, panel in enumerate(panels):
        panel.tick_params(labelsize="small", labelbottom=False)
        panel.set_ylabel("latency (ms)" if index % n_cols == 0 else "", fontsize="small")
        if index % n_cols:
            panel.tick_params(labelleft=False)
    if drawn:
        keys = [legend_proxy("p50", linestyle="-"), legend_proxy("p99", linestyle="--"),
                legend_proxy("max", linestyle="none", marker="x")]
        panels[0].legend(handles=keys, fontsize="x-small", ncols=3, loc="upper right", frameon=False)
