"""Telemetry through a real run: the table, the copies' figures in the reports, the results
file round trip, and neuron-monitor's series through the node's monitor (the stand-in)."""

from __future__ import annotations

import logging
import os
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

import raybench
from raybench.telemetry import TELEMETRY_SCHEMA
from raybench.testing import SimulatedDevice

pytestmark = pytest.mark.integration  # timed runs


def run(**kwargs):
    options = dict(batch_sizes=1, n_models=[1, 2], workers_per_model=[1], duration=1, return_timers=True,
                   verbosity=0, stats_interval=0.2, multiprocess=False)
    options.update(kwargs)
    return raybench.cpu.benchmark(SimulatedDevice, np.zeros(1), **options)


def series(table, **match):
    rows = table.to_pylist()
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


@pytest.fixture(scope="module")
def in_process():
    return run()


def test_the_table_holds_host_and_each_copys_process_series(in_process) -> None:
    table = in_process.telemetry
    assert table.schema == TELEMETRY_SCHEMA
    for config in in_process.configs:
        host = series(table, config_id=config.config_id, source="host", metric="cpu_percent")
        # one host series per node however many copies sampled it: ~5 ticks of 0.2 s in 1 s
        assert 3 <= len(host) <= 8 and all(r["copy_id"] is None for r in host)
        for copy_id in range(config.n_models):
            rss = series(table, config_id=config.config_id, copy_id=copy_id, source="process", metric="rss_mb")
            assert rss and all(r["value"] > 10 for r in rss)
    outcome = {o.config_id: o for o in in_process.outcomes}
    for row in series(table, source="host"):  # sampled during the measurement only
        assert outcome[row["config_id"]].start_ns <= row["time_ns"] <= outcome[row["config_id"]].stop_ns + 0.5e9


def test_reports_give_the_copies_cpu_and_memory(in_process) -> None:
    for report in raybench.get_reports(in_process):
        assert report["copy_rss_max_mb"] > 10
        assert report["copy_cpu_avg_percent"] is not None and report["copy_cpu_avg_percent"] >= 0
        assert report["host_saturated"] in (True, False)
        assert report["neuroncore_util_avg"] is None and report["gpu_util_avg"] is None  # none on this box


def test_the_telemetry_file_sits_beside_the_results_and_reads_back(in_process, tmp_path, caplog) -> None:
    path = raybench.write_results(in_process, tmp_path / "m.results.parquet")
    beside = tmp_path / "m.telemetry.parquet"
    assert pq.read_table(beside).num_rows == in_process.telemetry.num_rows  # any Parquet reader
    back = raybench.read_results(path)
    assert back.telemetry.equals(in_process.telemetry)
    fields = ("copy_cpu_avg_percent", "copy_rss_max_mb", "host_saturated")
    assert [{k: r[k] for k in fields} for r in raybench.get_reports(back)] == [
        {k: r[k] for k in fields} for r in raybench.get_reports(in_process)]
    os.unlink(beside)  # a lost telemetry file costs only the telemetry
    with caplog.at_level(logging.WARNING, logger="raybench"):
        again = raybench.read_results(path)
    assert again.telemetry.num_rows == 0 and "no telemetry" in caplog.text
    assert raybench.get_reports(again)[0]["total_infs"] == raybench.get_reports(in_process)[0]["total_infs"]


def test_copies_on_ray_sample_their_own_processes(ray_session) -> None:
    results = run(n_models=[2], multiprocess=True)
    table = results.telemetry
    threads = series(table, source="process", metric="threads")
    assert {r["copy_id"] for r in threads} == {0, 1}
    host = series(table, source="host", metric="mem_percent")
    assert host and {r["copy_id"] for r in host} == {None}
    assert len({r["node_id"] for r in host}) == 1


def test_neuron_monitor_series_join_the_table_through_the_nodes_monitor(monkeypatch) -> None:
    # The stand-in (raybench.testing_neuron_monitor) prints documented-format reports: copy 0's
    # runtime on cores 0-1. It is a TEST STAND-IN, not neuron-monitor.
    monkeypatch.setenv("RAYBENCH_NEURON_MONITOR", f"{sys.executable} -m raybench.testing_neuron_monitor")
    monkeypatch.setenv("RAYBENCH_STANDIN_RUNTIMES", "raybench-copy-0:4242:0-1")
    results = run(n_models=[1])
    util = series(results.telemetry, source="neuron", metric="neuroncore_util_percent")
    assert util and {r["copy_id"] for r in util} == {0}
    (report,) = raybench.get_reports(results)
    assert report["neuroncore_util_avg"] == pytest.approx(np.mean([r["value"] for r in util]))
    assert report["device_latency_ms_p50"] is not None and report["device_latency_ms_p50"] > 0
    assert results.metadata["neuron_hardware"]


def test_latency_over_time_shows_the_copies_utilisation_on_a_second_axis(in_process) -> None:
    pytest.importorskip("matplotlib")
    figure = raybench.plot.latency_over_time(in_process)
    twins = [ax for ax in figure.axes if ax.get_ylabel() == "copy CPU % (of a core)"]
    assert twins  # the right-hand panel labels it; every config panel has its twin
    assert sum(len(ax.collections) for ax in figure.axes if ax.get_ylim()[1] >= 100) >= len(in_process.configs)


def test_the_html_page_summarises_the_telemetry(in_process, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    page = (tmp_path / "r.html")
    raybench.write_html(in_process, page)
    text = page.read_text()
    assert 'id="telemetry"' in text and "rss_mb" in text and "copy CPU (% of a core)" in text
