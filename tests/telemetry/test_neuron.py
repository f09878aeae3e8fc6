"""Tests for raybench.telemetry.neuron and neuron_json: the parser on documented-format reports, and
NeuronMonitor running the test stand-in (raybench.testing_neuron_monitor) as a real child process."""

from __future__ import annotations

import ast
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

import raybench
from raybench import testing_neuron_monitor as standin
from raybench.core.errors import ConfigError
from raybench.telemetry import Sample
from raybench.telemetry.neuron import NeuronMonitor, available
from raybench.telemetry.neuron_json import (
    copy_for_runtime, format_period, hardware_info, monitor_config, parse_report, process_tag, reported_errors,
)

STANDIN = [sys.executable, "-m", "raybench.testing_neuron_monitor"]
INTERVAL_S = 0.2
#: Long enough for a cold interpreter to import raybench and print a few reports on a busy box.
DEADLINE_S = 30.0
T = 1_000_000_000

# Laid out as the guide's "The JSON output format" and its metric-group sections; values made up.
DOCUMENTED_REPORT = {
    "neuron_runtime_data": [{
        "pid": 4321, "address": "", "neuron_runtime_tag": "raybench-copy-3", "error": "",
        "report": {
            "neuroncore_counters": {"period": 1.0001, "neuroncores_in_use": {
                "4": {"neuroncore_utilization": 30.0, "flops": 1000},
                "5": {"neuroncore_utilization": 50.0, "flops": 2000}}, "error": ""},
            "execution_stats": {
                "period": 1.0002,
                "error_summary": {"generic": 1, "numerical": 0, "transient": 2, "model": 0, "runtime": 0,
                                  "hardware": 0},
                "execution_summary": {"completed": 40, "completed_with_err": 1, "completed_with_num_err": 0,
                                      "timed_out": 0, "incorrect_input": 0, "failed_to_queue": 0},
                "latency_stats": {
                    "total_latency": {"p0": 0.002, "p1": 0.0021, "p25": 0.0025, "p50": 0.003, "p75": 0.0035,
                                      "p99": 0.005, "p100": 0.006},
                    "device_latency": {"p0": 0.001, "p1": 0.0011, "p25": 0.0015, "p50": 0.002, "p75": 0.0025,
                                       "p99": 0.004, "p100": 0.0045}},
                "error": ""},
            "memory_used": {"period": 1.0003, "neuron_runtime_used_bytes": {
                "host": 12_000_000, "neuron_device": 345_000_000, "usage_breakdown": {}},
                "loaded_models": [], "error": ""},
            "neuron_runtime_vcpu_usage": {"period": 1.0, "vcpu_usage": {"user": 1.0, "system": 2.0}, "error": ""},
        },
    }],
    "system_data": {
        "neuron_hw_counters": {"period": 1.0, "neuron_devices": [
            {"neuron_device_index": 1, "mem_ecc_corrected": 3, "mem_ecc_uncorrected": 0,
             "sram_ecc_uncorrected": 0, "sram_ecc_corrected": 4}], "error": ""},
        "memory_info": {"period": 1.0, "memory_total_bytes": 10, "memory_used_bytes": 5, "error": ""},
    },
    "instance_info": {"instance_type": "inf2.8xlarge", "error": ""},
    "neuron_hardware_info": {"neuron_device_type": "inferentia2", "neuron_device_version": "v3",
                             "neuroncore_version": "v2", "neuron_device_count": 2,
                             "neuron_device_memory_size": 34359738368, "neuroncore_per_device_count": 2,
                             "logical_neuroncore_config": 1, "error": ""},
}


def _by_metric(samples: list[Sample], copy_id: int | None) -> dict[str, float]:
    return {s.metric: s.value for s in samples if s.copy_id == copy_id}


