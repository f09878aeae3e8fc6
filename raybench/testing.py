"""Ground-truth models and fakes for testing raybench and for demos.

Every model here is a top-level class that builds with no arguments and is called as
``model(*inputs)``: raybench ships the *class* to each copy (by reference, so the copy imports
``raybench.testing``) and constructs it there. None of them needs torch.

- ``SimulatedDevice`` sleeps a known service time per call: the measured latency must land on it,
  which makes it the ground truth for raybench's own numbers.
- ``LockedDevice`` sleeps under a per-copy first-come-first-served lock, so the workers of one copy
  queue as they do on a real NeuronCore.
- ``make_simulated_device`` builds either with another service time.
- ``NoopModel`` and ``DummyModel`` measure harness overhead and smoke-test the flow.
- ``FailingModel``, ``FlakyModel`` and ``BrokenConstructorModel`` exercise the error paths.
- ``md1_response_quantile`` is queueing theory's answer for a ``LockedDevice`` (or a one-worker
  copy) under Poisson arrivals: the M/D/1 queue, against which open-loop latencies are checked.
"""

from __future__ import annotations

import math
import threading
import time

from raybench.core.errors import ConfigError

__all__ = [
    "BrokenConstructorModel",
    "DummyModel",
    "FailingModel",
    "FlakyModel",
    "LockedDevice",
    "NoopModel",
    "SimulatedDevice",
    "make_simulated_device",
    "md1_response_quantile",
]


class SimulatedDevice:
    """A device with parallel capacity and a fixed service time per inference.

    ``time.sleep`` releases the GIL, so concurrent workers overlap fully: with ``w`` workers the
    expected throughput is ``w / service_time_s`` and every latency is ``service_time_s`` plus
    harness overhead.

    Attributes:
        service_time_s: Seconds each call takes (class attribute; see ``make_simulated_device``).
    """

    service_time_s: float = 0.010

    def __call__(self, *inputs: object) -> object:
        """Sleep ``service_time_s`` and echo the first input.

        Args:
            *inputs: Model inputs; only the first is used.

        Returns:
            ``inputs[0]``, or None when called without inputs.
        """
        time.sleep(self.service_time_s)
        return inputs[0] if inputs else None


class _FirstComeFirstServed:
    """A lock that is granted in the order it was asked for, as a device's request queue is.

    ``threading.Lock`` is not fair: the thread that releases it usually takes it straight back
    while the others sleep, so w workers of a ``LockedDevice`` saw 10 ms, 10 ms, ... and then one
    long wait, and a median said less about w than luck did. Tickets make every call wait for
    exactly the calls asked for before it: w workers take w service times a call.
    """

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._now_serving = 0

    def __enter__(self) -> None:
        with self._turn:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._now_serving:
                self._turn.wait()

    def __exit__(self, *exc_info: object) -> None:
        with self._turn:
            self._now_serving += 1
            self._turn.notify_all()


class LockedDevice(SimulatedDevice):
    """A device that serves one inference at a time per model copy, first come first served.

    The lock belongs to the instance, not the class: raybench builds one instance per model copy,
    and a copy stands for its own NeuronCores. Extra workers of one copy therefore queue behind
    each other (throughput ``1 / service_time_s`` per copy whatever ``workers_per_model`` is, and
    with ``w`` workers each call takes ``w`` service times), while separate copies - separate
    instances, possibly in one process when ``multiprocess=False`` - still run in parallel. A
    class-level lock would wrongly serialise copies that share a process.
    """

    def __init__(self) -> None:
        """Create the copy's own request queue."""
        self._lock = _FirstComeFirstServed()

    def __call__(self, *inputs: object) -> object:
        """Wait for this copy's device, sleep ``service_time_s`` and echo the first input.

        Args:
            *inputs: Model inputs; only the first is used.

        Returns:
            ``inputs[0]``, or None when called without inputs.
        """
        with self._lock:
            time.sleep(self.service_time_s)
        return inputs[0] if inputs else None


def _service_time_label(service_time_s: float) -> str:
    """Render a service time as an identifier-safe label, e.g. ``10ms`` or ``2p5ms``."""
    text = f"{service_time_s * 1e3:g}"
    return text.replace(".", "p").replace("-", "m").replace("+", "") + "ms"


def make_simulated_device(service_time_s: float, *, locked: bool = False) -> type:
    """Build a simulated device class with the given service time.

    The class is created at run time, so it is not an attribute of any module; cloudpickle (and so
    Ray) then pickles it by value, service time included, and a copy on another node rebuilds it
    without needing this call to be repeated there.

    Args:
        service_time_s: Seconds each call sleeps; a finite number > 0.
        locked: Subclass ``LockedDevice`` (one call at a time per copy) instead of
            ``SimulatedDevice`` (calls overlap).

    Returns:
        A no-argument-constructible subclass named like ``SimulatedDevice_10ms``.

    Raises:
        ConfigError: ``service_time_s`` is not a finite number > 0.
    """
    if isinstance(service_time_s, bool) or not isinstance(service_time_s, (int, float)):
        msg = f"service_time_s must be a finite number > 0 (got {service_time_s!r})"
        raise ConfigError(msg)
    if not service_time_s > 0:  # written this way so NaN is refused too
        msg = f"service_time_s must be > 0 (got {service_time_s!r})"
        raise ConfigError(msg)
    if math.isinf(service_time_s):
        # time.sleep(inf) raises OverflowError inside the copy; refuse it here instead.
        msg = f"service_time_s must be a finite number > 0 (got {service_time_s!r})"
        raise ConfigError(msg)

    base = LockedDevice if locked else SimulatedDevice
    name = f"{base.__name__}_{_service_time_label(service_time_s)}"
    cls = type(
        name,
        (base,),
        {
            "service_time_s": float(service_time_s),
            "__doc__": f"{base.__name__} with a service time of {service_time_s!r} s.",
            # This module is the honest origin (useful in reprs), and cloudpickle still pickles
            # the class by value because `name` is not an attribute of this module.
            "__module__": __name__,
            "__qualname__": name,
        },
    )
    return cls


