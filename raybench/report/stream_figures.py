"""The plots of a streaming run (:mod:`raybench.plot` exports them): the TTFT and ITL CDFs, and
tokens/s and TTFT against concurrency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from raybench.core.units import NS_PER_MS
from raybench.report.figures import (axes, config_label, config_requests, figure_class, finish, plain_log, reported,
                                     title)
from raybench.report.results import Results, get_reports

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Most samples per config a CDF is drawn from (a seeded random subsample): 20k resolve it below a pixel.
CDF_POINTS = 20_000


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
    figure = figure_class()(figsize=(12.0, 5.0), layout="constrained")
    ttft_ax, itl_ax = figure.subplots(1, 2)
    reports = {r["config_id"]: r for r in get_reports(results)}
    rng = np.random.default_rng(0)
    skipped: list[str] = []
    for config, requests in config_requests(results, skipped):
        report = reports[config.config_id]
        for ax, name, samples in ((ttft_ax, "ttft", requests.ttft_ns), (itl_ax, "itl", requests.gaps)):
            if samples is None or samples.size == 0:
                continue
            if samples.size > CDF_POINTS:
                samples = rng.choice(samples, CDF_POINTS, replace=False)
            values = np.sort(samples) / NS_PER_MS
            p50, p99 = report[f"{name}_ms_p50"], report[f"{name}_ms_p99"]
            (line,) = ax.plot(values, np.arange(1, values.size + 1) / values.size, drawstyle="steps-post",
                              label=f"{config_label(config)}: p50 {p50:.3g} ms, p99 {p99:.3g} ms")
            ax.scatter([p50, p99], [0.5, 0.99], color=line.get_color(), edgecolors="black", zorder=3)
    for ax, what in ((ttft_ax, "Time to first token"), (itl_ax, "Inter-token latency")):
        plain_log(ax, "x")
        finish(ax, title(what, results), f"{what.lower()} (ms, log scale)", "fraction of samples", skipped,
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
    results, ax = Results.check(results), axes(ax)
    right = ax.twinx()
    groups: dict[int, list[tuple[int, float, float, float]]] = {}
    skipped = []
    for config, report in reported(results):
        if report["output_tokens_per_s"] is None:
            skipped.append(f"{config_label(config)}: {report['status']}, no tokens")
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
    finish(ax, title("Tokens per second and TTFT against concurrency", results),
            "concurrent calls (n_models × workers_per_model)", "output tokens/s", skipped, empty=not groups,
            extra=extra, loc="center right")
    return ax.figure
