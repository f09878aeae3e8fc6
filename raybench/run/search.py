"""The capacity search: for each config of the sweep, the probes that find the highest load
meeting the SLO (see :mod:`raybench.core.search` for the options, and
:mod:`raybench.report.capacity` for the verdicts and the capacity report).

A rate search (``search="rate"``):

1. measures the config in a closed loop (probe 1): its request rate ``R`` is about the most the
   copies can serve;
2. offers open-loop load (``arrival`` constant or Poisson, the rate shared by the config's
   copies) from ``R / 2``, doubling while the SLO is met (halving while it is missed), but
   stopping first at ``1.1 R`` (beyond what the copies can serve);
3. bisects between the highest rate met and the lowest missed until they are within
   ``search_tolerance`` of the missed one, or ``max_steps`` probes have run.

A concurrency search (``search="concurrency"``) does the same with closed-loop
``workers_per_model`` from 1, in whole workers, up to the most the sweep allows.

Each probe is a config of its own (``search``, ``search_id``, ``probe`` say which), with its own
timers. The copies are reused by every probe of a config (the runner keeps a pool as long as the
model and pipeline size stay): loaded once, warmed up once by the closed loop (the open-loop
probes run with ``warmup=0``). A probe whose verdict is within noise is repeated once, longer
(:func:`repeat_factor`: at least twice, at most ten times ``duration``); the repeat decides.

The search is a generator of configs that is sent each probe's report
(:class:`~raybench.run.sweep.SweepRunner` runs it), so the probe logic here is plain code,
tested without Ray.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from raybench.core.options import LoadShape
from raybench.core.schema import STATUS_FINISHED, RunConfig
from raybench.core.search import SearchRule
from raybench.report.capacity import MET, UNDECIDED, final_verdict, probe_verdict

#: The first open-loop probe offers this share of the closed loop's request rate.
START_SHARE = 0.5
#: Growth first stops at this multiple of the closed loop's rate (more than the copies can serve,
#: less than another doubling; the margin covers the closed loop's own noise).
CLOSED_MARGIN = 1.1
#: Each growth (or shrink) step multiplies the load by this.
GROWTH = 2.0
#: A repeat of an undecided probe lasts at least this many durations, and long enough for
#: ``TAIL_SAMPLES`` requests beyond the constrained percentile (400 requests for a p99, a little
#: more than the ~380 it takes before a p99 can be said to hold: see
#: :func:`~raybench.report.capacity.slo_decided`), but at most ``REPEAT_MAX_FACTOR`` durations.
REPEAT_FACTOR = 2.0
TAIL_SAMPLES = 4
REPEAT_MAX_FACTOR = 10.0

#: ``report = yield config``: the runner sends each config's report back.
Plan = Generator[RunConfig, dict[str, Any], None]


class Bracket:
    """Geometric growth, then bisection, between the highest level met and the lowest missed.

    Args:
        start: The first level to try.
        tolerance: Done once ``missed - met <= tolerance * missed``.
        integer: Levels are whole numbers (workers), at least 1; done once they are adjacent.
        highest: The most that may be tried (None: no bound).
        expected_most: Where the capacity is expected to end (a rate search: a little above
            the closed loop's rate, which the copies cannot exceed): growth stops there once,
            and goes on past it only if it is met.
    """

    def __init__(self, start: float, tolerance: float, *, integer: bool = False, highest: float | None = None,
                 expected_most: float | None = None) -> None:
        self.met: float | None = None
        self.missed: float | None = None
        self._start = start
        self._tolerance = tolerance
        self._integer = integer
        self._highest = highest
        self._expected_most = expected_most

    def observe(self, level: float, met: bool) -> None:
        """Record a probe's verdict at ``level``."""
        if met:
            self.met = level if self.met is None else max(self.met, level)
        else:
            self.missed = level if self.missed is None else min(self.missed, level)

    def next_level(self) -> float | None:
        """The next level to probe, or None when the bracket is narrow enough (or cannot move)."""
        met, missed = self.met, self.missed
        if met is None and missed is None:
            return self._start
        if missed is None:  # everything met so far: grow
            assert met is not None
            level = math.ceil(met * GROWTH) if self._integer else met * GROWTH
            if self._expected_most is not None and met < self._expected_most:
                level = min(level, self._expected_most)
            if self._highest is not None:
                level = min(level, self._highest)
            return None if level <= met else level
        if met is None:  # everything missed so far: shrink
            level = math.floor(missed / GROWTH) if self._integer else missed / GROWTH
            return None if level < (1 if self._integer else 0) or level >= missed else level
        if missed - met <= self._tolerance * missed or (self._integer and missed - met <= 1):
            return None
        return (met + missed) // 2 if self._integer else (met + missed) / 2


def search_plan(bases: Sequence[RunConfig], rule: SearchRule, *, max_workers: int, tail: float = 0.01) -> Plan:
    """The probes of every base config's search, one search after another; config ids count
    from 0 over every probe.

    Args:
        bases: The sweep's configs (for a concurrency search, one per config without the
            workers axis).
        rule: The search options.
        max_workers: The most workers per copy a concurrency search may try.
        tail: The share of requests beyond the highest constrained percentile (0.01 for a
            p99), which sets how long a repeat must be (:func:`repeat_factor`).
    """
    ids = itertools.count()
    for search_id, base in enumerate(bases):
        yield from _search_one(base, search_id, rule, ids, max_workers, tail)


def repeat_factor(report: dict[str, Any], duration_s: float, tail: float) -> float:
    """How many durations the repeat of an undecided probe lasts: long enough for
    ``TAIL_SAMPLES`` requests beyond the percentile at the rate the probe served, within
    ``REPEAT_FACTOR`` to ``REPEAT_MAX_FACTOR``."""
    rate = _request_rate(report) or 0.0
    wanted_s = TAIL_SAMPLES / (max(tail, 0.001) * rate) if rate > 0 else math.inf
    return min(max(wanted_s / duration_s, REPEAT_FACTOR), REPEAT_MAX_FACTOR)


def _search_one(base: RunConfig, search_id: int, rule: SearchRule, ids: Iterator[int], max_workers: int,
                tail: float) -> Plan:
    """One config's search: its probes, each sent back its report. A step is one load tried:
    its probe, and the probe's repeat when it was undecided."""
    steps = probes = 0

    def probe(level: float | None, factor: float = 1.0) -> RunConfig:
        nonlocal probes
        probes += 1
        changes: dict[str, Any] = {}
        measure = dataclasses.replace(base.measure, duration_s=base.measure.duration_s * factor)
        if rule.mode == "rate" and level is not None:  # warmed up by the closed loop already
            measure = dataclasses.replace(measure, warmup=0, warmup_s=None)
            changes["load"] = LoadShape(rule.arrival, float(level), "config", base.load.loop_dataset)
        elif rule.mode == "concurrency":
            changes["workers_per_model"] = int(level or 1)
        return dataclasses.replace(base, config_id=next(ids), search=rule.mode, search_id=search_id, probe=probes,
                                   measure=measure, **changes)

    if rule.mode == "rate":
        steps += 1
        closed = yield probe(None)
        closed_rate = _request_rate(closed)
        if closed_rate is None:
            return  # the closed loop failed: its report says why
        bracket = Bracket(closed_rate * START_SHARE, rule.tolerance, expected_most=closed_rate * CLOSED_MARGIN)
    else:
        bracket = Bracket(1, rule.tolerance, integer=True, highest=max_workers)
    level = bracket.next_level()
    while level is not None and steps < rule.max_steps:
        steps += 1
        report = yield probe(level)
        if probe_verdict(report) == UNDECIDED:
            report = yield probe(level, repeat_factor(report, base.measure.duration_s, tail))
        if report.get("status") != STATUS_FINISHED:
            return  # the model or a copy failed (not a missed SLO): its report says why
        bracket.observe(level, final_verdict(report) == MET)
        level = bracket.next_level()


def _request_rate(report: dict[str, Any]) -> float | None:
    """The closed loop's requests per second (its throughput over the batch size), if it ran."""
    throughput = report.get("throughput_avg")
    if report.get("status") != STATUS_FINISHED or not isinstance(throughput, (int, float)) or throughput <= 0:
        return None
    return float(throughput) / int(report.get("batch_size") or 1)


def concurrency_bases(configs: Sequence[RunConfig]) -> list[RunConfig]:
    """The configs of a concurrency search: one per config of the sweep without its workers axis
    (each starts at one worker), in sweep order."""
    seen: dict[tuple[Any, ...], RunConfig] = {}
    for config in configs:
        key = dataclasses.astuple(dataclasses.replace(config, config_id=0, workers_per_model=1))
        seen.setdefault(key, dataclasses.replace(config, config_id=len(seen), workers_per_model=1))
    return list(seen.values())
