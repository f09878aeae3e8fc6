"""The console script: demo and report, through a real subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

import raybench


def run_cli(*args: str, cwd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-m", "raybench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_help_lists_the_commands(tmp_path):
    result = run_cli("--help", cwd=str(tmp_path))
    assert result.returncode == 0
    assert "demo" in result.stdout and "report" in result.stdout


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--out", str(out / "results"), "--duration", "1", "--verbosity", "0", cwd=str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "results", result


def test_demo_prints_the_default_sweep_and_writes_csv_json_parquet(demo_run):
    results_dir, result = demo_run
    header = result.stdout.splitlines()[0].split()
    assert header == list(raybench.PRINT_COLS)
    with open(results_dir / "demo_mlp.results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # Default sweep on the embedded Ray: n_models [1, MAX] x workers [1, 2].
    assert len(rows) in (2, 4)
    assert {r["workers_per_model"] for r in rows} == {"1", "2"}
    with open(results_dir / "demo_mlp.results.json") as f:
        reports = json.load(f)
    assert all(r["status"] == "finished" for r in reports)
    results = raybench.read_results(results_dir / "demo_mlp.results.parquet")
    assert raybench.get_reports(results) == reports
    assert results.timers.num_rows == sum(r["total_infs"] for r in reports)


def test_report_command_prints_the_table_of_a_results_file(demo_run):
    results_dir, _ = demo_run
    result = run_cli("report", str(results_dir / "demo_mlp.results.parquet"), cwd=str(results_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == list(raybench.PRINT_COLS)
    assert len(lines) >= 3