class NoopModel:
    """A model that returns at once: what remains of the measured latency is harness overhead."""

    def __call__(self, *inputs: object) -> None:
        """Return immediately.

        Args:
            *inputs: Ignored.

        Returns:
            None.
        """
        return None


class DummyModel:
    """NeuronPerf's trivial smoke-test model: hands back its first input unchanged."""

    def __call__(self, *inputs: object) -> object:
        """Echo the first input.

        Args:
            *inputs: Model inputs; only the first is used.

        Returns:
            ``inputs[0]``, or None when called without inputs.
        """
        return inputs[0] if inputs else None


class FailingModel:
    """A model whose every call raises, to exercise warmup and run failure paths."""

    def __call__(self, *inputs: object) -> None:
        """Always fail.

        Args:
            *inputs: Ignored.

        Raises:
            RuntimeError: On every call.
        """
        msg = "FailingModel always fails"
        raise RuntimeError(msg)


class FlakyModel:
    """A model that fails on every ``fail_every``-th call of the instance (3rd, 6th, ... by default).

    The count is per instance and guarded by a lock, so several workers of one copy together
    see exactly one failure per ``fail_every`` calls.

    Attributes:
        fail_every: Period of the failures, counted in calls to this instance.
    """

    fail_every: int = 3

    def __init__(self) -> None:
        """Start the call count at zero."""
        self._calls = 0
        self._lock = threading.Lock()

    def __call__(self, *inputs: object) -> None:
        """Count the call and fail if its number is a multiple of ``fail_every``.

        Args:
            *inputs: Ignored.

        Returns:
            None when the call succeeds.

        Raises:
            RuntimeError: On calls ``fail_every``, ``2 * fail_every``, ... (numbered from 1).
        """
        # The increment and the read must be one step, or two workers could share a number.
        with self._lock:
            self._calls += 1
            call_number = self._calls
        if call_number % self.fail_every == 0:
            msg = f"FlakyModel failed call {call_number}"
            raise RuntimeError(msg)
        return None


class BrokenConstructorModel:
    """A model that cannot be built, to exercise the model-load failure path of a copy."""

    def __init__(self) -> None:
        """Always fail.

        Raises:
            RuntimeError: Always.
        """
        msg = "BrokenConstructorModel cannot be built"
        raise RuntimeError(msg)

    def __call__(self, *inputs: object) -> None:  # pragma: no cover - never reachable
        """Never runs: construction always fails."""
        return None


def md1_wait_cdf(t_s: float, rate: float, service_s: float) -> float:
    """P(wait <= t) in an M/D/1 queue (Poisson arrivals at ``rate``, one server, a constant
    service time), by Erlang's formula: ``(1 - rho) * sum_{k=0}^{floor(t/D)} (r(kD - t))^k / k! *
    exp(-r(kD - t))`` with ``rho = rate * D < 1``. The alternating sum loses precision far in
    the tail (beyond about 30 service times); the quantiles asked for here lie well inside."""
    rho = rate * service_s
    if t_s < 0:
        return 0.0
    total = 0.0
    for k in range(int(math.floor(t_s / service_s)) + 1):
        x = rate * (k * service_s - t_s)
        total += x**k / math.factorial(k) * math.exp(-x)
    return min(1.0, (1 - rho) * total)


def md1_response_quantile(q: float, rate: float, service_s: float) -> float:
    """The ``q`` quantile of the response time (wait plus service) of an M/D/1 queue, in seconds.

    Args:
        q: The quantile, in (0, 1).
        rate: Poisson arrivals per second.
        service_s: The constant service time; ``rate * service_s`` must be below 1.

    Raises:
        ConfigError: the queue is not stable (``rate * service_s >= 1``) or ``q`` is outside (0, 1).
    """
    if not 0 < rate * service_s < 1:
        raise ConfigError(f"an M/D/1 queue needs 0 < rate * service_s < 1 (got {rate * service_s!r})")
    if not 0 < q < 1:
        raise ConfigError(f"q must be a quantile in (0, 1) (got {q!r})")
    low, high = 0.0, 30 * service_s
    for _ in range(60):  # bisect the wait's CDF: 30 D / 2^60 is far below a nanosecond
        middle = (low + high) / 2
        low, high = (middle, high) if md1_wait_cdf(middle, rate, service_s) < q else (low, middle)
    return service_s + high