def test_a_documented_report_becomes_samples_of_its_copy() -> None:
    samples = parse_report(DOCUMENTED_REPORT, 7 * T)
    assert {s.time_ns for s in samples} == {7 * T} and {s.source for s in samples} == {"neuron"}
    copy = _by_metric(samples, 3)
    assert copy["neuroncore4_util_percent"] == 30.0 and copy["neuroncore5_util_percent"] == 50.0
    assert copy["neuroncore_util_percent"] == 40.0
    assert copy["device_mem_used_mb"] == 345.0 and copy["host_mem_used_mb"] == 12.0
    assert copy["device_latency_ms_p50"] == pytest.approx(2.0) and copy["device_latency_ms_p99"] == pytest.approx(4.0)
    assert copy["total_latency_ms_p0"] == pytest.approx(2.0) and copy["total_latency_ms_p100"] == pytest.approx(6.0)
    assert copy["exec_errors"] == 3.0 and copy["exec_errors_transient"] == 2.0
    assert copy["exec_completed"] == 40.0 and copy["exec_completed_with_err"] == 1.0
    assert _by_metric(samples, None) == {"neuron_device1_mem_ecc_corrected": 3.0, "neuron_device1_mem_ecc_uncorrected": 0.0,
                                         "neuron_device1_sram_ecc_uncorrected": 0.0, "neuron_device1_sram_ecc_corrected": 4.0}


def test_latency_stats_that_are_null_give_no_latency_samples() -> None:
    doc = {"neuron_runtime_data": [{"pid": 1, "neuron_runtime_tag": "raybench-copy-0", "report": {
        "execution_stats": {"latency_stats": {"total_latency": None, "device_latency": None}}}}]}
    assert parse_report(doc, T) == []


def test_a_runtime_no_copy_owns_gives_only_its_cores_as_node_wide_series() -> None:
    doc = {"neuron_runtime_data": [dict(DOCUMENTED_REPORT["neuron_runtime_data"][0], neuron_runtime_tag="someone")]}
    samples = parse_report(doc, T)
    assert {s.copy_id for s in samples} == {None}
    assert _by_metric(samples, None) == {"neuroncore4_util_percent": 30.0, "neuroncore5_util_percent": 50.0}


def test_garbled_fields_are_skipped_not_raised() -> None:
    doc = {"neuron_runtime_data": [None, {"report": {"neuroncore_counters": {"neuroncores_in_use": {"x": {}, "0": "no"}},
                                                     "memory_used": []}, "neuron_runtime_tag": 5}],
           "system_data": {"neuron_hw_counters": {"neuron_devices": [{"neuron_device_index": "0"}]}}}
    assert parse_report(doc, T) == []


def test_a_runtime_maps_to_a_copy_by_tag_then_by_pid() -> None:
    assert copy_for_runtime({"neuron_runtime_tag": process_tag(12), "pid": 9}) == 12
    assert copy_for_runtime({"neuron_runtime_tag": "mine", "pid": 9}, tag_to_copy={"mine": 4}) == 4
    # Untagged, neuron-monitor reports the PID as the tag ("Neuron applications tagging").
    assert copy_for_runtime({"neuron_runtime_tag": "9", "pid": 9}, pid_to_copy={9: 5}) == 5
    assert copy_for_runtime({"neuron_runtime_tag": "9", "pid": 9}) is None
    # An explicit tag map replaces the default reading of raybench's tags.
    assert copy_for_runtime({"neuron_runtime_tag": process_tag(1), "pid": 9}, tag_to_copy={}) is None


def test_hardware_info_and_reported_errors() -> None:
    assert hardware_info(DOCUMENTED_REPORT) == {k: v for k, v in DOCUMENTED_REPORT["neuron_hardware_info"].items()
                                                if k != "error"}
    assert hardware_info({}) is None
    assert reported_errors(DOCUMENTED_REPORT) == []
    broken = {"neuron_hardware_info": {"error": "no driver"},
              "neuron_runtime_data": [{"neuron_runtime_tag": "t", "report": {"memory_used": {"error": "gone"}}}]}
    assert reported_errors(broken) == ["runtime t memory_used: gone", "neuron_hardware_info: no driver"]


