"""Tests for raybench.testing: the ground-truth models must behave as their docs promise."""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from raybench.core.errors import ConfigError
from raybench.testing import (
    BrokenConstructorModel,
    DummyModel,
    FailingModel,
    FlakyModel,
    LockedDevice,
    NoopModel,
    SimulatedDevice,
    make_simulated_device,
    md1_response_quantile,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _run_threads(models: list[object], calls_per_thread: int) -> float:
    """Call each model from its own thread ``calls_per_thread`` times; return wall seconds."""
    barrier = threading.Barrier(len(models))

    def work(model: object) -> None:
        barrier.wait()
        for _ in range(calls_per_thread):
            model()  # type: ignore[operator]

    threads = [threading.Thread(target=work, args=(m,)) for m in models]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


@pytest.mark.parametrize(
    "cls", [SimulatedDevice, LockedDevice, NoopModel, DummyModel, FlakyModel, FailingModel]
)
def test_models_build_without_arguments(cls: type) -> None:
    assert isinstance(cls(), cls)


def test_simulated_device_default_service_time() -> None:
    assert SimulatedDevice.service_time_s == 0.010


@pytest.mark.parametrize("cls", [SimulatedDevice, LockedDevice])
def test_device_call_takes_at_least_service_time(cls: type) -> None:
    model = cls()
    start = time.perf_counter()
    model()
    assert time.perf_counter() - start >= cls.service_time_s


@pytest.mark.parametrize("cls", [SimulatedDevice, LockedDevice, DummyModel])
def test_echo_models_return_first_input(cls: type) -> None:
    first = object()
    assert cls()(first, "second") is first
    assert cls()() is None


def test_noop_model_returns_none() -> None:
    assert NoopModel()(1, 2) is None


def test_simulated_device_workers_overlap() -> None:
    device = make_simulated_device(0.020)()
    # 2 threads x 3 calls x 20 ms on one shared instance: 120 ms if serialised, ~60 ms overlapped.
    assert _run_threads([device, device], calls_per_thread=3) < 0.120


def test_locked_device_serialises_workers_of_one_instance() -> None:
    device = make_simulated_device(0.020, locked=True)()
    assert _run_threads([device, device], calls_per_thread=3) >= 0.120


def test_locked_device_instances_run_in_parallel() -> None:
    cls = make_simulated_device(0.020, locked=True)
    assert _run_threads([cls(), cls()], calls_per_thread=3) < 0.120


def test_locked_device_serves_a_waiting_caller_before_a_returning_one() -> None:
    """A calls twice in a row while B waits from A's first call on: B goes second, not third (a
    plain threading.Lock lets A take it straight back, and a median of w workers then lies)."""
    device = make_simulated_device(0.050, locked=True)()
    finished: list[str] = []

    def call(name: str, times: int) -> None:
        for _ in range(times):
            device()
            finished.append(name)

    first = threading.Thread(target=call, args=("A", 2))
    second = threading.Thread(target=call, args=("B", 1))
    first.start()
    time.sleep(0.015)  # A is inside its first call when B asks
    second.start()
    first.join()
    second.join()
    assert finished == ["A", "B", "A"]


def test_locked_device_lock_is_per_instance() -> None:
    assert LockedDevice()._lock is not LockedDevice()._lock


def test_failing_model_always_raises() -> None:
    model = FailingModel()
    for _ in range(2):
        with pytest.raises(RuntimeError, match=r"^FailingModel always fails$"):
            model()


def test_flaky_model_fails_exactly_every_third_call() -> None:
    model = FlakyModel()
    failed = []
    for call_number in range(1, 10):
        try:
            model(call_number)
        except RuntimeError as error:
            assert str(error) == f"FlakyModel failed call {call_number}"
            failed.append(call_number)
    assert failed == [3, 6, 9]


def test_flaky_model_counts_per_instance() -> None:
    first, second = FlakyModel(), FlakyModel()
    first()
    first()
    second()  # call 1 of `second`, not call 3 of a shared count
    with pytest.raises(RuntimeError, match=r"^FlakyModel failed call 3$"):
        first()


def test_flaky_model_count_is_thread_safe() -> None:
    model = FlakyModel()
    failures = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3000):
            try:
                model()
            except RuntimeError as error:
                with lock:
                    failures.append(str(error))

    # Switch threads as often as possible so an unguarded read-modify-write would interleave.
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old_interval)
    # 12000 calls: exactly calls 3, 6, ..., 12000 fail, each number once.
    assert sorted(failures) == sorted(f"FlakyModel failed call {n}" for n in range(3, 12001, 3))


def test_flaky_model_honours_subclass_period() -> None:
    class EveryOther(FlakyModel):
        fail_every = 2

    model = EveryOther()
    model()
    with pytest.raises(RuntimeError, match=r"^FlakyModel failed call 2$"):
        model()


