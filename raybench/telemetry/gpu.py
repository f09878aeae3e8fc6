"""GPU telemetry through NVML, where present: a pull-style source for the sampler thread.

NVML comes from the optional ``nvidia-ml-py`` package (module ``pynvml``; ``pip install
'raybench[gpu]'``) and the NVIDIA driver's ``libnvidia-ml.so``. Without either, :func:`available`
is False and the run records no GPU series: no error, and nothing logged above debug.

Metrics (source ``gpu``, one series per device, ``copy_id`` the copy that owns the device):

========================  ============================================================================
``gpu_util_percent``      ``nvmlDeviceGetUtilizationRates(h).gpu``: percent of the driver's last sample
                          period (1/6 s to 1 s by product) in which a kernel was running
``gpu_mem_used_mb``       ``nvmlDeviceGetMemoryInfo(h).used`` (bytes) in MB (10**6 bytes)
``gpu_power_w``           ``nvmlDeviceGetPowerUsage(h)`` (milliwatts) in watts; Ampere and newer
                          (but GA100) report a 1 s average, older GPUs an instantaneous reading
========================  ============================================================================

A reading NVML refuses (a metric the device does not support, a GPU fallen off the bus) is left
out of that sample, logged at debug; the other metrics and devices still report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from raybench.core.errors import MissingDependencyError
from raybench.core.units import NS_PER_S
from raybench.telemetry import Sample
from raybench.telemetry.process import BYTES_PER_MB

__all__ = ["GpuSampler", "available", "energy_j", "visible_gpu_indices"]

logger = logging.getLogger(__name__)

_GPU = "gpu"
_MW_PER_W = 1000.0
#: (metric, NVML call on a device handle, its result -> the metric's unit)
_READINGS: tuple[tuple[str, str, Callable[[Any], float]], ...] = (
    ("gpu_util_percent", "nvmlDeviceGetUtilizationRates", lambda rates: float(rates.gpu)),
    ("gpu_mem_used_mb", "nvmlDeviceGetMemoryInfo", lambda memory: memory.used / BYTES_PER_MB),
    ("gpu_power_w", "nvmlDeviceGetPowerUsage", lambda milliwatts: milliwatts / _MW_PER_W),
)
_NO_PYNVML = "GPU telemetry needs NVML's Python bindings: pip install 'raybench[gpu]' (nvidia-ml-py)"


def _import_pynvml() -> ModuleType:
    """Import ``pynvml`` (heavy and optional, so only when GPU telemetry is asked for)."""
    try:
        import pynvml
    except ImportError as error:
        raise MissingDependencyError(_NO_PYNVML) from error
    return pynvml


def available(nvml: Any | None = None) -> bool:
    """Whether NVML can be used here: ``pynvml`` imports and ``nvmlInit`` succeeds.

    The probe shuts NVML down again (NVML counts its inits), so it leaves nothing open. Any failure
    (no package, no driver library, no GPU, a driver/library mismatch) is False, logged at debug:
    a machine without a GPU is the common case, not a problem.

    Args:
        nvml: The NVML module to probe; ``pynvml`` by default (tests pass a stand-in).
    """
    if nvml is None:
        try:
            nvml = _import_pynvml()
        except MissingDependencyError:
            logger.debug("no GPU telemetry: pynvml is not installed")
            return False
    try:
        nvml.nvmlInit()
    except Exception as error:  # pynvml.NVMLError, or OSError from loading the library: all mean "no NVML"
        logger.debug("no GPU telemetry: nvmlInit failed: %s", error)
        return False
    nvml.nvmlShutdown()
    return True


def visible_gpu_indices(env_value: str | None, nvml: Any | None = None) -> list[int]:
    """The NVML device indices a ``CUDA_VISIBLE_DEVICES`` value names, in its order, without repeats.

    - Unset or empty: ``[]``. The map is about ownership: a copy that Ray gave no GPU owns none,
      even though an unset variable lets CUDA see every device.
    - Integers are taken as NVML indices. CUDA numbers devices fastest first unless
      ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, NVML (and nvidia-smi) by PCI bus; the two agree on a node of
      identical GPUs. A negative entry ends the list, as it does for CUDA (``-1`` hides every GPU).
    - ``GPU-<uuid>`` entries are resolved with ``nvmlDeviceGetHandleByUUID`` and
      ``nvmlDeviceGetIndex`` when an initialised ``nvml`` is given; without one, or when NVML does
      not know the UUID (CUDA also accepts a unique prefix, NVML only the whole UUID), they are
      skipped. ``MIG-<uuid>`` entries and anything else are skipped too: a MIG instance has no
      device-wide utilisation or power of its own.

    Args:
        env_value: The copy's ``CUDA_VISIBLE_DEVICES``, e.g. ``"0,2"`` or ``"GPU-5f1c..."``.
        nvml: An initialised NVML module (``GpuSampler.nvml``) to resolve UUIDs with.
    """
    indices: list[int] = []
    for entry in (env_value or "").split(","):
        entry = entry.strip()
        index: int | None = None
        if entry.lstrip("-").isdigit():
            if int(entry) < 0:
                break
            index = int(entry)
        elif entry.startswith("GPU-") and nvml is not None:
            index = _index_of_uuid(nvml, entry)
        elif entry:
            logger.debug("CUDA_VISIBLE_DEVICES entry %r skipped: not an index or a resolvable GPU UUID", entry)
        if index is not None and index not in indices:
            indices.append(index)
    return indices


def _index_of_uuid(nvml: Any, uuid: str) -> int | None:
    """The NVML index of the GPU with this UUID, or None (logged at debug) when NVML has none."""
    try:
        return int(nvml.nvmlDeviceGetIndex(nvml.nvmlDeviceGetHandleByUUID(uuid)))
    except Exception as error:  # NVMLError_NotFound and kin: the entry is skipped, as documented
        logger.debug("CUDA_VISIBLE_DEVICES entry %r skipped: %s", uuid, error)
        return None


class GpuSampler:
    """Samples NVML devices, each row attributed to the copy that owns the device.

    Construction calls ``nvmlInit`` and opens every device; :meth:`close` calls ``nvmlShutdown``
    once. Check :func:`available` first: here a missing ``pynvml`` raises
    :class:`~raybench.core.errors.MissingDependencyError` and a failing ``nvmlInit`` raises NVML's
    error. A device NVML cannot open is logged as a warning and left out.

    Args:
        devices: NVML device index -> ``copy_id`` (None for a GPU no single copy owns, e.g. one
            shared by fractional ``num_gpus``). The run builds it from each copy's
            ``CUDA_VISIBLE_DEVICES`` with :func:`visible_gpu_indices`.
        nvml: The NVML module; ``pynvml`` by default (tests pass a stand-in).
    """

    def __init__(self, devices: dict[int, int | None], nvml: Any | None = None) -> None:
        """Initialise NVML and open the devices."""
        self.nvml = nvml if nvml is not None else _import_pynvml()
        self.nvml.nvmlInit()
        self._open = True
        self._devices: list[tuple[int, int | None, Any]] = []
        for index, copy_id in sorted(devices.items()):
            try:
                handle = self.nvml.nvmlDeviceGetHandleByIndex(index)
            except Exception as error:  # NVMLError (bad index, no permission, GPU lost)
                logger.warning("GPU %d (copy %s) is not sampled: NVML cannot open it: %s", index, copy_id, error)
                continue
            self._devices.append((index, copy_id, handle))

    def sample(self, now_ns: int) -> list[Sample]:
        """Read every device's utilisation, memory used and power draw.

        Args:
            now_ns: Wall-clock time (``time.time_ns``) stamped on every row.

        Returns:
            Up to three rows per device (see the module docstring for units); ``[]`` once closed.
        """
        if not self._open:
            return []
        out: list[Sample] = []
        for index, copy_id, handle in self._devices:
            for metric, call, convert in _READINGS:
                try:
                    value = convert(getattr(self.nvml, call)(handle))
                except Exception as error:  # NVMLError_NotSupported and kin: leave this reading out
                    logger.debug("GPU %d: %s not read: %s", index, metric, error)
                    continue
                out.append(Sample(now_ns, copy_id, _GPU, metric, value))
        return out

    def close(self) -> None:
        """Shut NVML down (once: further calls, and ``sample``, do nothing)."""
        if self._open:
            self._open = False
            self.nvml.nvmlShutdown()


def energy_j(samples: list[tuple[int, float]]) -> float:
    """Energy in joules from one device's ``(time_ns, watts)`` power samples, by the trapezoid rule.

    The samples are taken in time order; fewer than two give 0.0. For several GPUs, sum the
    devices' energies. The run computes ``energy_j_per_1k_inf = energy_j / inferences * 1000`` over
    the measurement window (the GPUs' summed energy over the inferences all copies completed).
    Power on Ampere and newer is a 1 s average, so windows of a few seconds are approximate.
    """
    ordered = sorted(samples)
    total_w_ns = 0.0
    for (t0, w0), (t1, w1) in zip(ordered, ordered[1:]):
        total_w_ns += (w0 + w1) / 2.0 * (t1 - t0)
    return total_w_ns / NS_PER_S
