"""Tests for raybench.report.results: per-node rows on hand-made two-node results, the reports table,
run metadata (git commit included), and the Parquet round trip (read back by pyarrow and duckdb)."""

from __future__ import annotations

import functools
import json
import platform
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import raybench
from raybench.report import results as _results
from raybench.core.schema import RunConfig
from raybench.core.errors import ConfigError
from raybench.report.reports import REPORT_FIELDS
from raybench.report.results import (
    Results,
    get_node_reports,
    get_reports,
    read_results,
    reports_table,
    write_results,
)
from raybench.report.metadata import git_state, run_metadata
from raybench.core.schema import ConfigOutcome, CopyOutcome, timer_schema

MS = 1_000_000
T0 = 1_700_000_000 * 1_000_000_000

approx = functools.partial(pytest.approx, rel=1e-9, abs=1e-12)


def make_config(**overrides: object) -> RunConfig:
    values: dict = {
        "config_id": 0, "model_filename": "m.pt", "model_name": "m", "device_type": "neuron",
        "batch_size": 1, "input_index": 0, "n_models": 1, "workers_per_model": 1,
    }  # fmt: skip
    values.update(overrides)
    return RunConfig.from_dict(values)


def make_timers(latencies_ms: list[float], **columns: list) -> pa.Table:
    """One row per latency (each starting 1 ms after the previous one); ids given per row."""
    starts = [T0 + i * MS for i in range(len(latencies_ms))]
    data = {
        "config_id": pa.array(columns["config_id"], pa.int16()),
        "copy_id": pa.array(columns["copy_id"], pa.int16()),
        "worker_id": pa.array([0] * len(starts), pa.int16()),
        "node_id": pa.array(columns["node_id"]).dictionary_encode().cast(pa.dictionary(pa.int16(), pa.string())),
        "start_ns": pa.array(starts, pa.int64()),
        "end_ns": pa.array([s + round(x * MS) for s, x in zip(starts, latencies_ms)], pa.int64()),
        "ok": pa.array(columns.get("ok", [True] * len(starts))),
    }
    return pa.table(data, schema=timer_schema())


def two_config_results() -> Results:
    """Config 1 (listed first) on nodes a and b, config 0 on node a only.

    Config 1: node-a copy 0 at 2, 4 ms; node-b copy 1 at 10, 20, 30 ms. Config 0: 7 ms.
    """
    timers = make_timers(
        [2.0, 10.0, 7.0, 4.0, 20.0, 30.0],
        config_id=[1, 1, 0, 1, 1, 1],
        copy_id=[0, 1, 0, 0, 1, 1],
        node_id=["node-a", "node-b", "node-a", "node-a", "node-b", "node-b"],
    )
    configs = [make_config(config_id=1, n_models=2), make_config(config_id=0)]
    outcomes = [
        ConfigOutcome(1, "finished", start_ns=T0, copies=(CopyOutcome(0, "node-a"), CopyOutcome(1, "node-b"))),
        ConfigOutcome(0, "finished", start_ns=T0, copies=(CopyOutcome(0, "node-a"),)),
    ]
    return Results(configs, outcomes, timers)


def summary(rows: list[dict]) -> list[tuple]:
    return [(r["config_id"], r["node_id"], r["n_copies"], r["total_infs"], r["latency_ms_p50"]) for r in rows]


EXPECTED = [
    (1, "node-a", 1, 2, approx(3.0)),
    (1, "node-b", 1, 3, approx(20.0)),
    (0, "node-a", 1, 1, approx(7.0)),
]


def test_get_node_reports_follows_config_order_then_node() -> None:
    assert summary(get_node_reports(two_config_results())) == EXPECTED


def test_each_pair_carries_its_config_node_rows() -> None:
    results = two_config_results()

    assert [summary(pair["nodes"]) for _, pair in results] == [EXPECTED[:2], EXPECTED[2:]]


