"""Tests for raybench.report.reports: hand-computed series with exact expected values.

Percentile references use linear interpolation between closest ranks (Hyndman & Fan 1996,
definition 7; numpy's and R's default): for 1..100, p50 = 50.5, p90 = 90.1, p99 = 99.01.
"""

from __future__ import annotations

import dataclasses

import functools
import random

import numpy as np
import pyarrow as pa
import pytest

from raybench.core.schema import RunConfig
from raybench.report.reports import (
    NODE_REPORT_FIELDS,
    REPORT_FIELDS,
    compute_node_reports,
    compute_report,
    compute_reports,
)
from raybench.core.schema import (
    STATUS_ERROR,
    STATUS_FINISHED,
    TIMER_SCHEMA,
    ConfigOutcome,
    CopyOutcome,
)
from raybench.report.stats import linear_percentiles as _linear_percentiles

MS = 1_000_000
S = 1_000_000_000
T0 = 1_700_000_000 * S  # 2023-11-14T22:13:20Z

approx = functools.partial(pytest.approx, rel=1e-9, abs=1e-12)


def make_timers(
    start_ns: list[int],
    end_ns: list[int],
    *,
    ok: bool | list[bool] = True,
    config_id: int | list[int] = 0,
    copy_id: int | list[int] = 0,
    worker_id: int | list[int] = 0,
    node_id: str | list[str] = "node-a",
    queue_ns: int | None | list[int | None] = None,
    input_ns: int | None | list[int | None] = None,
    preprocess_ns: int | None | list[int | None] = None,
    infer_ns: int | None | list[int | None] = None,
    postprocess_ns: int | None | list[int | None] = None,
    chunk_size: int | None = None,
) -> pa.Table:
    """A TIMER_SCHEMA table from Python lists; scalars are repeated for every row."""
    n = len(start_ns)

    def column(value: object) -> list:
        return list(value) if isinstance(value, list) else [value] * n

    nodes = pa.array(column(node_id), pa.string()).dictionary_encode()
    arrays = [
        pa.array(column(config_id), pa.int32()),
        pa.array(column(copy_id), pa.int32()),
        pa.array(column(worker_id), pa.int32()),
        nodes,
        pa.array(start_ns, pa.int64()),
        pa.array(end_ns, pa.int64()),
        pa.array(column(queue_ns), pa.int64()),
        pa.array(column(input_ns), pa.int64()),
        pa.array(column(preprocess_ns), pa.int64()),
        pa.array(column(infer_ns), pa.int64()),
        pa.array(column(postprocess_ns), pa.int64()),
        pa.array(column(ok), pa.bool_()),
    ]
    table = pa.Table.from_arrays(arrays, schema=TIMER_SCHEMA)
    if chunk_size is not None:
        table = pa.Table.from_batches(table.to_batches(max_chunksize=chunk_size), TIMER_SCHEMA)
    return table


def from_latencies_ms(latencies_ms: list[float], **kwargs: object) -> pa.Table:
    """One row per latency, each starting 1 ms after the previous one started."""
    starts = [T0 + i * MS for i in range(len(latencies_ms))]
    ends = [start + round(latency * MS) for start, latency in zip(starts, latencies_ms)]
    return make_timers(starts, ends, **kwargs)


def make_config(**overrides: object) -> RunConfig:
    values: dict = {
        "config_id": 0,
        "model_filename": "models/resnet_b1.pt",
        "model_name": "resnet",
        "device_type": "cpu",
        "batch_size": 1,
        "input_index": 0,
        "n_models": 1,
        "workers_per_model": 1,
    }
    values.update(overrides)
    return RunConfig.from_dict(values)


def make_outcome(**overrides: object) -> ConfigOutcome:
    values: dict = {"config_id": 0, "status": STATUS_FINISHED}
    values.update(overrides)
    return ConfigOutcome(**values)


def report_for(timers: pa.Table, **kwargs: object) -> dict[str, object]:
    config = kwargs.pop("config", make_config())
    outcome = kwargs.pop("outcome", make_outcome())
    return compute_report(config, outcome, timers, **kwargs)


def latency_percentiles(report: dict[str, object]) -> list[object]:
    return [report[f"latency_ms_p{q}"] for q in (0, 50, 90, 95, 99, 100)]


# --- fields and config columns ------------------------------------------------------------------

