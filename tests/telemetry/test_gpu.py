"""raybench.telemetry.gpu: the absent-NVML path for real, the present path against a stand-in.

This machine has no GPU and the default environment has no ``nvidia-ml-py``. ``StandInNvml``
below is a stand-in for the ``pynvml`` module, not NVML: it answers the calls GpuSampler makes with
values in NVML's documented units (memory in bytes, power in milliwatts, utilisation in percent),
so the conversions and the device -> copy mapping are checked without a device.
"""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

import pytest

from raybench.core.errors import MissingDependencyError
from raybench.telemetry import gpu
from raybench.telemetry.gpu import GpuSampler, available, energy_j, visible_gpu_indices


class StandInNvml:
    """A stand-in for the ``pynvml`` module (not NVML): fixed readings per device, calls counted."""

    class NVMLError(Exception):
        """Stands in for ``pynvml.NVMLError``."""

    def __init__(self, devices: dict[int, dict], uuids: dict[str, int] | None = None,
                 init_error: bool = False) -> None:
        self.devices = devices  # index -> {"util": percent, "used": bytes, "power": milliwatts}
        self.uuids = uuids or {}
        self.init_error = init_error
        self.inits = self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self.init_error:
            raise self.NVMLError("Driver Not Loaded")
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index not in self.devices:
            raise self.NVMLError("Invalid Argument")
        return index  # the stand-in's handle is the index itself

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        if uuid not in self.uuids:
            raise self.NVMLError("Not Found")
        return self.uuids[uuid]

    def nvmlDeviceGetIndex(self, handle: int) -> int:
        return handle

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=self.devices[handle]["util"], memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        used = self.devices[handle]["used"]
        return SimpleNamespace(total=2 * used, free=used, used=used)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        power = self.devices[handle]["power"]
        if power is None:
            raise self.NVMLError("Not Supported")
        return power


TWO_GPUS = {0: {"util": 87, "used": 1_500_000_000, "power": 215_500},
            1: {"util": 3, "used": 250_000_000, "power": 60_000}}


def _values(samples) -> dict[tuple[int | None, str], float]:
    return {(s.copy_id, s.metric): s.value for s in samples}


@pytest.fixture
def no_pynvml(monkeypatch):
    """``import pynvml`` fails, as where nvidia-ml-py is not installed."""
    monkeypatch.setitem(sys.modules, "pynvml", None)


def test_not_available_without_pynvml(no_pynvml, caplog) -> None:
    with caplog.at_level(logging.DEBUG, logger="raybench.telemetry.gpu"):
        assert available() is False
    assert all(r.levelno <= logging.DEBUG for r in caplog.records)


def test_sampler_without_pynvml_names_the_extra(no_pynvml) -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install 'raybench\[gpu\]'"):
        GpuSampler({0: 0})


def test_not_available_when_nvml_init_fails(caplog) -> None:
    with caplog.at_level(logging.DEBUG, logger="raybench.telemetry.gpu"):
        assert available(StandInNvml({}, init_error=True)) is False
    assert all(r.levelno <= logging.DEBUG for r in caplog.records)


def test_available_probe_shuts_nvml_down_again() -> None:
    nvml = StandInNvml(TWO_GPUS)
    assert available(nvml) is True
    assert (nvml.inits, nvml.shutdowns) == (1, 1)


def test_sample_converts_units_and_maps_devices_to_copies() -> None:
    sampler = GpuSampler({0: 5, 1: 7}, nvml=StandInNvml(TWO_GPUS))
    rows = sampler.sample(now_ns=42)
    assert all(r.source == "gpu" and r.time_ns == 42 for r in rows)
    assert _values(rows) == {
        (5, "gpu_util_percent"): 87.0, (5, "gpu_mem_used_mb"): 1500.0, (5, "gpu_power_w"): 215.5,
        (7, "gpu_util_percent"): 3.0, (7, "gpu_mem_used_mb"): 250.0, (7, "gpu_power_w"): 60.0,
    }


def test_unsupported_reading_is_left_out_of_that_device_only() -> None:
    devices = {**TWO_GPUS, 1: {**TWO_GPUS[1], "power": None}}
    rows = GpuSampler({0: 0, 1: 1}, nvml=StandInNvml(devices)).sample(now_ns=1)
    assert (1, "gpu_power_w") not in _values(rows)
    assert (0, "gpu_power_w") in _values(rows) and (1, "gpu_util_percent") in _values(rows)


def test_device_nvml_cannot_open_is_skipped(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="raybench.telemetry.gpu"):
        sampler = GpuSampler({0: 0, 9: 1}, nvml=StandInNvml(TWO_GPUS))
    assert {s.copy_id for s in sampler.sample(now_ns=1)} == {0}
    assert "GPU 9 (copy 1) is not sampled" in caplog.text


def test_close_shuts_nvml_down_once_and_stops_sampling() -> None:
    nvml = StandInNvml(TWO_GPUS)
    sampler = GpuSampler({0: 0}, nvml=nvml)
    sampler.close()
    sampler.close()
    assert (nvml.inits, nvml.shutdowns) == (1, 1)
    assert sampler.sample(now_ns=1) == []


@pytest.mark.parametrize(("env_value", "expected"), [
    (None, []),
    ("", []),
    ("0", [0]),
    ("2,0", [2, 0]),
    (" 1 , 3 ", [1, 3]),
    ("1,1,2", [1, 2]),
    ("0,-1,2", [0]),  # CUDA stops at a negative ordinal
    ("-1", []),
    ("MIG-4b1c2d", []),
    ("GPU-abc", []),  # without NVML a UUID cannot be resolved: skipped
])
def test_visible_gpu_indices_parses_cuda_visible_devices(env_value, expected) -> None:
    assert visible_gpu_indices(env_value) == expected


def test_visible_gpu_indices_resolves_uuids_through_nvml() -> None:
    nvml = StandInNvml(TWO_GPUS, uuids={"GPU-aaaa-1111": 1, "GPU-bbbb-0000": 0})
    assert visible_gpu_indices("GPU-aaaa-1111,GPU-unknown,GPU-bbbb-0000", nvml=nvml) == [1, 0]


def test_energy_is_the_trapezoid_of_power_over_time() -> None:
    # 100 W for 1 s, then a ramp from 100 W to 200 W over 2 s: 100 J + 300 J.
    samples = [(0, 100.0), (1_000_000_000, 100.0), (3_000_000_000, 200.0)]
    assert energy_j(samples) == pytest.approx(400.0)
    assert energy_j(list(reversed(samples))) == pytest.approx(400.0)


@pytest.mark.parametrize("samples", [[], [(5, 250.0)]])
def test_energy_needs_two_samples(samples) -> None:
    assert energy_j(samples) == 0.0


def test_module_imports_without_pynvml() -> None:
    assert "pynvml" not in vars(gpu)
