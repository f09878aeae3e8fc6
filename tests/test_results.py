"""Tests for raybench._results: per-node rows on hand-made two-node results, and their round trip."""

from __future__ import annotations

import functools
from pathlib import Path

import pyarrow as pa
import pytest

from raybench._config import RunConfig
from raybench._exceptions import ConfigError
from raybench._results import Results, get_node_reports, read_results, write_results
from raybench._schema import ConfigOutcome, CopyOutcome, timer_schema

MS = 1_000_000
T0 = 1_700_000_000 * 1_000_000_000

approx = functools.partial(pytest.approx, rel=1e-9, abs=1e-12)


def make_config(**overrides: object) -> RunConfig:
    values: dict = {
        "config_id": 0, "model_filename": "m.pt", "model_name": "m", "device_type": "neuron",
        "batch_size": 1, "input_index": 0, "n_models": 1, "workers_per_model": 1,
    }  # fmt: skip
    values.update(overrides)
    return RunConfig(**values)


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
        "ok": pa.array([True] * len(starts)),
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

    per_config = {r["config_id"]: r["total_infs"] for r in results.reports}
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
