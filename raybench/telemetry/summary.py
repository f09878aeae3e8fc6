"""A config's device figures from its copies' telemetry samples: NeuronCore utilisation and the
Neuron runtime's own (device-side) latency, GPU utilisation, memory and energy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from raybench.telemetry import Sample
from raybench.telemetry.gpu import energy_j

#: Report fields from device telemetry; None where the device was not sampled.
DEVICE_FIELDS: tuple[str, ...] = (
    "neuroncore_util_avg", "device_latency_ms_p50", "device_latency_ms_p99", "gpu_util_avg", "gpu_mem_max_mb",
    "energy_j_per_1k_inf",
)


def _values(samples: Sequence[Sample], source: str, metric: str) -> list[float]:
    # copy_id None: a core or device no copy of this config owns, which is not the benchmark's.
    return [s.value for s in samples if s.source == source and s.metric == metric and s.copy_id is not None]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def device_fields(copies: Sequence[Any], total_infs: object) -> dict[str, float | None]:
    """The :data:`DEVICE_FIELDS` of a config from its copies' ``telemetry``.

    ``neuroncore_util_avg`` is the mean of the copies' NeuronCore utilisation (percent, over the
    cores each copy's runtime reports); ``device_latency_ms_p50``/``_p99`` the mean over reports
    of the runtime's own latency percentiles (neuron-monitor's ``device`` latency): the gap to
    raybench's ``latency_ms_p50`` is the harness plus the host. ``energy_j_per_1k_inf`` is each
    copy's GPU energy (trapezoid over its power samples; one GPU per copy) summed, per 1000
    measured inferences.
    """
    samples = [s for c in copies for s in c.telemetry]
    energy = 0.0
    powered = False
    for copy_id in {s.copy_id for s in samples if s.source == "gpu" and s.metric == "gpu_power_w"}:
        series = [(s.time_ns, s.value) for s in samples if s.source == "gpu" and s.metric == "gpu_power_w"
                  and s.copy_id == copy_id]
        energy += energy_j(series)
        powered = powered or len(series) > 1
    memory = _values(samples, "gpu", "gpu_mem_used_mb")
    infs = total_infs if isinstance(total_infs, int) and total_infs > 0 else None
    return {
        "neuroncore_util_avg": _mean(_values(samples, "neuron", "neuroncore_util_percent")),
        "device_latency_ms_p50": _mean(_values(samples, "neuron", "device_latency_ms_p50")),
        "device_latency_ms_p99": _mean(_values(samples, "neuron", "device_latency_ms_p99")),
        "gpu_util_avg": _mean(_values(samples, "gpu", "gpu_util_percent")),
        "gpu_mem_max_mb": max(memory) if memory else None,
        "energy_j_per_1k_inf": energy / infs * 1000 if powered and infs else None,
    }
