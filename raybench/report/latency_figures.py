"""Latency CDFs on a percentile axis (:mod:`raybench.plot` exports them): each config of a run,
and two runs' paired configs overlaid (base dashed, new solid).

The y axis is the percentile on a ``-log10(1 - q)`` scale, ticks at 50, 90, 99, 99.9: each
"nine" gets the same height, so the tail, where configs differ, is not squeezed into the top
sliver of a linear axis. No plot draws one mark per row: the body of a curve comes from a seeded
random subsample and its tail (the slowest rows) from every row, so the top percentiles are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from textwrap import fill
from typing import TYPE_CHECKING, Any

import numpy as np

from raybench.core.units import NS_PER_MS
from raybench.report.figures import axes, config_label, finish, legend_proxy, ok_rows, plain_log, run_text, title
from raybench.report.pairing import nothing_paired_hint, pair_by_key
from raybench.report.results import Results, get_reports

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Most rows per config a curve is drawn from: half a random sample of the body, half the slowest
#: rows (every one of them), which resolves both below a pixel.
CDF_POINTS = 20_000
#: Percentiles ticked on the y axis (99.99 too when a curve reaches it).
PERCENTILE_TICKS = (0.0, 50.0, 90.0, 99.0, 99.9, 99.99)
#: Percentiles marked with a dot from the reports' exact values, and their report fields.
MARKED = ((0.5, "latency_ms_p50"), (0.99, "latency_ms_p99"), (0.999, "latency_ms_p99_9"))


def cdf_points(latency_ns: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A curve's latencies (ms, sorted) and their fractions ``rank / (n + 1)`` (below 1, so the
    slowest row still has a place on a ``-log10(1 - q)`` axis).

    Up to :data:`CDF_POINTS`: all rows when there are that few, else the slowest half of that
    budget exactly (``np.partition``, O(n)) and a random sample of the rest.
    """
    n = latency_ns.size
    if n <= CDF_POINTS:
        return np.sort(latency_ns) / NS_PER_MS, np.arange(1, n + 1) / (n + 1)
    k = CDF_POINTS // 2
    tail = np.sort(np.partition(latency_ns, n - k)[n - k:])
    body = np.sort(rng.choice(latency_ns, CDF_POINTS - k, replace=False))
    body_q = np.arange(1, body.size + 1) / (body.size + 1)
    keep = body_q < (n - k + 1) / (n + 1)  # the sample stops where the exact tail starts
    values = np.concatenate((body[keep], tail)) / NS_PER_MS
    return values, np.concatenate((body_q[keep], np.arange(n - k + 1, n + 1) / (n + 1)))


