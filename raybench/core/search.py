"""The capacity search's options: ``search``, ``search_tolerance``, ``max_steps``, checked once.

A search replaces one measurement per config by a series of *probes*, each a config of its own
(:mod:`raybench.run.search` runs them): ``search="rate"`` finds the highest open-loop rate that
meets every percentile constraint of ``slo``, ``search="concurrency"`` the most
``workers_per_model`` that does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from raybench.core.checks import check_number, is_int
from raybench.core.errors import ConfigError
from raybench.core.slo import constraints_of

SEARCHES = ("rate", "concurrency")
DEFAULT_TOLERANCE = 0.05
DEFAULT_MAX_STEPS = 12
#: The fewest steps a search needs: the closed loop, one load met and one missed.
MIN_STEPS = 3
#: With ``search="concurrency"`` and no ``workers_per_model``: the most workers tried.
DEFAULT_MAX_WORKERS = 64


@dataclass(frozen=True)
class SearchRule:
    """How a capacity search runs.

    Attributes:
        mode: ``"rate"``, ``"concurrency"``, or None (no search: the sweep measures each config once).
        tolerance: The search ends once its bracket ``[met, missed]`` is within this fraction of
            the missed end.
        max_steps: The most loads one config's search tries, the closed loop included (each
            probe lasts ``duration``; an undecided probe's repeat, 2-10 times as long, belongs
            to its step).
        arrival: The open-loop arrival of a rate search's probes (``benchmark``'s ``arrival``:
            "constant" unless "poisson" was asked for).
    """

    mode: str | None = None
    tolerance: float = DEFAULT_TOLERANCE
    max_steps: int = DEFAULT_MAX_STEPS
    arrival: str = "constant"

    @classmethod
    def from_user(cls, search: object = None, search_tolerance: object = DEFAULT_TOLERANCE,
                  max_steps: object = DEFAULT_MAX_STEPS) -> SearchRule:
        if search is not None and search not in SEARCHES:
            raise ConfigError(f"search must be 'rate', 'concurrency' or None (got {search!r})")
        tolerance = check_number("search_tolerance", search_tolerance, minimum=0, inclusive=False,
                                 unit="a fraction like 0.05")
        if tolerance >= 1:
            raise ConfigError(f"search_tolerance must be a fraction between 0 and 1, like 0.05 for 5 % "
                              f"(got {search_tolerance!r})")
        if not (is_int(max_steps) and int(max_steps) >= MIN_STEPS):  # type: ignore[call-overload]
            raise ConfigError(f"max_steps must be an int of at least {MIN_STEPS}: the closed loop, one load "
                              f"that meets the SLO and one that misses it (got {max_steps!r})")
        return cls(search, tolerance, int(max_steps))  # type: ignore[arg-type,call-overload]


def resolve_search(rule: SearchRule, slo: dict[str, float] | None,
                   load: dict[str, object]) -> tuple[SearchRule, dict[str, object]]:
    """Refuse a search the other options contradict; a rate search takes ``arrival`` for its
    probes, and its configs start from the closed loop.

    Args:
        rule: The search options.
        slo: The checked SLO.
        load: The load keywords the user gave (``arrival``, ``rate``...).

    Returns:
        The rule (with its probes' arrival) and the load keywords the configs are built from.

    Raises:
        ConfigError: no percentile limit in ``slo`` to search against, a ``rate`` given to a
            rate search (the search chooses it), or an open-loop arrival with a concurrency
            search (it varies a closed loop's workers).
    """
    if rule.mode is None:
        return rule, load
    if not constraints_of(slo):
        raise ConfigError(f"search={rule.mode!r} needs slo with a percentile limit to meet, "
                          f"e.g. slo={{'latency_ms_p99': 50}} (got slo={slo!r})")
    arrival = load.get("arrival", "closed")
    arrival = arrival.lower() if isinstance(arrival, str) else arrival
    if rule.mode == "concurrency":
        if arrival != "closed":
            raise ConfigError(f"search='concurrency' varies the workers of a closed loop; arrival must be 'closed' "
                              f"(got {arrival!r})")
        return rule, load
    if load.get("rate") is not None:
        rate = load["rate"]
        raise ConfigError(f"search='rate' chooses the rate of each probe; do not give rate (got rate={rate!r})")
    if arrival not in ("closed", "constant", "poisson"):
        raise ConfigError(f"arrival must be 'constant' or 'poisson' for the probes of search='rate' (got {arrival!r})")
    probes = "poisson" if arrival == "poisson" else "constant"
    return dataclasses.replace(rule, arrival=probes), {**load, "arrival": "closed"}
