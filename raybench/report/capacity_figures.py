"""The plots of a capacity search (:mod:`raybench.plot` exports them): latency percentiles
against the offered load with the SLO and each config's capacity, and the Pareto front of
throughput against p99 over every config.

Both read the reports only (``get_reports``), so they cost no pass over the timers beyond it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raybench.core.slo import constraints_of
from raybench.report.capacity import capacity_reports, final_verdict, probe_level
from raybench.report.figures import axes, finish, legend_proxy, pareto_front, plain_log, title
from raybench.report.results import Results, get_reports

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: A search's context line beside its constrained percentiles.
_CONTEXT_FIELD = "latency_ms_p50"


def _search_label(report: dict[str, Any]) -> str:
    text = f"config {report['search_id'] + 1}: n={report['n_models']} b={report['batch_size']}"
    if report.get("search") == "rate":
        text += f" w={report['workers_per_model']}"
    return text + (f" p={report['pipeline_size']}" if report.get("pipeline_size", 1) != 1 else "")


def capacity_curve(results: Results, ax: Axes | None = None) -> Figure:
    """Draw each searched config's latency percentiles against the load its probes offered
    (requests/s; workers per copy for a concurrency search), the SLO's limits as horizontal
    lines and each config's capacity as a vertical one. Probes that missed the SLO are hollow.

    Args:
        results: A capacity search's results (``benchmark(..., search=..., return_timers=True)``
            or :func:`raybench.read_results`).
        ax: Axes to draw on; a new 10 x 5 inch figure when None.

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``results`` is not a :class:`raybench.Results`.
        MissingDependencyError: matplotlib is not installed.
    """
    results, ax = Results.check(results), axes(ax)
    reports = get_reports(results)
    limits = constraints_of(results.metadata.get("slo"))
    fields = list(dict.fromkeys([_CONTEXT_FIELD, *limits]))
    styles = {field: ("--" if field == _CONTEXT_FIELD and field not in limits else "-") for field in fields}
    colors = iter(f"C{i}" for i in range(10_000))
    concurrency = False
    for answer in capacity_reports(reports):
        color = next(colors)
        probes = {probe_level(r): r for r in reports if r.get("search_id") == answer["search_id"]}
        levels = sorted(level for level in probes if level is not None)
        concurrency = concurrency or answer.get("search") == "concurrency"
        for field in fields:
            points = [(level, probes[level][field], final_verdict(probes[level])) for level in levels
                      if probes[level].get(field) is not None]
            if not points:
                continue
            x, y, verdicts = zip(*points)
            ax.plot(x, y, styles[field], color=color, linewidth=1.2 if styles[field] == "-" else 0.8,
                    label=_search_label(answer) if field == fields[-1] else None)
            ax.scatter(x, y, s=22, color=color, zorder=3,
                       facecolors=[color if v == "met" else "white" for v in verdicts])
        capacity = answer.get("capacity_workers") if concurrency else answer.get("capacity_rate")
        if capacity is not None:
            ax.axvline(capacity, color=color, linestyle=":", linewidth=1)
            ax.annotate(f"capacity {capacity:.4g}", (capacity, 1), xycoords=("data", "axes fraction"),
                        xytext=(3, -12), textcoords="offset points", fontsize="small", color=color)
    for field, limit_ms in limits.items():
        ax.axhline(limit_ms, color="red", linewidth=1, alpha=0.7)
        ax.annotate(f"SLO {field} <= {limit_ms:g} ms", (0, limit_ms), xycoords=("axes fraction", "data"),
                    xytext=(4, 3), textcoords="offset points", fontsize="small", color="red")
    drawn = bool(ax.lines)
    if drawn:
        plain_log(ax, "y")
    keys = [legend_proxy(f"{field} ({'solid' if styles[field] == '-' else 'dashed'})", linestyle=styles[field])
            for field in fields]
    keys.append(legend_proxy("hollow: missed the SLO", marker="o", linestyle="none", markerfacecolor="white"))
    xlabel = "workers per copy" if concurrency else "offered load (requests/s, all copies)"
    finish(ax, title("Latency against load", results), xlabel, "latency (ms)", [], empty=not drawn, extra=keys,
           loc="upper left")
    return ax.figure


def pareto(results: Results, ax: Axes | None = None) -> Figure:
    """Draw every config as a point, throughput against p99 latency, and join the Pareto front:
    the configs no other config beats on both (more samples/s at a lower p99). With an SLO on
    ``latency_ms_p99``, its limit is drawn too.

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
    points = [(r["throughput_avg"], r["latency_ms_p99"], r) for r in get_reports(results)
              if r.get("throughput_avg") and r.get("latency_ms_p99")]
    if points:
        x, y, _ = zip(*points)
        ax.scatter(x, y, s=18, color="0.6", label="config (or probe)", zorder=2)
        fx, fy, reports = zip(*pareto_front(points))
        ax.plot(fx, fy, "-o", color="C0", markersize=5, label="Pareto front", zorder=3)
        for throughput, p99, report in zip(fx, fy, reports):
            ax.annotate(f"#{report['config_id']} n={report['n_models']} w={report['workers_per_model']}",
                        (throughput, p99), xytext=(4, 4), textcoords="offset points", fontsize="x-small")
        plain_log(ax, "y")
    limit = constraints_of(results.metadata.get("slo")).get("latency_ms_p99")
    if limit is not None:
        ax.axhline(limit, color="red", linewidth=1, alpha=0.7, label=f"SLO latency_ms_p99 <= {limit:g} ms")
    finish(ax, title("Throughput against p99", results), "throughput (samples/s)", "p99 latency (ms)", [],
           empty=not points, loc="upper left")
    return ax.figure
