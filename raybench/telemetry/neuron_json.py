"""neuron-monitor's configuration and its JSON reports, turned into :class:`~raybench.telemetry.Sample` rows.

Pure: no process, no clock. :mod:`raybench.telemetry.neuron` runs the binary and feeds each line here.

Every field read below is named in the Neuron Monitor User Guide (aws-neuron-sdk,
``tools/neuron-sys-tools/neuron-monitor-user-guide.rst``, rendered at
https://awsdocs-neuron.readthedocs-hosted.com/en/latest/tools/neuron-sys-tools/neuron-monitor-user-guide.html);
the comments name the section. A field the guide marks optional, or that is absent or of the wrong
type, is skipped: a report from another neuron-monitor version yields fewer samples, never an error.

What is emitted, all with source ``"neuron"``:

====================================  =======  ===========================================================
metric                                copy_id  value
====================================  =======  ===========================================================
``neuroncore_util_percent``           copy     mean utilisation (%) over the NeuronCores the copy's runtime uses
``neuroncore<N>_util_percent``        owner    utilisation (%) of NeuronCore N; None if no copy owns its runtime
``device_mem_used_mb``                copy     device memory the runtime uses, MB (10**6 bytes)
``host_mem_used_mb``                  copy     host memory the runtime uses, MB
``device_latency_ms_p<q>``            copy     percentile q of time on the device alone, ms (q as reported: 0 1 25 50 75 99 100)
``total_latency_ms_p<q>``             copy     percentile q of the runtime's whole execution latency, ms
``exec_errors``                       copy     errors of every kind in the captured period (sum of the next)
``exec_errors_<kind>``                copy     errors of one kind (generic, numerical, transient, model, ...)
``exec_<outcome>``                    copy     executions by outcome (completed, completed_with_err, timed_out, ...)
``neuron_device<D>_<ecc counter>``    None     ECC events on device D (mem_ecc_corrected, sram_ecc_uncorrected, ...)
====================================  =======  ===========================================================

A runtime no copy owns (another process on the node) gives only its per-core utilisation, as a
node-wide series: its memory and latencies would mix with nothing of the benchmark's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from raybench.core.errors import ConfigError
from raybench.telemetry import Sample

__all__ = [
    "BYTES_PER_MB", "MS_PER_S", "SOURCE", "TAG_PREFIX", "copy_for_runtime", "format_period",
    "hardware_info", "monitor_config", "parse_report", "process_tag", "reported_errors",
]

#: The ``source`` of every sample this module makes.
SOURCE = "neuron"
#: MB as raybench prints it elsewhere (``/ 1e6``): decimal megabytes.
BYTES_PER_MB = 1_000_000
#: The guide gives latency percentiles in seconds; raybench reports milliseconds.
MS_PER_S = 1_000
#: A copy sets ``NEURON_PROCESS_TAG`` to this prefix plus its copy id before its model loads.
TAG_PREFIX = "raybench-copy-"
_TAG = re.compile(re.escape(TAG_PREFIX) + r"(\d+)")

# The metric groups asked for, per runtime and node-wide ("Neuron Runtime-level metric groups",
# "System-wide metric groups"). neuron_runtime_vcpu_usage, vcpu_usage and memory_info are left out
# on purpose: raybench's process and host sources already sample them, on every machine.
RUNTIME_GROUPS = ("neuroncore_counters", "memory_used", "execution_stats")
SYSTEM_GROUPS = ("neuron_hw_counters",)


def process_tag(copy_id: int) -> str:
    """The ``NEURON_PROCESS_TAG`` value copy ``copy_id`` sets, which :func:`copy_for_runtime` reads back."""
    return f"{TAG_PREFIX}{copy_id}"


def format_period(interval_s: float) -> str:
    """``interval_s`` as a neuron-monitor period: ``"1s"`` for whole seconds, else ``"200ms"``.

    The guide's examples are whole seconds ("1s", "2s"); the millisecond form is raybench's
    reading of the duration syntax and has not been tried on a real neuron-monitor.

    Raises:
        ConfigError: ``interval_s`` is not a positive number of at least a millisecond.
    """
    ok = isinstance(interval_s, (int, float)) and not isinstance(interval_s, bool) and math.isfinite(interval_s)
    if not ok or round(interval_s * 1000) < 1:
        raise ConfigError(f"interval_s must be a finite number >= 0.001 (seconds) (got {interval_s!r})")
    ms = round(interval_s * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def monitor_config(interval_s: float) -> dict[str, Any]:
    """The ``-c`` configuration: every runtime on the node, the groups raybench reads, one period.

    Layout from "Configuration file example" and "JSON objects and fields in the configuration
    file". ``tag_filter`` lets every tag through: an untagged runtime reports its PID as its tag
    ("Neuron applications tagging"), and the PID is the fallback that maps it to a copy.
    """
    return {
        "period": format_period(interval_s),
        "neuron_runtimes": [{"tag_filter": ".*", "metrics": [{"type": group} for group in RUNTIME_GROUPS]}],
        "system_metrics": [{"type": group} for group in SYSTEM_GROUPS],
    }


def copy_for_runtime(entry: Mapping[str, Any], *, tag_to_copy: Mapping[str, int] | None = None,
                     pid_to_copy: Mapping[int, int] | None = None) -> int | None:
    """The copy that owns one ``neuron_runtime_data`` entry, or None.

    By its tag (``"neuron_runtime_tag"``, "The JSON output format"): ``tag_to_copy`` when given,
    else a tag made by :func:`process_tag`. Failing that, by its ``"pid"`` through ``pid_to_copy``.
    """
    tag = entry.get("neuron_runtime_tag")
    if isinstance(tag, str):
        if tag_to_copy is not None:
            if tag in tag_to_copy:
                return tag_to_copy[tag]
        elif (match := _TAG.fullmatch(tag)) is not None:
            return int(match.group(1))
    pid = entry.get("pid")
    if pid_to_copy is not None and isinstance(pid, int) and pid in pid_to_copy:
        return pid_to_copy[pid]
    return None


def _number(value: object) -> float | None:
    """A JSON number as float; None for anything else (null, a string, a bool)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _object(value: object) -> Mapping[str, Any]:
    """A JSON object, or an empty one when the field is missing or null."""
    return value if isinstance(value, Mapping) else {}