def test_the_config_asks_every_runtime_for_the_groups_read_at_one_period() -> None:
    config = monitor_config(0.5)
    assert config["period"] == "500ms"
    (runtimes,) = config["neuron_runtimes"]
    assert runtimes["tag_filter"] == ".*"
    assert [m["type"] for m in runtimes["metrics"]] == ["neuroncore_counters", "memory_used", "execution_stats"]
    assert config["system_metrics"] == [{"type": "neuron_hw_counters"}]
    assert format_period(1) == "1s" and format_period(2.0) == "2s" and format_period(0.2) == "200ms"


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "1s", True])
def test_a_bad_interval_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"interval_s must be a finite number >= 0.001 \(seconds\) \(got "):
        NeuronMonitor(bad)  # type: ignore[arg-type]


# --- the monitor, running the stand-in as a child process ------------------------------------------

RUNTIMES = "raybench-copy-0:1001:0-1,raybench-copy-1:1002:2-3,:1003:4,stranger:1004:5"


def _collect(monitor: NeuronMonitor, done: Callable[[list[Sample]], bool]) -> list[Sample]:
    """Drain until ``done(samples so far)`` or the deadline; no assertion on how long it took."""
    samples: list[Sample] = []
    deadline = time.monotonic() + DEADLINE_S
    while not done(samples) and time.monotonic() < deadline:
        time.sleep(INTERVAL_S / 2)
        samples += monitor.drain()
    return samples


def _reports(samples: list[Sample], metric: str = "neuroncore_util_percent", copy_id: int | None = 0) -> int:
    return sum(1 for s in samples if s.metric == metric and s.copy_id == copy_id)


def _warnings(log: pytest.LogCaptureFixture) -> list[str]:
    # One record can reach the capture twice: through raybench_log's handler and, while the
    # raybench logger propagates (set_verbosity was never called), through the root's.
    records = {id(r): r for r in log.records}.values()
    return [r.getMessage() for r in records if r.levelno == logging.WARNING and r.name == "raybench"]




@pytest.mark.integration
def test_each_copy_gets_exactly_its_cores_memory_latencies_and_errors(raybench_log) -> None:
    with NeuronMonitor(INTERVAL_S, command=[*STANDIN, "--runtimes", RUNTIMES], pid_to_copy={1003: 2}) as monitor:
        samples = _collect(monitor, lambda s: _reports(s) >= 3)
    assert _reports(samples) >= 3
    for index, (copy_id, cores) in enumerate([(0, (0, 1)), (1, (2, 3)), (2, (4,))]):
        mine = [s for s in samples if s.copy_id == copy_id]
        assert {s.metric for s in mine if s.metric.startswith("neuroncore") and s.metric[10].isdigit()} == {
            f"neuroncore{c}_util_percent" for c in cores}
        values = {s.metric: s.value for s in mine}
        assert values["neuroncore_util_percent"] == pytest.approx(
            sum(standin.core_util_percent(c) for c in cores) / len(cores))
        assert values["device_mem_used_mb"] == standin.device_mem_bytes(index) / 1e6
        assert values["host_mem_used_mb"] == standin.host_mem_bytes(index) / 1e6
        for q, seconds in standin.device_latency_s(index).items():
            assert values[f"device_latency_ms_{q}"] == pytest.approx(seconds * 1000)
        for q, seconds in standin.total_latency_s(index).items():
            assert values[f"total_latency_ms_{q}"] == pytest.approx(seconds * 1000)
        assert values["exec_errors"] == sum(standin.error_summary(index).values())
        assert values["exec_errors_runtime"] == standin.error_summary(index)["runtime"]
        assert values["exec_completed"] == standin.execution_summary(index)["completed"]
    node_wide = {s.metric for s in samples if s.copy_id is None}
    assert node_wide == {"neuroncore5_util_percent", "neuron_device0_mem_ecc_corrected",
                         "neuron_device0_mem_ecc_uncorrected", "neuron_device0_sram_ecc_corrected",
                         "neuron_device0_sram_ecc_uncorrected"}
    assert {s.copy_id for s in samples} == {0, 1, 2, None}
    assert _warnings(raybench_log) == []