EXPECTED_FIELDS = (
    "config_id", "model_filename", "model_name", "device_type", "instance_type", "batch_size",
    "n_models", "workers_per_model", "pipeline_size", "n_devices", "cpus_per_copy", "performance_level", "cast_mode",
    "multiprocess", "multiinterpreter", "start_dts", "stop_dts", "duration", "status", "error",
    "n_errors", "n_nodes", "arrival", "target_rate", "converged", "dataset_exhausted", "search", "search_id", "probe",
    "load_avg_ms", "warmup_avg_ms", "warmup_infs", "warmup_s", "env_setup_avg_ms", "setup_avg_ms",
    "queue_avg_ms", "input_avg_ms", "preprocess_avg_ms", "infer_avg_ms", "postprocess_avg_ms",
    "e2e_avg_ms", "worker_avg_s",
    "total_infs", "total_s",
    "cpu_avg_percent", "cpu_percent_p0", "cpu_percent_p50", "cpu_percent_p90", "cpu_percent_p95",
    "cpu_percent_p99", "cpu_percent_p100",
    "mem_avg_percent", "mem_percent_p0", "mem_percent_p50", "mem_percent_p90", "mem_percent_p95",
    "mem_percent_p99", "mem_percent_p100",
    "copy_cpu_avg_percent", "copy_rss_max_mb", "host_saturated",
    "neuroncore_util_avg", "device_latency_ms_p50", "device_latency_ms_p99", "gpu_util_avg", "gpu_mem_max_mb",
    "energy_j_per_1k_inf",
    "latency_ms_p0", "latency_ms_p50", "latency_ms_p75", "latency_ms_p90", "latency_ms_p95", "latency_ms_p99",
    "latency_ms_p99_9", "latency_ms_p100",
    "throughput_avg", "throughput_peak", "cost_per_1m_inf",
    "delayed_pct", "dropped", "queue_depth_max", "rate_met",
    "ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p95", "ttft_ms_p99", "itl_ms_p50", "itl_ms_p90", "itl_ms_p95",
    "itl_ms_p99", "tpot_ms_p50", "tpot_ms_p90", "tpot_ms_p99", "output_tokens_avg", "output_tokens_per_s",
    "input_tokens_avg", "cost_per_1m_tokens",
    "goodput", "slo_met_pct", "slo_latency_met_pct", "slo_ttft_met_pct", "slo_tpot_met_pct", "slo_ok", "slo_decided",
)  # fmt: skip


def fields_from(first: str, count: int | None = None) -> tuple[str, ...]:
    """``count`` report fields starting at ``first`` (all the rest without ``count``)."""
    start = EXPECTED_FIELDS.index(first)
    return EXPECTED_FIELDS[start : None if count is None else start + count]


def test_report_fields_are_declared_in_order() -> None:
    assert REPORT_FIELDS == EXPECTED_FIELDS


def test_report_keys_follow_report_fields() -> None:
    report = report_for(from_latencies_ms([1.0, 2.0]))

    assert tuple(report) == EXPECTED_FIELDS


def test_config_columns_come_from_config_and_outcome() -> None:
    config = make_config(
        config_id=3, batch_size=4, n_models=3, workers_per_model=2, pipeline_size=2,
        performance_level=1, duration_s=12.5, multiprocess=False, multiinterpreter=True,
    )  # fmt: skip
    outcome = make_outcome(
        config_id=3, status=STATUS_ERROR, instance_type="inf1.6xlarge",
        start_ns=T0 + 123_456_789, stop_ns=T0 + 12 * S + 999_999_999,
    )  # fmt: skip

    report = report_for(from_latencies_ms([1.0], config_id=3), config=config, outcome=outcome)

    assert {key: report[key] for key in EXPECTED_FIELDS[:19]} == {
        "config_id": 3,
        "model_filename": "models/resnet_b1.pt",
        "model_name": "resnet",
        "device_type": "cpu",
        "instance_type": "inf1.6xlarge",
        "batch_size": 4,
        "n_models": 3,
        "workers_per_model": 2,
        "pipeline_size": 2,
        "n_devices": 6,
        "cpus_per_copy": None,
        "performance_level": 1,
        "cast_mode": None,
        "multiprocess": False,
        "multiinterpreter": True,
        # Truncated, not rounded, to the millisecond.
        "start_dts": "2023-11-14T22:13:20.123+00:00",
        "stop_dts": "2023-11-14T22:13:32.999+00:00",
        "duration": 12.5,
        "status": "error",
    }


def test_unknown_start_and_stop_give_none_timestamps() -> None:
    report = report_for(from_latencies_ms([1.0]))

    assert (report["start_dts"], report["stop_dts"]) == (None, None)


def test_error_is_the_outcome_error_first() -> None:
    copies = (CopyOutcome(0, "n", error="copy boom"),)
    outcome = make_outcome(status=STATUS_ERROR, error="timed out", copies=copies)

    assert report_for(from_latencies_ms([1.0]), outcome=outcome)["error"] == "timed out"


def test_error_falls_back_to_the_first_copy_error() -> None:
    copies = (
        CopyOutcome(0, "n"),
        CopyOutcome(1, "n", error="copy 1 boom"),
        CopyOutcome(2, "n", error="copy 2 boom"),
    )

    report = report_for(from_latencies_ms([1.0]), outcome=make_outcome(copies=copies))

    assert report["error"] == "copy 1 boom"


def test_error_is_none_without_errors() -> None:
    outcome = make_outcome(copies=(CopyOutcome(0, "n"),))

    assert report_for(from_latencies_ms([1.0]), outcome=outcome)["error"] is None