def _core_samples(report: Mapping[str, Any], copy_id: int | None, time_ns: int) -> list[Sample]:
    # "neuroncore_counters": "neuroncores_in_use" maps a NeuronCore index to its
    # "neuroncore_utilization", in percent over the captured period.
    in_use = _object(_object(report.get("neuroncore_counters")).get("neuroncores_in_use"))
    out, utils = [], []
    for index, core in in_use.items():
        util = _number(_object(core).get("neuroncore_utilization"))
        if util is None or not str(index).isdigit():
            continue
        utils.append(util)
        out.append(Sample(time_ns, copy_id, SOURCE, f"neuroncore{int(index)}_util_percent", util))
    if copy_id is not None and utils:
        out.append(Sample(time_ns, copy_id, SOURCE, "neuroncore_util_percent", sum(utils) / len(utils)))
    return out


def _memory_samples(report: Mapping[str, Any], copy_id: int, time_ns: int) -> list[Sample]:
    # "memory_used": "neuron_runtime_used_bytes" has "neuron_device" and "host", in bytes.
    used = _object(_object(report.get("memory_used")).get("neuron_runtime_used_bytes"))
    out = []
    for field, metric in (("neuron_device", "device_mem_used_mb"), ("host", "host_mem_used_mb")):
        value = _number(used.get(field))
        if value is not None:
            out.append(Sample(time_ns, copy_id, SOURCE, metric, value / BYTES_PER_MB))
    return out


def _execution_samples(report: Mapping[str, Any], copy_id: int, time_ns: int) -> list[Sample]:
    # "execution_stats": "latency_stats" holds "total_latency" and "device_latency", each a map of
    # "p<q>" to seconds, or null when nothing ran in the period; "error_summary" counts errors by
    # kind and "execution_summary" executions by outcome, both for the captured period.
    stats = _object(report.get("execution_stats"))
    out = []
    latency = _object(stats.get("latency_stats"))
    for field, prefix in (("device_latency", "device_latency_ms_"), ("total_latency", "total_latency_ms_")):
        for q, seconds in _object(latency.get(field)).items():
            value = _number(seconds)
            if value is not None and re.fullmatch(r"p\d+(\.\d+)?", str(q)):
                out.append(Sample(time_ns, copy_id, SOURCE, prefix + str(q), value * MS_PER_S))
    errors = {str(k): v for k, v in _object(stats.get("error_summary")).items() if _number(v) is not None}
    for kind, count in errors.items():
        out.append(Sample(time_ns, copy_id, SOURCE, f"exec_errors_{kind}", float(count)))
    if errors:
        out.append(Sample(time_ns, copy_id, SOURCE, "exec_errors", float(sum(errors.values()))))
    for outcome, count in _object(stats.get("execution_summary")).items():
        if _number(count) is not None:
            out.append(Sample(time_ns, copy_id, SOURCE, f"exec_{outcome}", float(count)))
    return out