def test_node_totals_match_the_reports() -> None:
    results = two_config_results()

    per_config = {r["config_id"]: r["total_infs"] for r in get_reports(results)}
    summed: dict[int, int] = {}
    for row in get_node_reports(results):
        summed[row["config_id"]] = summed.get(row["config_id"], 0) + row["total_infs"]

    assert summed == per_config == {1: 5, 0: 1}


def test_node_reports_survive_the_parquet_round_trip(tmp_path: Path) -> None:
    results = two_config_results()

    again = read_results(write_results(results, tmp_path / "r.parquet"))

    assert get_node_reports(again) == get_node_reports(results)
    assert again[0][1]["nodes"] == results[0][1]["nodes"]


def test_get_node_reports_rejects_other_objects() -> None:
    with pytest.raises(ConfigError) as info:
        get_node_reports([])  # type: ignore[arg-type]

    assert str(info.value) == (
        "results must be a raybench Results (from return_timers=True or read_results) (got list)"
    )


def test_get_node_reports_requires_an_outcome_per_config() -> None:
    results = two_config_results()
    results.outcomes = results.outcomes[:1]

    with pytest.raises(ValueError, match=r"^outcomes must include one for every config \(none for config_id 0\)$"):
        get_node_reports(results)


# -- the reports table -------------------------------------------------------------------------


def test_reports_is_a_table_of_one_row_per_config_in_report_field_order() -> None:
    results = two_config_results()

    table = results.reports

    assert isinstance(table, pa.Table)
    assert table.column_names == list(REPORT_FIELDS)
    assert table.column("config_id").to_pylist() == [1, 0]
    assert table.to_pylist() == get_reports(results)


def test_reports_columns_have_their_declared_types_even_when_all_none() -> None:
    schema = two_config_results().reports.schema

    assert schema.field("error").type == pa.string()  # every config finished: all None
    assert schema.field("performance_level").type == pa.int64()  # all None
    assert schema.field("multiprocess").type == pa.bool_()
    assert schema.field("cost_per_1m_inf").type == pa.float64()  # all None
    assert schema.field("latency_ms_p50").type == pa.float64()
    assert all(schema.field(name).type == kind for name, kind in _results.REPORT_TYPES.items() if name in schema.names)
    assert all(field.type == pa.float64() for field in schema if field.name not in _results.REPORT_TYPES)


def test_reports_to_pandas_gives_one_row_per_config() -> None:
    frame = two_config_results().reports.to_pandas()

    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(REPORT_FIELDS)
    assert frame["total_infs"].tolist() == [5, 1]
    assert frame["latency_ms_p50"].tolist() == [approx(10.0), approx(7.0)]


def test_reports_table_of_no_reports_has_every_column_and_no_row() -> None:
    table = reports_table([])

    assert table.num_rows == 0
    assert table.column_names == list(REPORT_FIELDS)
    assert table.schema.field("status").type == pa.string()


def test_reports_table_types_an_undeclared_numeric_report_field_as_float64(monkeypatch) -> None:
    monkeypatch.setattr(_results, "REPORT_FIELDS", ("config_id", "queue_avg_ms"))

    table = reports_table([{"config_id": 0, "queue_avg_ms": 1}, {"config_id": 1, "queue_avg_ms": None}])

    assert table.schema == pa.schema([("config_id", pa.int64()), ("queue_avg_ms", pa.float64())])
    assert table.column("queue_avg_ms").to_pylist() == [1.0, None]


def test_reports_table_infers_a_field_it_does_not_know_and_puts_it_last() -> None:
    table = reports_table([{"config_id": 0, "note": "warm"}, {"config_id": 1}])

    assert table.column_names == [*REPORT_FIELDS, "note"]
    assert table.schema.field("note").type == pa.string()
    assert table.column("note").to_pylist() == ["warm", None]


def test_reports_survive_the_parquet_round_trip(tmp_path: Path) -> None:
    results = two_config_results()

    again = read_results(write_results(results, tmp_path / "r.parquet"))

    assert again.reports.equals(results.reports)


