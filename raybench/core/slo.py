"""Service-level objectives: what ``slo={...}`` may hold, checked once.

Two kinds of key:

- **per-request thresholds** — ``latency_ms``, ``ttft_ms``, ``tpot_ms``: a request meets the SLO
  when every threshold holds for it; ``goodput`` counts those requests.
- **percentile constraints** — a latency percentile field of the report, such as
  ``latency_ms_p99`` or ``itl_ms_p99``: ``slo_ok`` says whether every one held for the config.
"""

from __future__ import annotations

import math
from typing import Any

from raybench.core.errors import ConfigError

#: The percentiles reported for each streaming figure (latency keeps its own).
STREAM_PERCENTILES: dict[str, tuple[int, ...]] = {"ttft_ms": (50, 90, 95, 99), "itl_ms": (50, 90, 95, 99),
                                                  "tpot_ms": (50, 90, 99)}
#: The latency percentiles of every report: NeuronPerf's six, p75 and p99.9 (``latency_ms_p99_9``).
LATENCY_PERCENTILES: tuple[float, ...] = (0, 50, 75, 90, 95, 99, 99.9, 100)


def percentile_field(name: str, q: float) -> str:
    """A percentile's report field: ``latency_ms_p99``, ``latency_ms_p99_9`` (no dot in a column name)."""
    return f"{name}_p{q:g}".replace(".", "_")


def field_quantile(field: str) -> float:
    """The quantile, in [0, 1], a percentile field names: ``latency_ms_p99_9`` -> 0.999."""
    return float(field.rsplit("_p", 1)[1].replace("_", ".")) / 100

#: Per-request thresholds, each with the report field of its attainment.
THRESHOLDS: dict[str, str] = {"latency_ms": "slo_latency_met_pct", "ttft_ms": "slo_ttft_met_pct",
                              "tpot_ms": "slo_tpot_met_pct"}
#: Percentile fields a constraint may name.
PERCENTILE_FIELDS: tuple[str, ...] = (
    *(percentile_field("latency_ms", q) for q in LATENCY_PERCENTILES),
    *(f"{name}_p{q}" for name, qs in STREAM_PERCENTILES.items() for q in qs),
)


def check_slo(slo: object) -> dict[str, float] | None:
    """Validate ``slo``: a dict of threshold or percentile-field names to positive milliseconds.

    Raises:
        ConfigError: not a dict, an unknown key (the message lists the known ones), or a value
            that is not a positive finite number.
    """
    if slo is None:
        return None
    if not isinstance(slo, dict) or not slo:
        raise ConfigError(f"slo must be a non-empty dict of names to milliseconds, e.g. {{'latency_ms_p99': 50}} "
                          f"(got {slo!r})")
    checked: dict[str, float] = {}
    for key, value in slo.items():
        if key not in THRESHOLDS and key not in PERCENTILE_FIELDS:
            known = ", ".join([*THRESHOLDS, *PERCENTILE_FIELDS])
            raise ConfigError(f"slo keys must be among {known} (got {key!r})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"slo[{key!r}] must be a positive number of milliseconds (got {value!r})")
        checked[str(key)] = float(value)
    return checked


def thresholds_of(slo: dict[str, Any] | None) -> dict[str, float]:
    """The per-request thresholds of an SLO."""
    return {k: float(v) for k, v in (slo or {}).items() if k in THRESHOLDS}


def constraints_of(slo: dict[str, Any] | None) -> dict[str, float]:
    """The percentile constraints of an SLO."""
    return {k: float(v) for k, v in (slo or {}).items() if k in PERCENTILE_FIELDS}