def _hw_counter_samples(system: Mapping[str, Any], time_ns: int) -> list[Sample]:
    # "neuron_hw_counters": "neuron_devices" is a list of per-device ECC counters, each naming its
    # "neuron_device_index".
    devices = _object(system.get("neuron_hw_counters")).get("neuron_devices")
    out = []
    for device in devices if isinstance(devices, list) else ():
        device = _object(device)
        index = device.get("neuron_device_index")
        if not isinstance(index, int) or isinstance(index, bool):
            continue
        for counter, count in device.items():
            if counter != "neuron_device_index" and _number(count) is not None:
                out.append(Sample(time_ns, None, SOURCE, f"neuron_device{index}_{counter}", float(count)))
    return out


def parse_report(doc: Mapping[str, Any], time_ns: int, *, tag_to_copy: Mapping[str, int] | None = None,
                 pid_to_copy: Mapping[int, int] | None = None) -> list[Sample]:
    """The samples in one neuron-monitor report (one line of its output, already JSON-decoded).

    ``time_ns`` stamps them all: the guide's report carries no time of its own. Runtimes are
    matched to copies by :func:`copy_for_runtime`. Missing groups and fields are skipped.
    """
    out: list[Sample] = []
    # "The JSON output format": "neuron_runtime_data" is one entry per runtime, with "pid",
    # "neuron_runtime_tag", "error" and the runtime's metric groups under "report".
    runtimes = doc.get("neuron_runtime_data")
    for entry in runtimes if isinstance(runtimes, list) else ():
        entry = _object(entry)
        report = _object(entry.get("report"))
        copy_id = copy_for_runtime(entry, tag_to_copy=tag_to_copy, pid_to_copy=pid_to_copy)
        out += _core_samples(report, copy_id, time_ns)
        if copy_id is not None:
            out += _memory_samples(report, copy_id, time_ns)
            out += _execution_samples(report, copy_id, time_ns)
    # "system_data" holds the node-wide metric groups.
    out += _hw_counter_samples(_object(doc.get("system_data")), time_ns)
    return out


def hardware_info(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report's ``neuron_hardware_info`` ("neuron_hardware_info" section) as a plain dict, or None.

    Its fields as documented: ``neuron_device_type``, ``neuron_device_version``,
    ``neuroncore_version``, ``neuron_device_count``, ``neuron_device_memory_size`` (bytes per
    device), ``neuroncore_per_device_count``, ``logical_neuroncore_config``. An empty ``error`` is
    dropped; a non-empty one is kept (the driver is usually missing then).
    """
    info = doc.get("neuron_hardware_info")
    if not isinstance(info, Mapping):
        return None
    return {k: v for k, v in info.items() if not (k == "error" and not v)}


def reported_errors(doc: Mapping[str, Any]) -> list[str]:
    """The non-empty ``"error"`` strings in a report: on a runtime entry, its metric groups, the
    node-wide groups and ``neuron_hardware_info`` ("Metric Groups": each group has an ``error``)."""
    found = []

    def note(where: str, obj: object) -> None:
        error = _object(obj).get("error")
        if isinstance(error, str) and error:
            found.append(f"{where}: {error}")

    runtimes = doc.get("neuron_runtime_data")
    for entry in runtimes if isinstance(runtimes, list) else ():
        name = f"runtime {_object(entry).get('neuron_runtime_tag') or _object(entry).get('pid')}"
        note(name, entry)
        for group, data in _object(_object(entry).get("report")).items():
            note(f"{name} {group}", data)
    for group, data in _object(doc.get("system_data")).items():
        note(group, data)
    note("neuron_hardware_info", doc.get("neuron_hardware_info"))
    return found
