"""Argument types of the command line: comma-separated lists, bounded numbers, shapes.

Each function parses one option's text for ``argparse`` (``type=``) and raises
``argparse.ArgumentTypeError`` with the rule and the bad value, so argparse prints
``argument --n-models: must be ... (got '0')`` and exits with status 2 before anything starts.
"""

from __future__ import annotations

import argparse
import math


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",")]


#: The most values one range may give (copies and workers are capped at 32,767 anyway).
_MOST_IN_RANGE = 32_767


def _expand_ranges(text: str) -> list[str] | None:
    """Items of a list that may hold ranges: ``1:8:2`` is 1, 3, 5, 7 and ``1:4`` is 1, 2, 3, 4
    (START:STOP[:STEP], STOP included when a step lands on it). None for a bad range."""
    out: list[str] = []
    for item in _items(text):
        if ":" not in item:
            out.append(item)
            continue
        parts = item.split(":")
        numbers = [_positive_int(part.strip()) for part in parts]
        if len(parts) not in (2, 3) or any(n is None for n in numbers) or numbers[0] > numbers[1]:  # type: ignore[operator]
            return None
        start, stop, step = numbers[0], numbers[1], numbers[2] if len(parts) == 3 else 1
        if (stop - start) // step + 1 > _MOST_IN_RANGE:  # type: ignore[operator]
            return None  # 1:100000000 is a typo, not a sweep
        out.extend(str(n) for n in range(start, stop + 1, step))  # type: ignore[arg-type,operator]
    return out


def _positive_int(item: str) -> int | None:
    try:
        value = int(item)
    except ValueError:
        return None
    return value if value > 0 else None


def positive_ints(text: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``, ``"1:8:2"`` -> ``[1, 3, 5, 7]``; every item a positive int."""
    items = _expand_ranges(text)
    values = [_positive_int(item) for item in items or [""]]
    if any(value is None for value in values):
        msg = f"must be positive ints, comma-separated, or ranges START:STOP[:STEP], e.g. 1,2 or 1:8:2 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return [value for value in values if value is not None]


def counts_or_max(text: str) -> list[int | str]:
    """``"1,max"`` -> ``[1, "max"]``, ``"1:4,max"`` -> ``[1, 2, 3, 4, "max"]``; every item a
    positive int, a range or ``max``."""
    out: list[int | str] = []
    for item in _expand_ranges(text) or [""]:
        value = "max" if item.lower() == "max" else _positive_int(item)
        if value is None:
            msg = (f"must be positive ints, ranges START:STOP[:STEP] or 'max', comma-separated, e.g. 1,max or "
                   f"1:8:2 (got {text!r})")
            raise argparse.ArgumentTypeError(msg)
        out.append(value)
    return out


def levels(text: str) -> list[int]:
    """``"1,3"`` -> ``[1, 3]``; every item an int from 0 to 3 (a compiler performance level)."""
    try:
        values = [int(item) for item in _items(text)]
    except ValueError:
        values = [-1]
    if not all(0 <= value <= 3 for value in values):
        msg = f"must be ints from 0 to 3, comma-separated (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return values


def shape(text: str) -> tuple[int, ...]:
    """``"1,3,224,224"`` -> ``(1, 3, 224, 224)``; every dimension a positive int."""
    values = [_positive_int(item) for item in _items(text)]
    if any(value is None for value in values):
        msg = f"must be a shape of positive ints, comma-separated, e.g. 1,3,224,224 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return tuple(value for value in values if value is not None)


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _finite(text)
    if value is None or value <= 0:
        msg = f"must be a finite number > 0 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _finite(text)
    if value is None or value < 0:
        msg = f"must be a finite number >= 0 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return value


def probability(text: str) -> float:
    """A number strictly between 0 and 1 (a confidence level)."""
    value = _finite(text)
    if value is None or not 0 < value < 1:
        msg = f"must be a number between 0 and 1, exclusive, e.g. 0.95 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return value


def names(text: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``; no empty name."""
    values = _items(text)
    if not all(values):
        msg = f"must be names, comma-separated, e.g. throughput_avg,latency_ms_p50 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return values


def positive_int(text: str) -> int:
    """One positive int."""
    value = _positive_int(text.strip())
    if value is None:
        raise argparse.ArgumentTypeError(f"must be a positive int (got {text!r})")
    return value


def slo(text: str) -> dict[str, float]:
    """``"ttft_ms=200,latency_ms_p99=50"`` -> ``{"ttft_ms": 200.0, "latency_ms_p99": 50.0}``;
    the names and values are checked by ``benchmark`` (the same message as the API's)."""
    out: dict[str, float] = {}
    for item in _items(text):
        name, sep, value = item.partition("=")
        number = _finite(value) if sep else None
        if not name.strip() or number is None:
            raise argparse.ArgumentTypeError(f"must be NAME=MS pairs, comma-separated, e.g. ttft_ms=200,"
                                             f"latency_ms_p99=50 (got {text!r})")
        out[name.strip()] = number
    return out
