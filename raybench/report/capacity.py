"""Capacity at an SLO: each probe's verdict, and each searched config's capacity from its probes.

Pure functions of report dicts (and, for ``slo_decided``, one probe's ok calls), so a search's
answer can be recomputed from the Results file it wrote: :func:`capacity_reports` groups the
probe reports by ``search_id``.

A probe's verdict comes from its own pooled raw percentiles — never an average of percentiles
across probes. Where the 95 % block-bootstrap interval of a constrained percentile straddles the
limit (:func:`slo_decided` is False), the point estimate is noise-deep from the limit: the
search repeats that probe once, longer (:func:`raybench.run.search.repeat_factor`), and the
repeat decides (:func:`final_verdict`: on its point estimate if it still straddles).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from raybench.core.schema import STATUS_FINISHED
from raybench.core.slo import constraints_of, field_quantile
from raybench.core.units import NS_PER_MS
from raybench.report.bootstrap import quantile_interval
from raybench.report.streams import Requests

MET, MISSED, UNDECIDED = "met", "missed", "undecided"

#: The fields a capacity report adds to the report of the probe at capacity.
CAPACITY_FIELDS: tuple[str, ...] = (
    "capacity_rate", "capacity_throughput", "capacity_workers", "capacity_steps", "capacity_probes", "capacity_missed_at",
    "search_s", "neuron_cores_per_1k_rps", "cost_per_1m_at_slo",
)  # fmt: skip


def constraint_samples(requests: Requests, field: str, batch_size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The samples behind a percentile field (``latency_ms_p99``, ``ttft_ms_p90``...) and when
    each ended, in ns; None when the run has no such figure (TTFT of a model that did not stream)."""
    name = field.rsplit("_p", 1)[0]
    if name == "latency_ms":
        return requests.end - requests.start, requests.end
    if requests.tokens is None or requests.first is None or requests.last is None:
        return None
    if name == "ttft_ms":
        has = requests.tokens > 0
        return requests.first[has] - requests.start[has], requests.first[has]
    if name == "itl_ms":
        assert requests.gaps is not None and requests.gap_end is not None
        return requests.gaps, requests.gap_end
    tpot, several = requests.tpot_ns(batch_size)
    return tpot[several], requests.last[several]


#: z of the two-sided 95 % intervals a probe's verdict uses.
_Z95 = 1.959964


