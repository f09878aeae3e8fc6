"""Streaming figures and SLOs on small hand-made tables, checked by hand (no Ray)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import raybench
from raybench.core.errors import ConfigError
from raybench.core.schema import ConfigOutcome, CopyOutcome, RunConfig, timer_schema
from raybench.core.slo import check_slo
from raybench.report.reports import compute_report

MS = 1_000_000
S = 1_000_000_000
T0 = 1_700_000_000 * S


def stream_table(calls: list[tuple[int, list[int]]], *, ok: list[bool] | None = None,
                 tokens: list[list[int]] | None = None) -> pa.Table:
    """Timer rows for calls given as (start ms, [chunk arrival ms...]); each ends at its last
    chunk (or its start, without chunks)."""
    n = len(calls)
    starts = [T0 + s * MS for s, _ in calls]
    chunks = [[T0 + c * MS for c in cs] for _, cs in calls]
    ends = [cs[-1] if cs else s for s, cs in zip(starts, chunks)]
    streams = ("chunk_ns", "chunk_tokens") if tokens is not None else ("chunk_ns",)
    schema = timer_schema((), streams)
    columns = {
        "config_id": pa.array([0] * n, pa.int16()), "copy_id": pa.array([0] * n, pa.int16()),
        "worker_id": pa.array([0] * n, pa.int16()),
        "node_id": pa.array(["n"] * n, pa.string()).dictionary_encode().cast(schema.field("node_id").type),
        "start_ns": pa.array(starts, pa.int64()), "end_ns": pa.array(ends, pa.int64()),
        "ok": pa.array(ok if ok is not None else [True] * n), "chunk_ns": pa.array(chunks, pa.list_(pa.int64())),
    }
    if tokens is not None:
        columns["chunk_tokens"] = pa.array(tokens, pa.list_(pa.int32()))
    return pa.table(columns, schema=schema)


def report_of(table: pa.Table, *, slo: dict | None = None, stop_s: float = 10.0, cost_per_hour: float | None = None,
              copies: tuple[CopyOutcome, ...] = ()) -> dict:
    config = RunConfig(0, "m", "m", "cpu", 1, 0, 1, 1)
    outcome = ConfigOutcome(0, "finished", start_ns=T0, stop_ns=T0 + int(stop_s * S), copies=copies)
    return compute_report(config, outcome, table, slo=check_slo(slo), cost_per_hour=cost_per_hour)


# Three calls: start 0 ms, chunks at 10, 12, 15; start 20, chunks at 50, 51; start 100, one chunk at 105.
THREE = [(0, [10, 12, 15]), (20, [50, 51]), (100, [105])]


def test_ttft_itl_and_tpot_follow_their_definitions_on_a_small_table():
    report = report_of(stream_table(THREE))
    # TTFT: 10, 30, 5 -> p50 10, p99 by linear interpolation between 10 and 30 at 0.98.
    assert report["ttft_ms_p50"] == pytest.approx(10.0)
    assert report["ttft_ms_p99"] == pytest.approx(float(np.percentile([10, 30, 5], 99)))
    # ITL: one sample per gap inside a call: 2, 3 (call 1) and 1 (call 2); never the TTFT.
    assert report["itl_ms_p50"] == pytest.approx(2.0)
    assert report["itl_ms_p99"] == pytest.approx(float(np.percentile([2, 3, 1], 99)))
    # TPOT per request with >= 2 tokens: (15 - 10) / 2 = 2.5 and (51 - 50) / 1 = 1.
    assert report["tpot_ms_p50"] == pytest.approx(1.75)
    assert report["output_tokens_avg"] == pytest.approx(2.0)
    # Latency is still the whole call: 15, 31, 5.
    assert report["latency_ms_p50"] == pytest.approx(15.0)


def test_multi_token_chunks_count_in_tokens_and_tpot_but_itl_stays_per_gap():
    report = report_of(stream_table([(0, [10, 20])], tokens=[[4, 4]]))
    assert report["output_tokens_avg"] == 8
    assert report["itl_ms_p50"] == pytest.approx(10.0)
    assert report["tpot_ms_p50"] == pytest.approx(10 / 7)  # (20 - 10) / (8 - 1)


def test_failed_calls_are_left_out_of_every_stream_figure():
    report = report_of(stream_table([(0, [10, 12]), (0, [1, 2, 3])], ok=[True, False]))
    assert report["ttft_ms_p99"] == pytest.approx(10.0)
    assert report["output_tokens_avg"] == 2


def test_tokens_per_second_buckets_tokens_by_arrival_like_throughput():
    # 10 tokens in each of 5 seconds (a call per 100 ms, one chunk each): the interior mean is 10/s.
    calls = [(int(t), [int(t) + 50]) for t in range(0, 5000, 100)]
    report = report_of(stream_table(calls), stop_s=5)
    assert report["output_tokens_per_s"] == pytest.approx(10.0)
    assert report["throughput_avg"] == pytest.approx(10.0)


def test_cost_per_million_tokens_and_input_tokens():
    calls = [(int(t), [int(t) + 50]) for t in range(0, 5000, 100)]
    report = report_of(stream_table(calls), stop_s=5, cost_per_hour=3.6,
                       copies=(CopyOutcome(0, "n", input_tokens=7), CopyOutcome(1, "n", input_tokens=9)))
    assert report["cost_per_1m_tokens"] == pytest.approx(3.6 * 1e6 / (3600 * 10))
    assert report["input_tokens_avg"] == 8


def test_a_model_that_did_not_stream_has_no_stream_figures():
    table = stream_table(THREE).drop_columns(["chunk_ns"])
    report = report_of(table)
    assert report["ttft_ms_p50"] is None and report["output_tokens_per_s"] is None


# SLOs


def test_a_loose_slo_gives_goodput_equal_to_throughput_and_a_tight_one_zero():
    calls = [(int(t), [int(t) + 40, int(t) + 48]) for t in range(0, 5000, 100)]
    loose = report_of(stream_table(calls), slo={"ttft_ms": 1000, "latency_ms": 1000}, stop_s=5)
    assert loose["goodput"] == loose["throughput_avg"] == pytest.approx(10.0)
    assert loose["slo_met_pct"] == 100
    tight = report_of(stream_table(calls), slo={"ttft_ms": 30}, stop_s=5)
    assert tight["goodput"] == 0
    assert tight["slo_met_pct"] == 0 and tight["slo_ttft_met_pct"] == 0


def test_attainment_per_threshold_and_percentile_constraints():
    report = report_of(stream_table(THREE), slo={"ttft_ms": 12, "tpot_ms": 2, "latency_ms_p50": 20, "itl_ms_p99": 2})
    assert report["slo_ttft_met_pct"] == pytest.approx(200 / 3)  # 10 and 5 meet 12 ms; 30 does not
    # TPOT 2.5 misses, 1 meets, and the one-token call has no TPOT: it meets.
    assert report["slo_tpot_met_pct"] == pytest.approx(200 / 3)
    assert report["slo_met_pct"] == pytest.approx(100 / 3)  # only the third call meets both
    assert report["slo_latency_met_pct"] is None  # no latency threshold given
    assert report["slo_ok"] is False  # p50 latency 15 <= 20, but ITL p99 2.98 > 2


def test_latency_thresholds_work_for_a_model_that_does_not_stream():
    table = stream_table(THREE).drop_columns(["chunk_ns"])
    report = report_of(table, slo={"latency_ms": 20, "ttft_ms": 1})
    assert report["slo_latency_met_pct"] == pytest.approx(200 / 3)
    assert report["slo_ttft_met_pct"] is None  # no TTFT without a stream: left out
    assert report["slo_met_pct"] == pytest.approx(200 / 3)


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        ({}, "slo must be a non-empty dict"),
        ({"latency_ms_p80": 5}, "slo keys must be among latency_ms, ttft_ms, tpot_ms, latency_ms_p0"),
        ({"ttft_ms": 0}, "slo['ttft_ms'] must be a positive number of milliseconds (got 0)"),
        ({"ttft_ms": True}, "slo['ttft_ms'] must be a positive number of milliseconds (got True)"),
        ("latency_ms_p99=5", "slo must be a non-empty dict"),
    ],
)
def test_a_bad_slo_is_refused_with_a_clear_message(slo, message):
    with pytest.raises(ConfigError, match="^" + message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        check_slo(slo)


# compare


def stream_run(ttft_ms: int, seed: int) -> raybench.Results:
    """10 s of calls 100 ms apart: first chunk after ``ttft_ms`` (+ noise), then 4 chunks 5 ms apart."""
    rng = np.random.default_rng(seed)
    calls = []
    for t in range(0, 10_000, 100):
        first = t + ttft_ms + int(rng.integers(0, 3))
        calls.append((t, [first + 5 * k for k in range(5)]))
    config = RunConfig(0, "m", "m", "cpu", 1, 0, 1, 1)
    outcome = ConfigOutcome(0, "finished", start_ns=T0, stop_ns=T0 + 10 * S)
    return raybench.Results([config], [outcome], stream_table(calls), {})


def test_compare_pairs_streaming_figures_and_fail_on_catches_a_ttft_regression():
    from raybench.compare import compare_results, failed_rules, format_comparison, parse_fail_on

    base, slower = stream_run(20, seed=1), stream_run(40, seed=2)
    (row,) = compare_results(base, slower)
    assert row["ttft_p50_base"] == pytest.approx(21, abs=1.5)
    assert row["ttft_p50_change_pct"] == pytest.approx(95, abs=15)
    assert row["ttft_p99_significant"] is True
    assert row["itl_p50_change_pct"] == pytest.approx(0, abs=1e-9)
    assert row["tokens_per_s_change_pct"] == pytest.approx(0, abs=1e-9)
    assert failed_rules([row], parse_fail_on("ttft_p99:10%"))[0].startswith("m (batch_size=1")
    assert failed_rules([row], parse_fail_on("tokens_per_s:-5%,itl_p99:10%")) == []
    assert "TTFT p99 ms" in format_comparison([row]).splitlines()[0]