def test_broken_constructor_model_raises() -> None:
    with pytest.raises(RuntimeError, match=r"^BrokenConstructorModel cannot be built$"):
        BrokenConstructorModel()


@pytest.mark.parametrize(
    ("service_time_s", "locked", "name", "base"),
    [
        (0.010, False, "SimulatedDevice_10ms", SimulatedDevice),
        (0.0025, False, "SimulatedDevice_2p5ms", SimulatedDevice),
        (1, True, "LockedDevice_1000ms", LockedDevice),
    ],
)
def test_make_simulated_device_builds_named_subclass(
    service_time_s: float, locked: bool, name: str, base: type
) -> None:
    cls = make_simulated_device(service_time_s, locked=locked)
    assert issubclass(cls, base)
    assert cls.__name__ == name
    assert cls.__qualname__ == name
    assert cls.service_time_s == service_time_s
    assert isinstance(cls.service_time_s, float)


def test_make_simulated_device_sets_service_time() -> None:
    model = make_simulated_device(0.030)()
    start = time.perf_counter()
    model()
    assert time.perf_counter() - start >= 0.030


def test_make_simulated_device_leaves_base_untouched() -> None:
    make_simulated_device(0.5)
    assert SimulatedDevice.service_time_s == 0.010


@pytest.mark.parametrize("bad", [0, -0.5, math.nan])
def test_make_simulated_device_rejects_non_positive(bad: float) -> None:
    with pytest.raises(ConfigError) as info:
        make_simulated_device(bad)
    assert str(info.value) == f"service_time_s must be > 0 (got {bad!r})"


@pytest.mark.parametrize("bad", ["0.01", None, True, math.inf])
def test_make_simulated_device_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        make_simulated_device(bad)  # type: ignore[arg-type]
    assert str(info.value) == f"service_time_s must be a finite number > 0 (got {bad!r})"


def test_make_simulated_device_round_trips_through_cloudpickle() -> None:
    ray_cloudpickle = pytest.importorskip("ray.cloudpickle")
    cls = make_simulated_device(0.015, locked=True)
    clone = ray_cloudpickle.loads(ray_cloudpickle.dumps(cls))
    assert clone.__name__ == "LockedDevice_15ms"
    assert clone.service_time_s == 0.015
    assert issubclass(clone, LockedDevice)


def test_make_simulated_device_is_pickled_by_value() -> None:
    # Plain pickle pickles classes by reference and must fail to find the dynamic class; a fresh
    # interpreter that never called make_simulated_device must still rebuild it from the bytes.
    ray_cloudpickle = pytest.importorskip("ray.cloudpickle")
    cls = make_simulated_device(0.015)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(cls)
    payload = ray_cloudpickle.dumps(cls)
    script = (
        "import sys, ray.cloudpickle as cp\n"
        "cls = cp.loads(sys.stdin.buffer.read())\n"
        "print(cls.__name__, cls.service_time_s, cls.__mro__[1].__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=payload,
        capture_output=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert result.stdout.decode().split() == ["SimulatedDevice_15ms", "0.015", "SimulatedDevice"]


@pytest.mark.parametrize(
    "cls", [SimulatedDevice, LockedDevice, NoopModel, DummyModel, FailingModel, FlakyModel]
)
def test_model_classes_pickle_by_reference(cls: type) -> None:
    assert pickle.loads(pickle.dumps(cls)) is cls


def test_module_imports_without_torch() -> None:
    script = (
        "import sys\n"
        "sys.modules['torch'] = None  # any `import torch` now raises ImportError\n"
        "import raybench.testing\n"
        "print('torch' in sys.modules and sys.modules['torch'] is not None)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, env=env, timeout=60, check=True
    )
    assert result.stdout.decode().strip() == "False"


def test_md1_quantiles_match_a_simulated_queue():
    """Erlang's formula against Lindley's recursion over 200k Poisson arrivals at rho = 0.5."""
    import numpy as np

    rate, service_s = 50.0, 0.010
    gaps = np.random.default_rng(0).exponential(1 / rate, 200_000)
    wait, waits = 0.0, np.empty(gaps.size)
    for i, gap in enumerate(gaps):
        wait = max(0.0, wait + service_s - gap) if i else 0.0
        waits[i] = wait
    simulated = np.percentile(waits + service_s, [50, 90, 99])
    theory = [md1_response_quantile(q, rate, service_s) for q in (0.5, 0.9, 0.99)]
    assert theory[0] == pytest.approx(service_s)  # half the requests do not wait at rho = 0.5
    assert theory == pytest.approx(list(simulated), rel=0.03)
    with pytest.raises(ConfigError, match="rate \\* service_s < 1"):
        md1_response_quantile(0.99, 100.0, service_s)