@pytest.mark.integration
def test_an_untagged_runtime_maps_by_pid_once_the_copies_are_known() -> None:
    with NeuronMonitor(INTERVAL_S, command=[*STANDIN, "--runtimes", ":1003:4"]) as monitor:
        before = _collect(monitor, lambda s: len(s) >= 1)
        monitor.map_copies(pid_to_copy={1003: 6})
        after = _collect(monitor, lambda s: _reports(s, copy_id=6) >= 1)
    assert {s.copy_id for s in before} == {None}
    assert _by_metric(after, 6)["device_mem_used_mb"] == standin.device_mem_bytes(0) / 1e6


@pytest.mark.integration
def test_hardware_info_comes_from_the_reports() -> None:
    with NeuronMonitor(INTERVAL_S, command=STANDIN) as monitor:
        deadline = time.monotonic() + DEADLINE_S
        while monitor.hardware_info is None and time.monotonic() < deadline:
            time.sleep(INTERVAL_S / 2)
        info = monitor.hardware_info
    assert info == {k: v for k, v in standin.HARDWARE.items() if k != "error"}


@pytest.mark.integration
def test_stop_reaps_the_child_and_removes_the_config(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monitor = NeuronMonitor(INTERVAL_S, command=[*STANDIN, "--runtimes", RUNTIMES])
    monitor.start()
    pid = monitor.pid
    assert pid is not None and [p.suffix for p in tmp_path.iterdir()] == [".json"]
    _collect(monitor, lambda s: _reports(s) >= 1)
    monitor.stop()
    monitor.stop()  # idempotent
    # Reaped, not a zombie: no child of this process has that PID any more.
    assert pid not in [p.pid for p in psutil.Process().children(recursive=True)]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_garbage_lines_are_warned_about_once_and_the_reports_still_read(raybench_log) -> None:
    with NeuronMonitor(INTERVAL_S, command=[*STANDIN, "--runtimes", RUNTIMES, "--garbage"]) as monitor:
        samples = _collect(monitor, lambda s: _reports(s) >= 3)
    assert _reports(samples) >= 3
    (warning,) = _warnings(raybench_log)
    assert "neuron-monitor printed a line that is not a JSON report" in warning and "not JSON {" in warning


@pytest.mark.integration
def test_a_child_that_dies_early_is_warned_about_once_and_its_reports_kept(raybench_log) -> None:
    with NeuronMonitor(INTERVAL_S, command=[*STANDIN, "--runtimes", RUNTIMES, "--exit-after", "2"]) as monitor:
        deadline = time.monotonic() + DEADLINE_S
        while not _warnings(raybench_log) and time.monotonic() < deadline:
            time.sleep(INTERVAL_S / 2)
        samples = monitor.drain()
    assert _reports(samples) == 2
    (warning,) = _warnings(raybench_log)
    assert f"exited early (code {standin.EXIT_CODE})" in warning and "exiting after 2 reports" in warning


def test_a_missing_binary_is_not_available_and_runs_nothing(raybench_log, monkeypatch, tmp_path) -> None:
    missing = [str(tmp_path / "neuron-monitor")]
    assert not available(missing)
    assert available(STANDIN)
    monkeypatch.setenv("PATH", str(tmp_path))
    if not available():  # unless the real tool sits in its install directory
        with NeuronMonitor(INTERVAL_S) as monitor:
            assert monitor.pid is None
    with NeuronMonitor(INTERVAL_S, command=missing) as monitor:
        assert monitor.pid is None and monitor.drain() == [] and monitor.hardware_info is None
    monitor.start()  # after stop(): still nothing
    assert monitor.pid is None
    assert _warnings(raybench_log) == []


def test_nothing_in_raybench_imports_the_stand_in() -> None:
    package = Path(raybench.__file__).parent
    importers = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
                     if isinstance(node, ast.ImportFrom) else [])
            if any("testing_neuron_monitor" in name for name in names):
                importers.append(str(path.relative_to(package)))
    assert importers == []