# -- run metadata --------------------------------------------------------------------------------


def test_run_metadata_names_python_and_the_start_in_iso_utc() -> None:
    metadata = run_metadata(started_ns=1_700_000_000_123_456_789, n_nodes=1)

    assert metadata["python"] == {
        "version": platform.python_version(), "implementation": platform.python_implementation(),
    }  # fmt: skip
    assert metadata["started_ns"] == 1_700_000_000_123_456_789
    assert metadata["started_at"] == "2023-11-14T22:13:20.123+00:00"
    assert metadata["created_ns"] >= metadata["started_ns"]
    assert metadata["versions"]["raybench"] == raybench.__version__
    assert metadata["versions"]["pyarrow"] == pa.__version__
    assert metadata["n_nodes"] == 1


def test_run_metadata_starts_now_by_default() -> None:
    metadata = run_metadata()

    assert metadata["started_ns"] == metadata["created_ns"]


def test_run_metadata_records_mxnet_when_imported(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mxnet", types.SimpleNamespace(__version__="1.9.1"))

    assert run_metadata()["versions"]["mxnet"] == "1.9.1"


def test_run_metadata_survives_the_parquet_round_trip(tmp_path: Path) -> None:
    results = two_config_results()
    results.metadata = run_metadata(
        started_ns=T0, n_nodes=2, cluster=[{"node_id": "node-a", "resources": {"CPU": 4.0}},
                                           {"node_id": "node-b", "resources": {"CPU": 4.0}}],
    )  # fmt: skip

    again = read_results(write_results(results, tmp_path / "r.parquet"))

    assert again.metadata == results.metadata


def test_benchmark_metadata_has_the_cluster_and_starts_at_the_first_measurement() -> None:
    results = raybench.cpu.benchmark(
        raybench.testing.SimulatedDevice, np.zeros(4), batch_sizes=[1], n_models=[1], workers_per_model=[1, 2],
        duration=0.2, multiprocess=False, return_timers=True, verbosity=0,
    )  # fmt: skip

    assert results.metadata["started_ns"] == results.outcomes[0].start_ns
    assert results.metadata["n_nodes"] == 1
    assert [node["node_id"] for node in results.metadata["cluster"]] == ["local"]
    assert results.metadata["cluster"][0]["resources"]["CPU"] >= 1


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path, monkeypatch) -> Path:
    """A one-commit repository in a temporary folder, made the working directory."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "model.py").write_text("x = 1\n")
    _git(repo, "add", "model.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "model")
    monkeypatch.chdir(repo)
    return repo


def test_run_metadata_records_the_working_directory_commit(git_repo: Path) -> None:
    assert run_metadata()["git"] == {"commit": _git(git_repo, "rev-parse", "HEAD"), "dirty": False}


def test_git_state_is_dirty_when_a_tracked_file_changed_but_not_for_untracked_files(git_repo: Path) -> None:
    (git_repo / "results.parquet").write_bytes(b"untracked")
    assert git_state()["dirty"] is False

    (git_repo / "model.py").write_text("x = 2\n")
    assert git_state()["dirty"] is True


def test_git_state_is_none_outside_a_repository(tmp_path: Path, monkeypatch) -> None:
    # Git must not find a repository in a parent folder of the temporary one.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path)

    assert run_metadata()["git"] is None


def test_git_state_reads_the_commit_without_git_and_leaves_dirty_unknown(git_repo: Path, monkeypatch) -> None:
    commit = _git(git_repo, "rev-parse", "HEAD")
    monkeypatch.setenv("PATH", "")

    assert git_state() == {"commit": commit, "dirty": None}


def test_git_state_reads_a_packed_ref(git_repo: Path) -> None:
    commit = _git(git_repo, "rev-parse", "HEAD")
    branch = _git(git_repo, "symbolic-ref", "HEAD")
    _git(git_repo, "pack-refs", "--all")
    assert not (git_repo / ".git" / branch).exists()
    assert git_state()["commit"] == commit


def test_git_state_never_runs_what_the_repository_configures(git_repo: Path, tmp_path: Path) -> None:
    """A hostile checkout: an fsmonitor hook and a clean filter that would each leave a marker."""
    marker = tmp_path / "ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    hook.chmod(0o755)
    _git(git_repo, "config", "core.fsmonitor", str(hook))
    assert git_state()["dirty"] is False  # fsmonitor is switched off on the command line
    assert not marker.exists()
    _git(git_repo, "config", "filter.evil.clean", str(hook))
    (git_repo / ".gitattributes").write_text("*.py filter=evil\n")
    (git_repo / "model.py").write_text("x = 3\n")
    assert git_state() == {"commit": _git(git_repo, "rev-parse", "HEAD"), "dirty": None}  # git not run
    assert not marker.exists()


# -- opening the file with duckdb --------------------------------------------------------------


def results_with_errors() -> Results:
    """two_config_results with the second and fifth rows (configs 1 and 1) failed."""
    results = two_config_results()
    ok = [True, False, True, True, False, True]
    timers = results.timers.set_column(6, "ok", pa.array(ok))
    return Results(results.configs, results.outcomes, timers, run_metadata(started_ns=T0))


def test_duckdb_counts_each_config_rows_as_its_inferences_plus_errors(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    results = results_with_errors()
    path = write_results(results, tmp_path / "r.parquet")

    counted = duckdb.sql(
        f"select config_id, count(*) as n_rows, count(*) filter (where not ok) as n_errors "
        f"from read_parquet('{path}') group by config_id order by config_id"
    ).fetchall()

    reports = sorted(get_reports(results), key=lambda r: r["config_id"])
    assert counted == [(r["config_id"], r["total_infs"] + r["n_errors"], r["n_errors"]) for r in reports]
    assert counted == [(0, 1, 0), (1, 5, 2)]


def test_duckdb_reads_the_raybench_metadata(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    results = results_with_errors()
    path = write_results(results, tmp_path / "r.parquet")

    ((value,),) = duckdb.sql(
        f"select value from parquet_kv_metadata('{path}') where decode(key) = 'raybench'"
    ).fetchall()

    payload = json.loads(value)
    assert payload["metadata"] == results.metadata
    assert [c["config_id"] for c in payload["configs"]] == [1, 0]


def test_git_state_skips_a_repository_another_user_owns(git_repo: Path) -> None:
    if not hasattr(os, "getuid") or os.getuid() != 0:
        pytest.skip("changing a folder's owner needs root")
    os.chown(git_repo / ".git", 65534, 65534)
    assert git_state() is None


@pytest.mark.integration  # a timed in-process run
def test_the_readme_duckdb_recipe_gives_the_reports_percentiles(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    import numpy as np

    import raybench
    from raybench.testing import SimulatedDevice

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    recipe = next(block for block in readme.split("```sql\n")[1:] if "quantile_cont" in block).split("```")[0]
    results = raybench.cpu.benchmark(SimulatedDevice, np.zeros(1), batch_sizes=1, n_models=[1, 2],
                                     workers_per_model=[1, 2], duration=1, multiprocess=False, return_timers=True,
                                     verbosity=0)
    path = write_results(results, tmp_path / "model.results.parquet")
    rows = duckdb.sql(recipe.replace("results/latest/model.results.parquet", str(path))).fetchall()
    reports = sorted(get_reports(results), key=lambda r: (r["n_models"], r["workers_per_model"]))
    assert [row[:3] for row in rows] == [(r["n_models"], r["workers_per_model"], r["total_infs"]) for r in reports]
    for row, report in zip(rows, reports):
        assert row[3] == pytest.approx(report["latency_ms_p50"], rel=1e-9)
        assert row[4] == pytest.approx(report["latency_ms_p99"], rel=1e-9)
    assert read_results(path).timers.schema.names == results.timers.schema.names  # the config columns left out
