"""``raybench capacity`` end to end, and comparing two capacity searches for a CI gate."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import raybench
from raybench import compare
from raybench.testing import make_simulated_device
from test_cli import run_cli, table_header  # the same subprocess helpers (tests/cli is on sys.path)

pytestmark = pytest.mark.integration  # the command line through real subprocesses


@pytest.mark.ray
def test_capacity_command_prints_the_probes_and_writes_the_answers(tmp_path):
    # A median limit: decided on a second of requests, so no probe needs a repeat (a p99 would).
    result = run_cli("capacity", "raybench.testing:SimulatedDevice", "--input-shape", "1", "--slo",
                     "latency_ms_p50=30", "--n-models", "1", "--workers", "1", "--duration", "1", "--max-steps", "8",
                     "--model-name", "dev", "--verbosity", "0", "--out", "out", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    probes, answers = result.stdout.split("\n\n")[:2]
    assert table_header(probes.splitlines()[0])[:4] == ["search_id", "probe", "arrival", "target"]
    assert probes.splitlines()[2].split()[2] == "closed" and probes.splitlines()[3].split()[2] == "constant"
    assert table_header(answers.splitlines()[0])[0] == "capacity"
    (answer,) = json.loads((tmp_path / "out" / "latest" / "dev.capacity.json").read_text())
    assert 85 <= answer["capacity_rate"] <= 110 and answer["capacity_steps"] <= 8
    with open(tmp_path / "out" / "latest" / "dev.capacity.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["capacity_rate"]) == pytest.approx(answer["capacity_rate"])
    probe_rows = json.loads((tmp_path / "out" / "latest" / "dev.results.json").read_text())
    assert len(probe_rows) == answer["capacity_probes"]
    # A rerun twice as slow: compare --fail-on capacity:-5% fails, a rerun of the same passes.
    slower = raybench.cpu.benchmark(make_simulated_device(0.020), np.zeros(1, np.float32), batch_sizes=1,
                                    n_models=1, workers_per_model=1, duration=1, search="rate", max_steps=8,
                                    slo={"latency_ms_p50": 30}, model_name="dev", multiprocess=False,
                                    return_timers=True, verbosity=0)
    raybench.write_results(slower, tmp_path / "slower.parquet")
    same = run_cli("compare", "out/latest/dev.results.parquet", "out/latest/dev.results.parquet", "--fail-on", "capacity:-5%",
                   cwd=str(tmp_path))
    assert same.returncode == 0, same.stderr[-2000:]
    header = next(line for line in same.stdout.splitlines() if line.startswith("model "))
    assert "capacity" in header and same.stdout.startswith("base: ")  # each run described above the table
    fell = run_cli("compare", "out/latest/dev.results.parquet", "slower.parquet", "--fail-on", "capacity:-5%",
                   cwd=str(tmp_path))
    assert fell.returncode == 1, fell.stdout + fell.stderr
    assert "capacity fell" in fell.stderr
    plotted = run_cli("plot", "out/latest/dev.results.parquet", "--out", "plots", cwd=str(tmp_path))
    assert plotted.returncode == 0, plotted.stderr[-2000:]
    assert {"capacity_curve.png", "pareto.png"} <= {p.name for p in (tmp_path / "plots").iterdir()}


def test_capacity_needs_an_slo_with_a_percentile_limit(tmp_path):
    result = run_cli("capacity", "raybench.testing:SimulatedDevice", "--input-shape", "1", "--slo", "latency_ms=30",
                     cwd=str(tmp_path))
    assert result.returncode == 2
    assert "needs slo with a percentile limit" in result.stderr
    assert result.stderr.count("\n") <= 2  # one line, no traceback


def test_capacity_change_is_significant_only_when_the_brackets_part():
    base = {"search": "rate", "capacity_rate": 100.0, "capacity_missed_at": 104.0}
    assert compare.parse_fail_on("capacity:-5%")[0].metric == "capacity"
    from raybench.report.capacity import capacity_change

    fell = capacity_change(base, {"search": "rate", "capacity_rate": 80.0, "capacity_missed_at": 84.0})
    assert fell["capacity_significant"] and fell["capacity_change_pct"] == pytest.approx(-20.0)
    assert fell["capacity_ci_low_pct"] < -20 < fell["capacity_ci_high_pct"] < 0
    close = capacity_change(base, {"search": "rate", "capacity_rate": 98.0, "capacity_missed_at": 102.0})
    assert not close["capacity_significant"]
    unbounded = capacity_change(base, {"search": "rate", "capacity_rate": 200.0, "capacity_missed_at": None})
    assert unbounded["capacity_significant"] and unbounded["capacity_ci_high_pct"] is None