def percentile_axis(ax: Axes, top_q: float) -> None:
    """Make the y axis a percentile axis on a ``-log10(1 - q)`` scale, up to ``top_q``.

    Data stay fractions (0.5 is the median) so marks can be placed at report values.
    """
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    def forward(q: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.log10(1 - np.clip(q, 0.0, 1 - 1e-12))

    def inverse(y: np.ndarray) -> np.ndarray:
        return 1 - 10.0 ** -np.asarray(y)

    ax.set_yscale("function", functions=(forward, inverse))
    top = max(top_q, 0.999)  # always up to 99.9, the tail this axis is for
    ticks = [p for p in PERCENTILE_TICKS if p / 100 <= top * (1 + 1e-9)]
    ax.yaxis.set_major_locator(FixedLocator([p / 100 for p in ticks]))
    ax.yaxis.set_major_formatter(FixedFormatter([f"{p:g}" for p in ticks]))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylim(0, 1 - (1 - top) / 2)  # half a "nine" of headroom above the top tick
    ax.grid(True, axis="y", color="0.85", linewidth=0.8)


def latency_cdf(results: Results, ax: Axes | None = None) -> Figure:
    """Draw each config's latency CDF: latency on a log x axis, the percentile on a tail axis
    (ticks at 50, 90, 99, 99.9), the reports' p50, p99 and p99.9 marked with dots.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        ax: Axes to draw on; a new 10 x 5 inch figure when None (its legend then goes under the
            plot, in columns).

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`.
        MissingDependencyError: matplotlib is not installed.
    """
    results, ax = Results.check(results), axes(ax)
    reports = {r["config_id"]: r for r in get_reports(results)}
    rng = np.random.default_rng(0)  # seeded: the same results always draw the same figure
    skipped: list[str] = []
    top_q = 0.0
    for config, _, _, latency_ns in ok_rows(results, skipped):
        values, q = cdf_points(latency_ns, rng)
        report = reports[config.config_id]
        label = f"{config_label(config)}: p50 {report['latency_ms_p50']:.3g}, p99 {report['latency_ms_p99']:.3g} ms"
        (line,) = ax.plot(values, q, label=label, drawstyle="steps-post", linewidth=1.3)
        _mark(ax, report, line.get_color(), q[-1])
        top_q = max(top_q, q[-1])
    _finish_cdf(ax, top_q)
    finish(ax, title("Latency CDF", results), "latency (ms, log scale)", "percentile (tail scale)", skipped,
           empty=len(skipped) == len(results.configs), below=True)
    return ax.figure


def _mark(ax: Axes, report: dict[str, Any], color: str, top_q: float, **style: Any) -> None:
    """Dots at the report's exact p50 and p99, and p99.9 when the curve reaches that high (under
    a thousand rows it is the slowest row or two, which the curve's end already shows)."""
    marks = [(report[field], q) for q, field in MARKED if report.get(field) is not None and (q < 0.999 or q <= top_q)]
    if marks:
        x, y = zip(*marks)
        ax.scatter(x, y, s=18, color=color, edgecolors="black", linewidths=0.6, zorder=3, **style)


def _finish_cdf(ax: Axes, top_q: float) -> None:
    percentile_axis(ax, top_q)
    if ax.lines:
        plain_log(ax, "x")


def pair_configs(base: Results, new: Results, keys: Sequence[str]) -> tuple[list[tuple[Any, Any]], list[str]]:
    """Pair the configs of two runs as ``raybench.compare.compare_results`` does: same values of
    ``keys``, several of one key paired in order. Returns the pairs (base config, new config) and
    a note per config left unpaired."""
    paired = pair_by_key(base.configs, new.configs, key=lambda config: tuple(getattr(config, k) for k in keys))
    pairs = [(b, n) for b, n in paired if b is not None and n is not None]
    unpaired = [f"{config_label(b or n)}: only in {'base' if n is None else 'new'}" for b, n in paired
                if b is None or n is None]
    return pairs, unpaired


def compare_cdf(base: Results, new: Results, keys: Sequence[str], ax: Axes | None = None) -> Figure:
    """Draw the latency CDFs of the configs that pair on ``keys`` (:func:`pair_configs`), base
    dashed and new solid in one colour per pair (percentile axis as in :func:`latency_cdf`); the
    legend gives each pair's p99, base -> new. When nothing pairs, the plot says which keys apart.

    :func:`raybench.plot.compare_cdf` is the public entry point, which checks its arguments.
    """
    ax = axes(ax)
    runs = {"base": base, "new": new}
    pairs, unpaired = pair_configs(base, new, keys)
    rng = np.random.default_rng(0)
    # Each config's curve as its rows are read: one config's latencies in memory at a time.
    curves = {name: {c.config_id: cdf_points(latency, rng) for c, _, _, latency in ok_rows(run, [])}
              for name, run in runs.items()}
    reports = {name: {r["config_id"]: r for r in get_reports(run)} for name, run in runs.items()}
    skipped, top_q = list(unpaired), 0.0
    for index, (b, n) in enumerate(pairs):
        if b.config_id not in curves["base"] or n.config_id not in curves["new"]:
            skipped.append(f"{config_label(b)}: no data in {'base' if b.config_id not in curves['base'] else 'new'}")
            continue
        color = f"C{index % 10}"
        p99 = reports["base"][b.config_id]["latency_ms_p99"], reports["new"][n.config_id]["latency_ms_p99"]
        change = f" ({100 * (p99[1] / p99[0] - 1):+.0f} %)" if p99[0] > 0 else ""
        label = f"{config_label(b)}: p99 {p99[0]:.3g} → {p99[1]:.3g} ms{change}"
        for name, config, style in (("base", b, "--"), ("new", n, "-")):
            values, q = curves[name][config.config_id]
            ax.plot(values, q, style, color=color, drawstyle="steps-post", linewidth=1.3,
                    label=label if name == "new" else None, gid=name)
            _mark(ax, reports[name][config.config_id], color, q[-1])
            top_q = max(top_q, q[-1])
    _finish_cdf(ax, top_q)
    styles = [legend_proxy("base (dashed)", linestyle="--"), legend_proxy("new (solid)", linestyle="-")]
    names = dict.fromkeys(c.model_name for run in runs.values() for c in run.configs)
    head = "Latency CDF, base vs new" + (f": {', '.join(names)}" if names else "")
    lines = [f"{name}: {run_text(run.metadata)}" for name, run in runs.items() if run_text(run.metadata)]
    finish(ax, "\n".join([head, *lines]), "latency (ms, log scale)", "percentile (tail scale)", skipped,
           empty=bool(pairs) and not ax.lines, extra=styles if ax.lines else None, below=True)
    if not pairs:
        hint = nothing_paired_hint(list(reports["base"].values()), list(reports["new"].values()), keys)
        ax.text(0.5, 0.5, fill(hint or "no config paired", 90), transform=ax.transAxes, ha="center", va="center",
                fontsize="small", gid="unpaired")
    return ax.figure