def share_interval(k: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson's score interval of a share ``k / n`` (``n`` > 0)."""
    share, z2 = k / n, z * z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def slo_decided(requests: Requests, report: Mapping[str, Any], batch_size: int,
                slo: dict[str, float] | None) -> bool | None:
    """Whether the evidence says the same as the point estimate about the SLO's percentile limits.

    A limit ``p_q <= L`` holds when the share of requests within ``L`` is at least ``q``. It is
    met for sure when two 95 % intervals agree: the block bootstrap's of the percentile lies at
    or below ``L`` (the samples come in correlated stretches of time), and Wilson's of the share
    within ``L`` lies at or above ``q`` (a tail percentile of few requests is noise: a p99 needs
    about 380 requests, all within the limit, before it can be said to hold). Missed for sure
    when both lie on the other side. Decided when every limit is met for sure or one is missed
    for sure; a figure the run lacks is a sure miss. None without percentile limits.
    """
    constraints = constraints_of(slo)
    if not constraints:
        return None
    all_met = True
    for field, limit_ms in constraints.items():
        value = report.get(field)
        samples = constraint_samples(requests, field, batch_size)
        if value is None or samples is None or samples[0].size == 0:
            return True  # no figure: the constraint is missed, whatever the noise
        q = field_quantile(field)
        interval = quantile_interval(samples[0], samples[1], q)
        low, high = (float(value) * NS_PER_MS,) * 2 if interval is None else interval
        limit_ns = limit_ms * NS_PER_MS
        share_low, share_high = share_interval(int((samples[0] <= limit_ns).sum()), samples[0].size)
        if low > limit_ns and share_high < q:
            return True
        all_met = all_met and high <= limit_ns and share_low >= q
    return all_met


def probe_verdict(report: Mapping[str, Any]) -> str:
    """``"met"``, ``"missed"`` or ``"undecided"`` (the SLO's limits are within noise).

    A probe that did not finish, or whose open-loop rate was not delivered (``rate_met`` False),
    missed, whatever its latencies.
    """
    if report.get("status") != STATUS_FINISHED or report.get("rate_met") is False or not report.get("total_infs"):
        return MISSED
    if report.get("slo_decided") is False:
        return UNDECIDED
    return MET if report.get("slo_ok") else MISSED


def final_verdict(report: Mapping[str, Any]) -> str:
    """The verdict once no repeat is left: an undecided probe goes by its point estimate."""
    verdict = probe_verdict(report)
    if verdict == UNDECIDED:
        return MET if report.get("slo_ok") else MISSED
    return verdict


def probe_level(report: Mapping[str, Any]) -> float | None:
    """What a probe varies: its offered rate (requests/s of the config; None for the closed
    loop that starts a rate search) or, in a concurrency search, its workers per copy."""
    if report.get("search") == "concurrency":
        return float(report["workers_per_model"])
    rate = report.get("target_rate")
    return None if rate is None else float(rate)


def capacity_reports(reports: Sequence[Mapping[str, Any]], cost_per_hour: float | None = None,
                     tolerance: float | None = None) -> list[dict[str, Any]]:
    """One capacity report per searched config, from its probes' reports.

    The capacity is the highest level (rate, or workers per copy) whose last probe met the SLO:
    the report of that probe, with :data:`CAPACITY_FIELDS` added: ``capacity_rate``
    (requests/s of the whole config), ``capacity_throughput`` (samples/s), ``capacity_workers``
    (a concurrency search), ``capacity_steps`` (loads tried, the closed loop included),
    ``capacity_probes`` (probes run, repeats included), ``capacity_missed_at`` (the lowest load
    above it that missed), ``search_s`` (from the first probe's start to the last one's stop),
    ``neuron_cores_per_1k_rps`` (NeuronCore copies) and ``cost_per_1m_at_slo`` (per million
    samples at ``capacity_throughput``). Without such a probe it is
    the search's first probe with ``capacity_rate`` None and an ``error`` that says why.

    Args:
        reports: Probe reports (``search_id`` set); others are ignored.
        cost_per_hour: Instance price, for ``cost_per_1m_at_slo``.
        tolerance: The search's ``search_tolerance``: a bracket left wider says so in ``error``
            (``max_steps`` ran out first).
    """
    searches: dict[int, list[Mapping[str, Any]]] = {}
    for report in reports:
        if report.get("search_id") is not None:
            searches.setdefault(int(report["search_id"]), []).append(report)
    return [_capacity(sorted(probes, key=lambda r: r.get("probe") or 0), cost_per_hour, tolerance)
            for _, probes in sorted(searches.items())]


def _capacity(probes: list[Mapping[str, Any]], cost_per_hour: float | None, tolerance: float | None) -> dict[str, Any]:
    last: dict[float, Mapping[str, Any]] = {}
    for report in probes:
        level = probe_level(report)
        if level is not None:
            last[level] = report  # a repeat replaces the probe it repeated
    met = [level for level, report in last.items() if final_verdict(report) == MET]
    best = max(met) if met else None
    missed = [level for level, report in last.items() if final_verdict(report) == MISSED
              and (best is None or level > best)]
    chosen = dict(last[best]) if best is not None else dict(probes[0])
    concurrency = chosen.get("search") == "concurrency"
    fields: dict[str, Any] = dict.fromkeys(CAPACITY_FIELDS)
    fields["capacity_steps"] = len({probe_level(r) for r in probes})  # loads tried (the closed loop's is None)
    fields["capacity_probes"] = len(probes)  # with the repeats
    fields["capacity_missed_at"] = min(missed) if missed else None
    fields["search_s"] = _span_s(probes)
    stopped = probes[-1]
    if stopped.get("status") != STATUS_FINISHED:  # the search ended there: say so on its answer
        note = f"the search stopped at probe {stopped.get('probe')} ({stopped.get('status')}): {stopped.get('error')}"
        chosen["error"] = note if chosen.get("error") in (None, stopped.get("error")) else f"{chosen['error']}; {note}"
    if best is None:
        fields["capacity_rate"] = None
        tried = min(last) if last else None
        what = "no workers_per_model" if concurrency else "no rate"
        lowest = "" if tried is None else f"; the lowest tried, {tried:g}{'' if concurrency else '/s'}, missed it"
        chosen["error"] = chosen.get("error") or f"{what} met the SLO{lowest}"
        return {**chosen, **fields}
    high = min(missed) if missed else None
    if high is not None and tolerance is not None and (high - best) / high > tolerance and \
            (not concurrency or high - best > 1):
        chosen["error"] = chosen.get("error") or (
            f"max_steps ran out first: the capacity lies between {best:g} and {high:g} "
            f"({100 * (high - best) / high:.0f} % apart, more than search_tolerance)")
    if not missed:  # the bracket never closed: the capacity is at least this
        what = "the most workers_per_model tried" if concurrency else "the highest rate tried before max_steps ran out"
        chosen["error"] = chosen.get("error") or f"no probe missed the SLO: the capacity is at least {what}"
    throughput = chosen.get("throughput_avg")
    batch = int(chosen.get("batch_size") or 1)
    if concurrency:
        fields["capacity_workers"] = int(best)
        fields["capacity_rate"] = throughput / batch if isinstance(throughput, (int, float)) else None
    else:
        fields["capacity_rate"] = best
    fields["capacity_throughput"] = throughput
    rate = fields["capacity_rate"]
    if chosen.get("device_type") == "neuron" and rate:
        fields["neuron_cores_per_1k_rps"] = float(chosen["n_devices"]) * 1000 / rate
    if cost_per_hour is not None and isinstance(throughput, (int, float)) and throughput > 0:
        fields["cost_per_1m_at_slo"] = cost_per_hour * 1e6 / (3600 * throughput)
    return {**chosen, **fields}


def _span_s(probes: list[Mapping[str, Any]]) -> float | None:
    """Seconds from the first probe's measurement start to the last one's stop."""
    starts = [p["start_dts"] for p in probes if p.get("start_dts")]
    stops = [p["stop_dts"] for p in probes if p.get("stop_dts")]
    if not starts or not stops:
        return None
    return (datetime.fromisoformat(max(stops)) - datetime.fromisoformat(min(starts))).total_seconds()


#: How a capacity comparison decides, for its rows' ``method``.
CAPACITY_METHOD = ("capacity: each search brackets its answer between the highest load met and the lowest "
                   "missed; a change is significant when the two brackets do not overlap")


def capacity_key(report: Mapping[str, Any]) -> tuple[Any, ...]:
    """What pairs a searched config of one run with one of another: the config without what the
    search varied (a concurrency search's workers)."""
    workers = None if report.get("search") == "concurrency" else report.get("workers_per_model")
    return (report.get("search"), report.get("model_name"), report.get("batch_size"), report.get("n_models"),
            workers, report.get("pipeline_size"))


def capacity_change(base: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The change of capacity between two searches of one config, with the interval their
    brackets allow: each true capacity lies between its ``capacity`` (met) and its
    ``capacity_missed_at`` (missed; unbounded when nothing missed).

    Returns:
        ``capacity_base``, ``capacity_new``, ``capacity_change_pct``, ``capacity_ci_low_pct``,
        ``capacity_ci_high_pct`` (None when unbounded or unknown) and ``capacity_significant``.
    """
    def bracket(report: Mapping[str, Any]) -> tuple[float | None, float | None]:
        level = report.get("capacity_workers") if report.get("search") == "concurrency" else report.get("capacity_rate")
        return level, report.get("capacity_missed_at")

    (low_b, high_b), (low_n, high_n) = bracket(base), bracket(new)
    row: dict[str, Any] = {"capacity_base": low_b, "capacity_new": low_n, "capacity_change_pct": None,
                           "capacity_ci_low_pct": None, "capacity_ci_high_pct": None, "capacity_significant": False}
    if not low_b or low_n is None:
        return row
    row["capacity_change_pct"] = 100 * (low_n / low_b - 1)
    if high_b:
        row["capacity_ci_low_pct"] = 100 * (low_n / high_b - 1)
    if high_n:
        row["capacity_ci_high_pct"] = 100 * (high_n / low_b - 1)
    fell = high_n is not None and high_n <= low_b
    rose = high_b is not None and low_n >= high_b
    row["capacity_significant"] = fell or rose
    return row
