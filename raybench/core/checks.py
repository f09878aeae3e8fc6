"""Argument checks shared by every option group: one rule each, one message shape each.

Every message names the argument, the rule and the bad value, e.g.
``n_models must be a positive int or a list of them (or "max") (got 0)``.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import TypeGuard

from raybench.core.errors import ConfigError

#: NeuronPerf's compiler performance levels.
PERFORMANCE_LEVELS = (0, 1, 2, 3)


def is_int(value: object) -> TypeGuard[int]:
    """An integer (numpy's too), but not a bool: ``n_models=True`` is a mistake, not a count."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_ints(name: str, value: object, *, allow_max: bool = False) -> tuple[int | str, ...]:
    """Validate an int-or-list-of-ints argument; return it as a tuple.

    Raises:
        ConfigError: an entry is not a positive int (nor ``"max"`` where allowed).
    """
    rule = f"{name} must be a positive int or a list of them"
    if allow_max:
        rule += ' (or "max")'
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ConfigError(f"{rule} (got {value!r})")
    out: list[int | str] = []
    for item in values:
        if allow_max and isinstance(item, str) and item.lower() == "max":
            out.append("max")
        elif is_int(item) and int(item) > 0:  # type: ignore[call-overload]
            out.append(int(item))  # type: ignore[call-overload]
        else:
            raise ConfigError(f"{rule} (got {value!r})")
    return tuple(out)


def performance_levels(value: object) -> tuple[int, ...]:
    """Validate NeuronPerf's ``performance_levels``: an int from 0 to 3, or a list of them.

    Raises:
        ConfigError: anything else (an empty list included).
    """
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or not all(is_int(v) and int(v) in PERFORMANCE_LEVELS for v in values):  # type: ignore[call-overload]
        raise ConfigError(f"performance_levels must be an int from 0 to 3 or a list of them (got {value!r})")
    return tuple(int(v) for v in values)  # type: ignore[call-overload,arg-type]


def cast_modes(value: object) -> tuple[str, ...]:
    """Validate NeuronPerf's ``cast_modes``: a non-empty string, or a list of them.

    Raises:
        ConfigError: anything else (an empty list included).
    """
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"cast_modes must be a non-empty str or a list of them (got {value!r})")
    return tuple(dict.fromkeys(values))  # type: ignore[arg-type]


def check_callable(name: str, fn: object) -> None:
    """Raise ConfigError unless ``fn`` is None or callable."""
    if fn is not None and not callable(fn):
        raise ConfigError(f"{name} must be callable (got {fn!r})")


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is True or False (``"no"`` is not False)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False (got {value!r})")
    return value


def check_number(name: str, value: object, *, minimum: float, inclusive: bool, unit: str = "") -> float:
    """Validate a finite real number against a lower bound; return it as float.

    Raises:
        ConfigError: not a number, NaN, infinite or below the bound.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value >= minimum if inclusive else value > minimum  # type: ignore[operator]
    if not ok:  # also NaN and infinity: neither is a duration
        bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        what = f"a finite number {bound}" + (f" ({unit})" if unit else "")
        raise ConfigError(f"{name} must be {what} (got {value!r})")
    return float(value)  # type: ignore[arg-type]


def parse_warmup(warmup: object) -> tuple[int, float | None]:
    """``warmup`` as ``(inferences per worker, seconds or None)``: an int counts inferences, a
    string like ``"2s"`` or ``"500ms"`` is a time each worker warms up for.

    Raises:
        ConfigError: neither a non-negative int nor such a time.
    """
    if is_int(warmup) and int(warmup) >= 0:  # type: ignore[call-overload]
        return int(warmup), None  # type: ignore[call-overload]
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|ms)\s*", warmup) if isinstance(warmup, str) else None
    if match is None:
        raise ConfigError(
            "warmup must be a non-negative int number of inferences per worker or a time like "
            f"'2s' or '500ms' (got {warmup!r})"
        )
    seconds = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
    return 0, seconds