def test_n_nodes_counts_distinct_copy_nodes() -> None:
    copies = (CopyOutcome(0, "a"), CopyOutcome(1, "b"), CopyOutcome(2, "a"))
    # The timer rows name a third node; the copies take precedence.
    timers = from_latencies_ms([1.0], node_id="c")

    assert report_for(timers, outcome=make_outcome(copies=copies))["n_nodes"] == 2


def test_n_nodes_falls_back_to_timer_rows_across_chunks() -> None:
    # Two chunks with different dictionaries: ["a", "b"] and ["b", "c"].
    timers = from_latencies_ms([1.0] * 4, node_id=["a", "b", "b", "c"], chunk_size=2)

    assert report_for(timers)["n_nodes"] == 3


# --- latency percentiles ------------------------------------------------------------------------


def test_single_row_gives_that_latency_for_every_percentile() -> None:
    report = report_for(from_latencies_ms([2.5]))

    assert latency_percentiles(report) == [approx(2.5)] * 6
    assert (report["e2e_avg_ms"], report["total_infs"]) == (approx(2.5), 1)


def test_two_rows_interpolate_linearly() -> None:
    # Virtual index q/100 * (n - 1) = q/100, so p = 1 + 2 * q/100 ms.
    report = report_for(from_latencies_ms([3.0, 1.0]))

    assert latency_percentiles(report) == [
        approx(1.0), approx(2.0), approx(2.8), approx(2.9), approx(2.98), approx(3.0),
    ]  # fmt: skip


def test_one_to_hundred_ms_matches_reference_percentiles() -> None:
    latencies = [float(ms) for ms in range(1, 101)]
    random.Random(7).shuffle(latencies)

    report = report_for(from_latencies_ms(latencies, chunk_size=13))

    assert latency_percentiles(report) == [
        approx(1.0), approx(50.5), approx(90.1), approx(95.05), approx(99.01), approx(100.0),
    ]  # fmt: skip
    assert report["e2e_avg_ms"] == approx(50.5)


def test_percentiles_pool_all_copies_rather_than_averaging_them() -> None:
    # Pooled: [1, 2, 3, 10, ..., 70] -> p50 = 25, p90 = 61. Averaging per-copy p50s would give 21.
    latencies = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    copy_id = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]

    report = report_for(from_latencies_ms(latencies, copy_id=copy_id))

    assert (report["latency_ms_p50"], report["latency_ms_p90"]) == (approx(25.0), approx(61.0))


