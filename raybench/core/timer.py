"""NeuronPerf's small timing utilities: ``timestamp_convert`` and ``Timer``.

raybench's own measurements go through the Arrow timer table (see ``_schema``); these two exist
so code written against NeuronPerf's ``Timer`` and ``timestamp_convert`` keeps working, and so
user hooks can time themselves with the same units.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TypeVar, overload

import numpy as np

from raybench.core.errors import ConfigError, TimerError
from raybench.core.units import NS_PER_MS, NS_PER_S, NS_PER_US

#: Nanoseconds per unit. Integers, so conversions to a smaller unit multiply by an exact int
#: (integer ns stay integers) and conversions to a larger one divide by an exact power of ten.
_NS_PER_UNIT = {"s": NS_PER_S, "ms": NS_PER_MS, "us": NS_PER_US, "ns": 1}
_UNITS_TEXT = ", ".join(repr(unit) for unit in _NS_PER_UNIT)

# typing.Self is 3.11+; a bound TypeVar gives subclasses the same precise ``with`` type on 3.10.
_TimerT = TypeVar("_TimerT", bound="Timer")


def _check_unit(name: str, unit: object) -> str:
    """Return ``unit`` if it is a known time unit, else raise naming the argument ``name``."""
    if not isinstance(unit, str) or unit not in _NS_PER_UNIT:
        msg = f"{name} must be one of {_UNITS_TEXT} (got {unit!r})"
        raise ConfigError(msg)
    return unit


def timestamp_convert(
    value: float | np.ndarray | list[float] | tuple[float, ...], from_unit: str, to_unit: str
) -> float | np.ndarray:
    """Convert a time, or a numpy array of times, from one unit to another.

    Converting to a smaller unit multiplies by an exact integer factor, so integers stay
    integers (``timestamp_convert(2, "s", "ns") == 2_000_000_000``); converting to a larger unit
    divides by a power of ten and gives floats. Lists and tuples are converted as numpy arrays.

    Args:
        value: A number or a numpy array of numbers, in ``from_unit``.
        from_unit: The unit of ``value``: "s", "ms", "us" or "ns".
        to_unit: The unit wanted: "s", "ms", "us" or "ns".

    Returns:
        ``value`` in ``to_unit``; ``value`` itself when the units are equal (lists and tuples
        come back as arrays).

    Raises:
        ConfigError: ``from_unit`` or ``to_unit`` is not one of the four units (a ValueError).
    """
    from_ns = _NS_PER_UNIT[_check_unit("from_unit", from_unit)]
    to_ns = _NS_PER_UNIT[_check_unit("to_unit", to_unit)]
    if isinstance(value, (list, tuple)):
        # A list times an int would repeat the list rather than scale it.
        value = np.asarray(value)
    if from_ns == to_ns:
        return value
    if from_ns > to_ns:
        return value * (from_ns // to_ns)
    # Divide by the exact integer: a factor like 0.001 is itself rounded, so 9 * 0.001 gives
    # 0.009000000000000001 where 9 / 1000 gives the correctly rounded 0.009.
    return value / (to_ns // from_ns)


class Timer:
    """Record (start, end) pairs from a clock; each ``with timer:`` block records one pair.

    Args:
        timer_fn: The clock, called with no arguments; inject a fake one to test.
        timer_unit: The unit ``timer_fn`` returns: "s", "ms", "us" or "ns" (use "ns" with
            ``time.perf_counter_ns`` to keep integer precision).

    Raises:
        ConfigError: ``timer_unit`` is not one of the four units (a ValueError).

    Example::

        timer = Timer()
        for _ in range(3):
            with timer:
                model(x)
        timer.avg("ms")
    """

    def __init__(self, timer_fn: Callable[[], float] = time.perf_counter, timer_unit: str = "s") -> None:
        self.timer_fn = timer_fn
        self.timer_unit = _check_unit("timer_unit", timer_unit)
        self._pairs: list[tuple[float, float]] = []
        self._started_at: float | None = None

    def start(self) -> None:
        """Read the clock and remember it as the start of the next pair.

        Raises:
            TimerError: The timer is already running (``start()`` without ``stop()``).
        """
        if self._started_at is not None:
            # Overwriting the pending start would silently drop time from the record.
            msg = "Timer.start() was called while the timer is running; call stop() first"
            raise TimerError(msg)
        self._started_at = self.timer_fn()

    def stop(self) -> None:
        """Read the clock and record (start, now) as one pair.

        Raises:
            TimerError: The timer is not running (``stop()`` without ``start()``).
        """
        end = self.timer_fn()
        if self._started_at is None:
            msg = "Timer.stop() was called without a matching start(); call start() first"
            raise TimerError(msg)
        self._pairs.append((self._started_at, end))
        self._started_at = None

    def reset(self) -> None:
        """Forget every recorded pair and any pending start.

        Returns:
            None.
        """
        self._pairs.clear()
        self._started_at = None

    def timestamps(self, unit: str = "s") -> np.ndarray:
        """The recorded pairs as an N x 2 array of (start, end), in ``unit``.

        Args:
            unit: "s", "ms", "us" or "ns".

        Returns:
            A numpy array of shape (N, 2); (0, 2) when nothing was recorded.

        Raises:
            ConfigError: ``unit`` is not one of the four units (a ValueError).
        """
        _check_unit("unit", unit)
        raw = np.array(self._pairs).reshape(-1, 2)
        return np.asarray(timestamp_convert(raw, self.timer_unit, unit))

    def durations(self, unit: str = "s") -> np.ndarray:
        """The length (end - start) of each recorded pair, in ``unit``.

        Args:
            unit: "s", "ms", "us" or "ns".

        Returns:
            A numpy array of shape (N,); empty when nothing was recorded.

        Raises:
            ConfigError: ``unit`` is not one of the four units (a ValueError).
        """
        _check_unit("unit", unit)
        raw = np.array(self._pairs).reshape(-1, 2)
        # Subtract in the clock's unit first: integer ns differences stay exact.
        return np.asarray(timestamp_convert(raw[:, 1] - raw[:, 0], self.timer_unit, unit))

    def total_duration(self, unit: str = "s") -> float:
        """The sum of all recorded durations, in ``unit``; 0 when nothing was recorded.

        Args:
            unit: "s", "ms", "us" or "ns".

        Returns:
            A Python number (an int for integer clocks read in the same or a smaller unit).

        Raises:
            ConfigError: ``unit`` is not one of the four units (a ValueError).
        """
        total: float = self.durations(unit).sum().item()
        return total

    def avg(self, unit: str = "s") -> float:
        """The mean recorded duration, in ``unit``.

        Args:
            unit: "s", "ms", "us" or "ns".

        Returns:
            The mean as a float.

        Raises:
            ConfigError: ``unit`` is not one of the four units (a ValueError).
            TimerError: Nothing was recorded, so there is no mean.
        """
        durations = self.durations(unit)
        if durations.size == 0:
            msg = "Timer.avg() needs at least one recorded pair (got 0)"
            raise TimerError(msg)
        return float(durations.mean())

    def __enter__(self: _TimerT) -> _TimerT:  # noqa: PYI019 - typing.Self needs Python 3.11
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The pair is recorded even when the block raised: the time was spent all the same.
        self.stop()

    def __len__(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(list(self._pairs))

    @overload
    def __getitem__(self, index: int) -> tuple[float, float]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[float, float]]: ...

    def __getitem__(self, index: int | slice) -> tuple[float, float] | list[tuple[float, float]]:
        return self._pairs[index]

    def __repr__(self) -> str:
        running = ", running" if self._started_at is not None else ""
        return f"Timer({len(self._pairs)} pairs, timer_unit={self.timer_unit!r}{running})"
