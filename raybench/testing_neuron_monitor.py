"""TEST STAND-IN: prints JSON in the documented neuron-monitor output format. It is NOT neuron-monitor
and measures nothing; every value it prints is made up by the formulas below, so a test can predict it.

It exists so raybench's Neuron telemetry (:mod:`raybench.telemetry.neuron`) can be tested as a real
child process on machines without Neuron hardware. Keep it out of every non-test path: nothing in
raybench imports it, and only tests pass it as ``NeuronMonitor(command=...)``.

Run as ``python -m raybench.testing_neuron_monitor -c CONFIG.json [--runtimes SPEC] [--garbage]
[--exit-after N]``. It reads the config's ``period`` (``"1s"``, ``"200ms"``) and which metric
groups it asks for, then every period prints one report on one line, flushed, until killed.

``SPEC`` (or the ``RAYBENCH_STANDIN_RUNTIMES`` environment variable) lists the fake runtimes,
comma-separated, each ``TAG:PID:CORES`` with CORES a NeuronCore index or range (``0-1``). An
empty TAG stands for an untagged runtime, which reports its PID as its tag, as the guide says
neuron-monitor does. ``--garbage`` prints a line that is not JSON before every report;
``--exit-after N`` exits with code 3 after N reports, as a crashing monitor would.

The layout follows the Neuron Monitor User Guide's "The JSON output format" and metric-group
sections (aws-neuron-sdk, tools/neuron-sys-tools/neuron-monitor-user-guide.rst).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any, NamedTuple

__all__ = ["EXIT_CODE", "GARBAGE_LINE", "HARDWARE", "StandinRuntime", "build_report", "core_util_percent",
           "device_latency_s", "error_summary", "execution_summary", "host_mem_bytes", "device_mem_bytes",
           "main", "parse_runtimes", "total_latency_s"]

#: What --exit-after exits with.
EXIT_CODE = 3
#: What --garbage prints before each report.
GARBAGE_LINE = "neuron-monitor stand-in: this line is not JSON {"
#: The ``neuron_hardware_info`` printed: one device with two NeuronCores.
HARDWARE: dict[str, Any] = {
    "neuron_device_type": "inferentia2", "neuron_device_version": "v3", "neuroncore_version": "v2",
    "neuron_device_count": 1, "neuron_device_memory_size": 32 * 2**30, "neuroncore_per_device_count": 2,
    "logical_neuroncore_config": 1, "error": "",
}
_PERCENTILES = {"p0": 0.5, "p1": 0.6, "p25": 0.9, "p50": 1.0, "p75": 1.2, "p99": 2.0, "p100": 3.0}


class StandinRuntime(NamedTuple):
    """One fake Neuron runtime: its tag as reported (the PID when untagged), PID and cores."""

    tag: str
    pid: int
    cores: tuple[int, ...]


def parse_runtimes(spec: str) -> list[StandinRuntime]:
    """``"tag:pid:0-1,:4242:2"`` as runtimes; an empty tag becomes the PID, as neuron-monitor reports it."""
    out = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        match = re.fullmatch(r"([^:]*):(\d+):(\d+)(?:-(\d+))?", item)
        if match is None:
            raise SystemExit(f"--runtimes items must be TAG:PID:CORES like tag:123:0-1 (got {item!r})")
        tag, pid, first, last = match.groups()
        cores = tuple(range(int(first), int(last if last is not None else first) + 1))
        out.append(StandinRuntime(tag or pid, int(pid), cores))
    return out


def core_util_percent(core: int) -> float:
    """The utilisation printed for NeuronCore ``core``, every report."""
    return 10.0 + 7.5 * core


def device_mem_bytes(index: int) -> int:
    """Device memory printed for the ``index``-th runtime of the spec."""
    return (index + 1) * 250_000_000


def host_mem_bytes(index: int) -> int:
    """Host memory printed for the ``index``-th runtime."""
    return (index + 1) * 40_000_000


def total_latency_s(index: int) -> dict[str, float]:
    """``total_latency`` percentiles, in seconds as documented, for the ``index``-th runtime."""
    return {q: 0.004 * (index + 1) * k for q, k in _PERCENTILES.items()}


def device_latency_s(index: int) -> dict[str, float]:
    """``device_latency`` percentiles, seconds: three quarters of the total."""
    return {q: 0.75 * s for q, s in total_latency_s(index).items()}


def error_summary(index: int) -> dict[str, int]:
    """Errors by kind printed for the ``index``-th runtime, every report."""
    return {"generic": index, "numerical": 0, "transient": 1, "model": 0, "runtime": 2 * index, "hardware": 0}


def execution_summary(index: int) -> dict[str, int]:
    """Executions by outcome printed for the ``index``-th runtime, every report."""
    return {"completed": 100 * (index + 1), "completed_with_err": index, "completed_with_num_err": 0,
            "timed_out": 0, "incorrect_input": 0, "failed_to_queue": 0}


def _runtime_groups(index: int, runtime: StandinRuntime, period_s: float) -> dict[str, Any]:
    """Every runtime-level metric group the guide describes, filled for one runtime."""
    cores = {str(c): {"neuroncore_utilization": core_util_percent(c), "flops": 1e9 * (c + 1)} for c in runtime.cores}
    per_core = device_mem_bytes(index) // len(runtime.cores)
    return {
        "neuroncore_counters": {"period": period_s, "neuroncores_in_use": cores, "error": ""},
        "memory_used": {"period": period_s, "neuron_runtime_used_bytes": {
            "host": host_mem_bytes(index), "neuron_device": device_mem_bytes(index),
            "usage_breakdown": {"neuroncore_memory_usage": {
                str(c): {"constants": per_core, "model_code": 0, "model_shared_scratchpad": 0,
                         "runtime_memory": 0, "tensors": 0} for c in runtime.cores}}},
            "loaded_models": [], "error": ""},
        "execution_stats": {"period": period_s, "error_summary": error_summary(index),
                            "execution_summary": execution_summary(index),
                            "latency_stats": {"total_latency": total_latency_s(index),
                                              "device_latency": device_latency_s(index)},
                            "error": ""},
        "neuron_runtime_vcpu_usage": {"period": period_s, "vcpu_usage": {"user": 12.5, "system": 2.5}, "error": ""},
    }


def _system_groups(period_s: float) -> dict[str, Any]:
    """The node-wide metric groups, filled."""
    return {
        "neuron_hw_counters": {"period": period_s, "neuron_devices": [
            {"neuron_device_index": 0, "mem_ecc_corrected": 1, "mem_ecc_uncorrected": 0,
             "sram_ecc_uncorrected": 0, "sram_ecc_corrected": 2}], "error": ""},
        "vcpu_usage": {"period": period_s, "average_usage": {"user": 20.0, "nice": 0, "system": 5.0, "idle": 75.0,
                                                             "io_wait": 0, "irq": 0, "soft_irq": 0},
                       "usage_data": {}, "context_switch_count": 1000, "error": ""},
        "memory_info": {"period": period_s, "memory_total_bytes": 16 * 2**30, "memory_used_bytes": 4 * 2**30,
                        "swap_total_bytes": 0, "swap_used_bytes": 0, "error": ""},
    }


def build_report(runtimes: list[StandinRuntime], config: dict[str, Any], period_s: float) -> dict[str, Any]:
    """One report: the runtimes whose tag passes a ``tag_filter``, with the groups the config names."""
    out: dict[str, Any] = {"neuron_runtime_data": []}
    for section in config.get("neuron_runtimes", []):
        wanted = {m.get("type") for m in section.get("metrics", [])}
        tag_filter = re.compile(section.get("tag_filter", ".*"))
        for index, runtime in enumerate(runtimes):
            if tag_filter.search(runtime.tag):
                groups = _runtime_groups(index, runtime, period_s)
                out["neuron_runtime_data"].append({
                    "pid": runtime.pid, "address": "", "neuron_runtime_tag": runtime.tag, "error": "",
                    "report": {k: v for k, v in groups.items() if k in wanted}})
    wanted = {m.get("type") for m in config.get("system_metrics", [])}
    out["system_data"] = {k: v for k, v in _system_groups(period_s).items() if k in wanted}
    out["instance_info"] = {"instance_name": "", "instance_id": "i-00000000000000000", "instance_type": "inf2.xlarge",
                            "instance_availability_zone": "", "instance_availability_zone_id": "",
                            "instance_region": "", "ami_id": "", "subnet_id": "", "error": ""}
    out["neuron_hardware_info"] = dict(HARDWARE)
    return out


def _period_s(period: object) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", period) if isinstance(period, str) else None
    if match is None:
        raise SystemExit(f"period must look like '1s' or '200ms' (got {period!r})")
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def main(argv: list[str] | None = None) -> int:
    """Print a report every period until killed (or until ``--exit-after`` reports)."""
    parser = argparse.ArgumentParser(prog="python -m raybench.testing_neuron_monitor",
                                     description="TEST STAND-IN for neuron-monitor: made-up values")
    parser.add_argument("-c", "--config-file", required=True)
    parser.add_argument("--runtimes", default=os.environ.get("RAYBENCH_STANDIN_RUNTIMES", ""))
    parser.add_argument("--garbage", action="store_true")
    parser.add_argument("--exit-after", type=int, default=None)
    args = parser.parse_args(argv)
    with open(args.config_file) as f:
        config = json.load(f)
    period_s = _period_s(config.get("period", "5s"))  # the guide's default period is 5 s
    runtimes = parse_runtimes(args.runtimes)
    printed = 0
    try:
        while args.exit_after is None or printed < args.exit_after:
            if args.garbage:
                print(GARBAGE_LINE, flush=True)
            print(json.dumps(build_report(runtimes, config, period_s)), flush=True)
            printed += 1
            time.sleep(period_s)
    except (KeyboardInterrupt, BrokenPipeError):
        return 0
    print(f"neuron-monitor stand-in: exiting after {printed} reports", file=sys.stderr, flush=True)
    return EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