def test_error_rows_are_left_out_of_latency_but_counted() -> None:
    timers = from_latencies_ms(
        [100.0, 1.0, 2.0, 200.0, 3.0],
        ok=[False, True, True, False, True],
        infer_ns=[50 * MS, MS // 2, MS, 50 * MS, 3 * MS // 2],
    )

    report = report_for(timers)

    assert (report["n_errors"], report["total_infs"]) == (2, 3)
    assert latency_percentiles(report) == [
        approx(1.0), approx(2.0), approx(2.8), approx(2.9), approx(2.98), approx(3.0),
    ]  # fmt: skip
    assert (report["e2e_avg_ms"], report["infer_avg_ms"]) == (approx(2.0), approx(1.0))


def test_report_does_not_change_the_timer_table() -> None:
    latencies = [5.0, 1.0, 4.0, 2.0, 3.0]
    timers = from_latencies_ms(latencies)
    before = timers.to_pydict()

    report_for(timers)

    assert timers.to_pydict() == before


# --- stage, copy and worker averages ------------------------------------------------------------


def test_stage_means_use_ok_rows_with_values() -> None:
    timers = from_latencies_ms(
        [10.0, 10.0, 10.0, 10.0],
        ok=[True, True, True, False],
        input_ns=[1 * MS, 3 * MS, None, 100 * MS],
        infer_ns=[2 * MS, 4 * MS, 6 * MS, 100 * MS],
        postprocess_ns=[None, None, None, 100 * MS],
    )

    report = report_for(timers)

    assert (report["input_avg_ms"], report["infer_avg_ms"]) == (approx(2.0), approx(4.0))
    assert (report["preprocess_avg_ms"], report["postprocess_avg_ms"]) == (None, None)


def test_infer_mean_falls_back_to_e2e_without_infer_column() -> None:
    report = report_for(from_latencies_ms([5.0, 7.0], input_ns=MS))

    assert (report["infer_avg_ms"], report["e2e_avg_ms"]) == (approx(6.0), approx(6.0))


def test_copy_stage_means_pool_the_known_values() -> None:
    copies = (
        CopyOutcome(0, "n", load_ns=1 * MS, warmup_infs=3, warmup_sum_ns=6 * MS, warmup_wall_ns=4 * MS,
                    setup_ns=5 * MS),
        CopyOutcome(1, "n", load_ns=None, warmup_infs=1, warmup_sum_ns=6 * MS, warmup_wall_ns=7 * MS),
        CopyOutcome(2, "n", load_ns=3 * MS),
    )

    report = report_for(from_latencies_ms([1.0]), outcome=make_outcome(copies=copies))

    # Warmup pooled: (1 + 2 + 3 + 6) / 4 = 3; a mean of per-copy means would give 4. Its wall
    # time is the slowest copy's.
    fields = ("load_avg_ms", "warmup_avg_ms", "warmup_infs", "warmup_s", "env_setup_avg_ms", "setup_avg_ms")
    assert [report[key] for key in fields] == [approx(2.0), approx(3.0), 4, approx(0.007), None, approx(5.0)]


def test_worker_avg_s_groups_by_copy_and_worker() -> None:
    # Spans: copy 0 worker 0 = 3 s, copy 0 worker 1 = 1 s, copy 1 worker 0 = 2 s -> mean 2 s.
    # Grouping by worker_id alone would give (7 + 1) / 2 = 4 s.
    starts = [T0 + 1 * S, T0 + 5 * S, T0 + S // 2, T0]
    ends = [T0 + 3 * S, T0 + 7 * S, T0 + 3 * S // 2, T0 + 1 * S]

    timers = make_timers(starts, ends, copy_id=[0, 1, 0, 0], worker_id=[0, 0, 1, 0], chunk_size=2)

    assert report_for(timers)["worker_avg_s"] == approx(2.0)


# --- totals and throughput ----------------------------------------------------------------------


def bucketed(counts: list[int], origin: int = T0) -> tuple[list[int], list[int]]:
    """Starts/ends with counts[k] rows ending in the k-th second after origin."""
    ends = [
        origin + k * S + 100 * MS + i * 1000 for k, count in enumerate(counts) for i in range(count)
    ]
    return [end - MS for end in ends], ends


def test_throughput_avg_excludes_first_and_last_bucket() -> None:
    starts, ends = bucketed([5, 10, 20, 30, 50])
    outcome = make_outcome(start_ns=T0, stop_ns=T0 + 5 * S)
    config = make_config(batch_size=2)

    report = report_for(make_timers(starts, ends), config=config, outcome=outcome)

    # mean(10, 20, 30) * 2; including the ends would give 23 * 2.
    assert report["throughput_avg"] == approx(40.0)


def test_throughput_peak_uses_complete_buckets_only() -> None:
    # Measuring stops at 4.5 s, so bucket 4 (50 rows) is incomplete; the peak is bucket 3.
    starts, ends = bucketed([5, 10, 20, 30, 50])
    outcome = make_outcome(start_ns=T0, stop_ns=T0 + 4 * S + S // 2)
    config = make_config(batch_size=2)

    report = report_for(make_timers(starts, ends), config=config, outcome=outcome)

    assert (report["throughput_avg"], report["throughput_peak"]) == (approx(40.0), approx(60.0))


def test_throughput_peak_is_never_below_average() -> None:
    # Only buckets 0 and 1 are complete (max 10) while the average is mean(10, 40) = 25.
    starts, ends = bucketed([5, 10, 40, 40])
    outcome = make_outcome(start_ns=T0, stop_ns=T0 + 2 * S)

    report = report_for(make_timers(starts, ends), outcome=outcome)

    assert (report["throughput_avg"], report["throughput_peak"]) == (approx(25.0), approx(25.0))


def test_short_run_throughput_is_total_over_time() -> None:
    # Two buckets [1, 3]: too few to drop the ends, so 4 infs * 7 / 1.4 s = 20/s.
    starts = [T0 + S // 10] * 4
    ends = [T0 + 5 * S // 10, T0 + 12 * S // 10, T0 + 13 * S // 10, T0 + 15 * S // 10]
    outcome = make_outcome(start_ns=T0, stop_ns=T0 + 2 * S)
    config = make_config(batch_size=7)

    report = report_for(make_timers(starts, ends), config=config, outcome=outcome)

    assert (report["total_infs"], report["total_s"]) == (4, approx(1.4))
    assert (report["throughput_avg"], report["throughput_peak"]) == (approx(20.0), approx(21.0))


def test_throughput_peak_equals_average_without_a_complete_bucket() -> None:
    report = report_for(from_latencies_ms([2.5]), config=make_config(batch_size=2))

    assert (report["throughput_avg"], report["throughput_peak"]) == (approx(800.0), approx(800.0))


def test_throughput_origin_defaults_to_first_start() -> None:
    # From the first start: buckets [1, 2, 1, 1] -> avg mean(2, 1) = 1.5. Counting from the first
    # end instead would give [3, 1, 1] -> 1.0.
    first = T0 + 123 * MS
    offsets = [9 * S // 10, 11 * S // 10, 11 * S // 10, 205 * S // 100, 35 * S // 10]
    ends = [first + offset for offset in offsets]
    starts = [first] + [end - MS for end in ends[1:]]

    report = report_for(make_timers(starts, ends))

    assert report["throughput_avg"] == approx(1.5)
    # The measurement ends at the last end (3.5 s), so buckets 0..2 are complete: peak 2.
    assert report["throughput_peak"] == approx(2.0)


def test_error_rows_do_not_count_towards_throughput() -> None:
    starts, ends = bucketed([1, 4, 4, 1])
    ok = [True] * 5 + [False] * 3 + [True] * 2
    outcome = make_outcome(start_ns=T0, stop_ns=T0 + 4 * S)

    report = report_for(make_timers(starts, ends, ok=ok), outcome=outcome)

    # Buckets of ok rows: [1, 4, 1, 1] -> avg mean(4, 1) = 2.5, peak 4.
    assert (report["throughput_avg"], report["throughput_peak"]) == (approx(2.5), approx(4.0))


def test_rows_ending_before_the_start_count_in_the_first_bucket() -> None:
    # Clock skew between nodes: 4 rows end 0.2 s before the common start -> buckets [5, 3, 1].
    ends = [T0 - S // 5] * 4 + [T0 + S // 2] + [T0 + 3 * S // 2] * 3 + [T0 + 5 * S // 2]
    starts = [end - MS for end in ends]
    outcome = make_outcome(start_ns=T0, stop_ns=T0 + 3 * S)

    report = report_for(make_timers(starts, ends), outcome=outcome)

    assert (report["throughput_avg"], report["throughput_peak"]) == (approx(3.0), approx(5.0))


def test_total_s_spans_all_rows_including_errors() -> None:
    timers = make_timers([T0, T0 + S], [T0 + S // 2, T0 + 3 * S], ok=[True, False])

    report = report_for(timers)

    assert (report["total_s"], report["total_infs"], report["n_errors"]) == (approx(3.0), 1, 1)


# --- system samples and cost --------------------------------------------------------------------


def test_system_percentiles_pool_all_copy_samples() -> None:
    copies = (
        CopyOutcome(0, "n", cpu_percent=(10.0, 20.0)),
        CopyOutcome(1, "n", cpu_percent=(50.0, 30.0, 40.0)),
    )

    report = report_for(from_latencies_ms([1.0]), outcome=make_outcome(copies=copies))

    assert [report[key] for key in fields_from("cpu_avg_percent", 7)] == [
        approx(30.0), approx(10.0), approx(30.0), approx(46.0), approx(48.0), approx(49.6),
        approx(50.0),
    ]  # fmt: skip
    assert [report[key] for key in fields_from("mem_avg_percent", 7)] == [None] * 7


def test_cost_per_million_inferences() -> None:
    # 3.6 per hour at 20 inf/s: 3.6 * 1e6 / (3600 * 20) = 50.
    starts = [T0 + S // 10] * 4
    ends = [T0 + 5 * S // 10, T0 + 12 * S // 10, T0 + 13 * S // 10, T0 + 15 * S // 10]
    outcome = make_outcome(start_ns=T0, stop_ns=T0 + 2 * S)

    report = report_for(
        make_timers(starts, ends), config=make_config(batch_size=7), outcome=outcome,
        cost_per_hour=3.6,
    )  # fmt: skip

    assert report["cost_per_1m_inf"] == approx(50.0)


def test_cost_is_none_without_price() -> None:
    assert report_for(from_latencies_ms([1.0]))["cost_per_1m_inf"] is None


# --- empty and degenerate tables ----------------------------------------------------------------


@pytest.mark.parametrize("timers", [TIMER_SCHEMA.empty_table(), from_latencies_ms([])])
def test_empty_table_gives_none_metrics(timers: pa.Table) -> None:
    report = report_for(timers, cost_per_hour=1.0)

    assert (report["total_infs"], report["n_errors"], report["n_nodes"]) == (0, 0, 0)
    metrics = [key for key in fields_from("load_avg_ms") if key != "total_infs"]
    assert {key: report[key] for key in metrics} == dict.fromkeys(metrics)


def test_only_error_rows_give_none_latency_and_throughput() -> None:
    report = report_for(from_latencies_ms([1.0, 2.0], ok=False), cost_per_hour=1.0)

    assert (report["total_infs"], report["n_errors"]) == (0, 2)
    assert latency_percentiles(report) == [None] * 6
    assert [report[key] for key in fields_from("throughput_avg", 3)] == [None, None, None]


def test_numbers_are_plain_python_values() -> None:
    copies = (CopyOutcome(0, "n", load_ns=MS, cpu_percent=(1.0,), mem_percent=(2.0,)),)
    starts, ends = bucketed([3, 4, 5, 6])
    outcome = make_outcome(start_ns=T0, stop_ns=T0 + 4 * S, copies=copies)

    report = report_for(
        make_timers(starts, ends, infer_ns=MS, chunk_size=5), outcome=outcome, cost_per_hour=1.0
    )

    assert {type(value) for value in report.values()} <= {int, float, str, bool, type(None)}
    assert all(value is not None for key, value in report.items() if key.startswith("latency"))


def test_chunking_does_not_change_the_report() -> None:
    latencies = [float(ms) for ms in range(1, 41)]
    copy_id = [i % 3 for i in range(40)]
    whole = report_for(from_latencies_ms(latencies, infer_ns=MS, copy_id=copy_id))

    chunked = report_for(from_latencies_ms(latencies, infer_ns=MS, copy_id=copy_id, chunk_size=7))

    assert chunked == whole


# --- compute_reports ----------------------------------------------------------------------------


def test_compute_reports_selects_rows_by_config_id() -> None:
    timers = from_latencies_ms([1.0, 10.0, 3.0, 20.0, 30.0], config_id=[0, 1, 0, 1, 1])
    configs = [make_config(config_id=1), make_config(config_id=0), make_config(config_id=2)]
    outcomes = [make_outcome(config_id=cid) for cid in (2, 0, 1)]

    reports = compute_reports(configs, outcomes, timers)

    assert [(r["config_id"], r["total_infs"], r["latency_ms_p50"]) for r in reports] == [
        (1, 3, approx(20.0)), (0, 2, approx(2.0)), (2, 0, None),
    ]  # fmt: skip


def test_compute_reports_uses_a_single_config_table_whole() -> None:
    timers = from_latencies_ms([1.0, 3.0], config_id=4)
    configs = [make_config(config_id=4), make_config(config_id=5)]
    outcomes = [make_outcome(config_id=4), make_outcome(config_id=5)]

    reports = compute_reports(configs, outcomes, timers, cost_per_hour=1.0)

    assert [(r["total_infs"], r["e2e_avg_ms"]) for r in reports] == [(2, approx(2.0)), (0, None)]


def test_compute_reports_on_an_empty_table() -> None:
    configs = [make_config(config_id=0), make_config(config_id=1)]
    outcomes = [make_outcome(config_id=0), make_outcome(config_id=1)]

    reports = compute_reports(configs, outcomes, TIMER_SCHEMA.empty_table())

    assert [(r["config_id"], r["total_infs"], r["latency_ms_p50"]) for r in reports] == [
        (0, 0, None), (1, 0, None),
    ]  # fmt: skip


def test_compute_reports_requires_an_outcome_per_config() -> None:
    configs = [make_config(config_id=0), make_config(config_id=1)]

    with pytest.raises(ValueError) as info:
        compute_reports(configs, [make_outcome(config_id=0)], from_latencies_ms([1.0]))

    assert str(info.value) == (
        "outcomes must include one for every config (none for config_id 1)"
    )


def test_compute_reports_passes_cost_per_hour() -> None:
    starts = [T0 + S // 10] * 4
    ends = [T0 + 5 * S // 10, T0 + 12 * S // 10, T0 + 13 * S // 10, T0 + 15 * S // 10]
    timers = make_timers(starts, ends)
    outcome = make_outcome(start_ns=T0, stop_ns=T0 + 2 * S)

    (report,) = compute_reports([make_config(batch_size=7)], [outcome], timers, cost_per_hour=3.6)

    assert report["cost_per_1m_inf"] == approx(50.0)


def test_latency_is_identical_to_numpy_on_a_random_series() -> None:
    rng = np.random.default_rng(3)
    latency_ns = rng.integers(100_000, 5_000_000, 1001)
    starts = T0 + np.arange(1001, dtype=np.int64) * 1000
    ends = starts + latency_ns

    report = report_for(make_timers(starts.tolist(), ends.tolist(), chunk_size=100))

    expected = np.percentile(latency_ns, [0, 50, 90, 95, 99, 100]) / MS
    assert latency_percentiles(report) == expected.tolist()


# --- percentile selection -----------------------------------------------------------------------

PERCENTS = [0, 0.1, 1, 10, 25, 33.3, 50, 66.7, 75, 90, 95, 99, 99.9, 100]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 10, 11, 99, 100, 101, 1000])
def test_linear_percentiles_equal_numpy_bit_for_bit_on_ints(n: int) -> None:
    # Few distinct values, so ranks land on runs of duplicates too.
    values = np.random.default_rng(n).integers(0, max(n // 3, 2), n) * 1_000_003

    result = _linear_percentiles(values.copy(), PERCENTS)

    assert result == np.percentile(values, PERCENTS).tolist()


@pytest.mark.parametrize("n", [1, 2, 7, 500])
def test_linear_percentiles_equal_numpy_bit_for_bit_on_floats(n: int) -> None:
    values = np.random.default_rng(n).lognormal(0.0, 1.0, n)

    result = _linear_percentiles(values.copy(), PERCENTS)

    assert result == np.percentile(values, PERCENTS).tolist()


def test_linear_percentiles_interpolate_from_the_upper_end_at_one_half() -> None:
    # numpy computes gamma >= 0.5 as high - diff * (1 - gamma); from the lower end this pair
    # would give 2.7428904110356314 instead.
    values = np.array([0.49543508709194095, 4.990345734979322])

    assert _linear_percentiles(values, [50]) == [2.742890411035632]


def test_linear_percentiles_select_in_place() -> None:
    values = np.array([9, 3, 7, 1, 5, 8, 2, 6, 4, 0])

    _linear_percentiles(values, [50])

    # Ranks 4 and 5 (the two sides of the interpolation) are placed; smaller values precede.
    assert sorted(values[:4].tolist()) == [0, 1, 2, 3]
    assert values[4:6].tolist() == [4, 5]


# --- compute_node_reports -----------------------------------------------------------------------

TWO_NODE_COPIES = (CopyOutcome(0, "node-b"), CopyOutcome(1, "node-a"), CopyOutcome(2, "node-b"))


def two_node_timers(**kwargs: object) -> pa.Table:
    """node-a (copy 1): 10, 20 ms; node-b (copies 0 and 2): 1..5 ms, rows interleaved."""
    return from_latencies_ms(
        [1.0, 10.0, 2.0, 3.0, 20.0, 4.0, 5.0],
        copy_id=[0, 1, 0, 2, 1, 2, 2],
        node_id=["node-b", "node-a", "node-b", "node-b", "node-a", "node-b", "node-b"],
        **kwargs,
    )


def test_node_report_keys_follow_node_report_fields() -> None:
    rows = compute_node_reports(make_config(), make_outcome(copies=TWO_NODE_COPIES), two_node_timers())

    assert NODE_REPORT_FIELDS == (
        "config_id", "node_id", "n_copies", "total_infs", "n_errors", "throughput_avg",
        "throughput_peak", "latency_ms_p50", "latency_ms_p99", "e2e_avg_ms",
        "cpu_avg_percent", "copy_cpu_avg_percent", "copy_rss_max_mb", "host_saturated", "neuroncore_util_avg",
        "gpu_util_avg",
    )  # fmt: skip
    assert [tuple(row) for row in rows] == [NODE_REPORT_FIELDS] * 2


def test_each_nodes_row_holds_its_own_utilisation() -> None:
    copies = tuple(dataclasses.replace(c, cpu_percent=cpu, copy_cpu_avg_percent=own, host_cpus=2, copy_rss_max_mb=rss)
                   for c, cpu, own, rss in zip(TWO_NODE_COPIES, [(40.0,), (95.0, 97.0), (50.0,)], [60.0, 20.0, 80.0],
                                               [200.0, 100.0, 300.0]))  # copies 0 and 2 on node-b, 1 on node-a
    rows = compute_node_reports(make_config(), make_outcome(copies=copies), two_node_timers())
    by_node = {r["node_id"]: r for r in rows}
    # node-a: host at 96 % while its one copy used 20 % of one of 2 CPUs: saturated by something else.
    assert (by_node["node-a"]["cpu_avg_percent"], by_node["node-a"]["host_saturated"]) == (approx(96.0), True)
    assert (by_node["node-b"]["cpu_avg_percent"], by_node["node-b"]["host_saturated"]) == (approx(45.0), False)
    assert by_node["node-b"]["copy_cpu_avg_percent"] == approx(70.0) and by_node["node-b"]["copy_rss_max_mb"] == 300.0
    # Copies sharing one process (in-process copies) count its CPU once: one process at 100 % of a
    # core is half of 2 CPUs, so a 95 % host had something else running. Counted per copy (files
    # from before pids were recorded) it would look like the copies' own load.
    shared = tuple(dataclasses.replace(c, node_id="node-a", cpu_percent=(95.0,), copy_cpu_avg_percent=100.0,
                                       host_cpus=2, pid=4242) for c in TWO_NODE_COPIES[:2])
    rows = compute_node_reports(make_config(), make_outcome(copies=shared), two_node_timers())
    assert {r["node_id"]: r["host_saturated"] for r in rows}["node-a"] is True
    alone = tuple(dataclasses.replace(c, pid=None) for c in shared)
    rows = compute_node_reports(make_config(), make_outcome(copies=alone), two_node_timers())
    assert {r["node_id"]: r["host_saturated"] for r in rows}["node-a"] is False


def test_node_reports_split_latency_by_node() -> None:
    config = make_config(config_id=3)
    outcome = make_outcome(config_id=3, copies=TWO_NODE_COPIES)

    rows = compute_node_reports(config, outcome, two_node_timers(config_id=3))

    # node-a: p50 of (10, 20) = 15, p99 = 10 + 0.99 * 10 = 19.9; node-b: p50 of 1..5 = 3,
    # p99 = 4 + 0.96 * 1 = 4.96 (rank 0.99 * 4 = 3.96). Pooled, p50 would be 4 for both.
    assert [
        (r["config_id"], r["node_id"], r["n_copies"], r["total_infs"], r["n_errors"],
         r["latency_ms_p50"], r["latency_ms_p99"], r["e2e_avg_ms"])
        for r in rows
    ] == [
        (3, "node-a", 1, 2, 0, approx(15.0), approx(19.9), approx(15.0)),
        (3, "node-b", 2, 5, 0, approx(3.0), approx(4.96), approx(3.0)),
    ]  # fmt: skip


def test_node_totals_add_up_to_the_config_report() -> None:
    outcome = make_outcome(copies=TWO_NODE_COPIES)
    timers = two_node_timers(ok=[True, True, False, True, False, True, True])

    rows = compute_node_reports(make_config(), outcome, timers)
    report = compute_report(make_config(), outcome, timers)

    assert [(r["total_infs"], r["n_errors"]) for r in rows] == [(1, 1), (4, 1)]
    assert sum(r["total_infs"] for r in rows) == report["total_infs"] == 5
    assert sum(r["n_errors"] for r in rows) == report["n_errors"] == 2


def test_node_throughput_counts_buckets_from_the_config_start() -> None:
    # Rows ending in seconds 0..4: node-a [5, 10, 20, 30, 50], node-b [0, 2, 3, 4, 5]. node-b's
    # first row starts 1.099 s in; buckets counted from there would be [2, 3, 4, 5], avg 3.5 * 2.
    a_starts, a_ends = bucketed([5, 10, 20, 30, 50])
    b_starts, b_ends = bucketed([0, 2, 3, 4, 5])
    nodes = ["node-a"] * len(a_ends) + ["node-b"] * len(b_ends)
    copies = (CopyOutcome(0, "node-a"), CopyOutcome(1, "node-b"))
    outcome = make_outcome(start_ns=T0, stop_ns=T0 + 5 * S, copies=copies)
    timers = make_timers(
        a_starts + b_starts, a_ends + b_ends, node_id=nodes, copy_id=[0] * 115 + [1] * 14
    )

    rows = compute_node_reports(make_config(batch_size=2), outcome, timers)
    report = compute_report(make_config(batch_size=2), outcome, timers)

    # node-a: mean(10, 20, 30) * 2 = 40, peak 50 * 2 (all 5 buckets complete); node-b:
    # mean(2, 3, 4) * 2 = 6, peak 5 * 2. The config's average is the sum of the nodes'.
    assert [(r["throughput_avg"], r["throughput_peak"]) for r in rows] == [
        (approx(40.0), approx(100.0)), (approx(6.0), approx(10.0)),
    ]  # fmt: skip
    assert report["throughput_avg"] == approx(46.0)


def test_node_without_rows_reports_its_copies_and_no_metrics() -> None:
    copies = (CopyOutcome(0, "node-a"), CopyOutcome(1, "node-dead", error="died"))

    rows = compute_node_reports(make_config(), make_outcome(copies=copies), from_latencies_ms([2.0]))

    assert [(r["node_id"], r["n_copies"], r["total_infs"], r["latency_ms_p50"]) for r in rows] == [
        ("node-a", 1, 1, approx(2.0)), ("node-dead", 1, 0, None),
    ]  # fmt: skip
    assert (rows[1]["throughput_avg"], rows[1]["e2e_avg_ms"]) == (None, None)


def test_node_reports_fall_back_to_timer_nodes_across_chunks() -> None:
    # No copy outcomes: nodes and copy counts come from the rows; the two chunks carry different
    # dictionaries (["a", "b"] and ["b", "c"]).
    timers = from_latencies_ms(
        [1.0, 2.0, 3.0, 4.0], node_id=["a", "b", "b", "c"], copy_id=[0, 1, 2, 3], chunk_size=2
    )

    rows = compute_node_reports(make_config(), make_outcome(), timers)

    assert [(r["node_id"], r["n_copies"], r["total_infs"], r["e2e_avg_ms"]) for r in rows] == [
        ("a", 1, 1, approx(1.0)), ("b", 2, 2, approx(2.5)), ("c", 1, 1, approx(4.0)),
    ]  # fmt: skip


def test_node_copies_count_copies_that_left_rows_but_no_outcome() -> None:
    # Copy 1 on node-b died: its rows arrived, its outcome did not.
    timers = from_latencies_ms([1.0, 2.0, 3.0], node_id=["node-a", "node-b", "node-b"], copy_id=[0, 1, 1])
    outcome = make_outcome(copies=(CopyOutcome(0, "node-a"), CopyOutcome(2, "node-a")))

    rows = compute_node_reports(make_config(), outcome, timers)

    assert [(r["node_id"], r["n_copies"], r["total_infs"]) for r in rows] == [("node-a", 2, 1), ("node-b", 1, 2)]


def test_node_reports_are_empty_without_copies_or_rows() -> None:
    assert compute_node_reports(make_config(), make_outcome(), TIMER_SCHEMA.empty_table()) == []


def test_p75_and_p99_9_are_reported_and_an_slo_may_name_them() -> None:
    latencies = [float(i) for i in range(1, 2001)]
    report = report_for(from_latencies_ms(latencies), slo={"latency_ms_p99_9": 1999.0})
    assert report["latency_ms_p75"] == pytest.approx(float(np.percentile(latencies, 75)), abs=1e-6)
    assert report["latency_ms_p99_9"] == pytest.approx(float(np.percentile(latencies, 99.9)), abs=1e-6)
    assert report["slo_ok"] is True  # p99.9 = 1998.0 ms
