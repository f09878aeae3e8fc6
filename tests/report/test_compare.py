"""Tests for raybench.compare.

Synthetic runs have a known latency distribution: lognormal around 10 ms (sigma 0.25), with
the calls' end times spread evenly over a 10 s measurement, so throughput is exactly
``n_rows / 10 s``. A 2× regression doubles every latency and halves the calls. The real-run
tests use ``raybench.testing``'s simulated device (a known service time), in-process.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import raybench
from raybench.report.bootstrap import pooled_quantile  # the statistical core, checked on a hand-made case
from raybench.core.schema import RunConfig
from raybench.report.results import Results
from raybench.core.schema import ConfigOutcome, timer_schema
from raybench.compare import (
    METHOD,
    METRICS,
    SEARCH_METRICS,
    STREAM_METRICS,
    FailRule,
    compare_results,
    failed_rules,
    format_comparison,
    parse_fail_on,
)

S = 1_000_000_000
T0 = 1_700_000_000 * S
LATENCY_METRICS = ("p50", "p90", "p95", "p99")
CALL_METRICS = tuple(m for m in METRICS if m not in STREAM_METRICS and m not in SEARCH_METRICS)


def make_run(*configs: dict, seed: int) -> Results:
    """A Results with one config per dict: key overrides plus ``latency_ms`` (10), ``n_rows``
    (10,000), ``status`` ("finished"), ``drift`` (sd of a per-second log-latency level, 0) and
    ``error_rows`` (failed calls taking 1 s, 0)."""
    rng = np.random.default_rng(seed)
    run_configs, outcomes, tables = [], [], []
    for config_id, spec in enumerate(configs):
        spec = {"latency_ms": 10.0, "n_rows": 10_000, "status": "finished", "drift": 0.0, "error_rows": 0, **spec}
        key = {"model_name": "m", "batch_size": 1, "n_models": 1, "workers_per_model": 1, "pipeline_size": 1}
        key.update({k: v for k, v in spec.items() if k in key})
        run_configs.append(RunConfig.from_dict(dict(config_id=config_id, model_filename="m.pt", device_type="cpu",
                                                    input_index=0, duration_s=10.0, **key)))  # fmt: skip
        origin = T0 + config_id * 100 * S
        n = spec["n_rows"]
        end = origin + 1 + np.arange(n, dtype=np.int64) * (10 * S // n)
        latency_ns = rng.lognormal(np.log(spec["latency_ms"] * 1e6), 0.25, n)
        latency_ns *= np.exp(rng.normal(0.0, spec["drift"], 11))[(end - origin) // S]
        ok = np.ones(n, bool)
        ok[rng.choice(n, spec["error_rows"], replace=False)] = False
        latency_ns[~ok] = 1e9
        tables.append(timer_table(config_id, end - latency_ns.astype(np.int64), end, ok))
        outcomes.append(ConfigOutcome(config_id=config_id, status=spec["status"], start_ns=origin,
                                      stop_ns=origin + 10 * S, error=None if spec["status"] == "finished" else "boom"))  # fmt: skip
    return Results(run_configs, outcomes, pa.concat_tables(tables), {})


def timer_table(config_id: int, start: np.ndarray, end: np.ndarray, ok: np.ndarray) -> pa.Table:
    n = len(end)
    ids = pa.array(np.full(n, config_id, np.int16))
    zeros = pa.array(np.zeros(n, np.int16))
    nodes = pa.DictionaryArray.from_arrays(zeros, pa.array(["node-a"]))
    return pa.Table.from_arrays([ids, zeros, zeros, nodes, pa.array(start), pa.array(end), pa.array(ok)],
                                schema=timer_schema())  # fmt: skip


REGRESSION = {"latency_ms": 20.0, "n_rows": 5_000}


@pytest.fixture(scope="module")
def base() -> Results:
    return make_run({}, seed=1)


@pytest.fixture(scope="module")
def regressed_row(base: Results) -> dict:
    (row,) = compare_results(base, make_run(REGRESSION, seed=2))
    return row


@pytest.fixture(scope="module")
def rerun_row(base: Results) -> dict:
    (row,) = compare_results(base, make_run({}, seed=2))
    return row


def test_a_2x_latency_regression_is_significant(regressed_row: dict) -> None:
    assert regressed_row["status"] == "compared"
    for m in LATENCY_METRICS:
        assert regressed_row[f"{m}_change_pct"] == pytest.approx(100, abs=6)
        assert regressed_row[f"{m}_significant"] is True
        assert (
            0 < regressed_row[f"{m}_ci_low_pct"] < regressed_row[f"{m}_change_pct"] < regressed_row[f"{m}_ci_high_pct"]
        )


def test_a_halved_throughput_is_significant(regressed_row: dict) -> None:
    assert regressed_row["throughput_base"] == pytest.approx(1000)
    assert regressed_row["throughput_new"] == pytest.approx(500)
    assert regressed_row["throughput_change_pct"] == pytest.approx(-50)
    assert regressed_row["throughput_ci_high_pct"] < 0
    assert regressed_row["throughput_significant"] is True


def test_a_rerun_from_the_same_distribution_is_not_significant(rerun_row: dict) -> None:
    for m in CALL_METRICS:  # the run did not stream
        assert rerun_row[f"{m}_ci_low_pct"] <= rerun_row[f"{m}_change_pct"] <= rerun_row[f"{m}_ci_high_pct"]
        assert rerun_row[f"{m}_ci_low_pct"] < 0.5 and rerun_row[f"{m}_ci_high_pct"] > -0.5
        assert rerun_row[f"{m}_significant"] is False
    assert abs(rerun_row["p50_change_pct"]) < 2


def test_the_very_same_results_are_not_significant(base: Results) -> None:
    (row,) = compare_results(base, base)
    for m in CALL_METRICS:  # the run did not stream
        assert row[f"{m}_change_pct"] == 0
        assert row[f"{m}_ci_low_pct"] <= 0 <= row[f"{m}_ci_high_pct"]
        assert row[f"{m}_significant"] is False


def test_second_scale_drift_is_not_mistaken_for_a_change() -> None:
    # Each second's latencies share a random level (sd 3 %). The p50s of the two runs differ by
    # far more than the iid standard error of a p50 of 10,000 calls (about 0.35 %), which is
    # what a per-call rank test or iid bootstrap would judge by; blocks see the real noise.
    (row,) = compare_results(make_run({"drift": 0.03}, seed=29), make_run({"drift": 0.03}, seed=30))
    assert abs(row["p50_change_pct"]) > 1.5
    assert row["p50_significant"] is False
    assert row["p50_ci_high_pct"] - row["p50_ci_low_pct"] > 4


def test_failed_calls_are_left_out(base: Results) -> None:
    (row,) = compare_results(base, make_run({"error_rows": 100}, seed=2))
    assert row["p99_new"] < 100  # the failed calls took 1000 ms
    assert not any(row[f"{m}_significant"] for m in LATENCY_METRICS)


def test_a_pooled_quantile_is_read_off_the_summed_histograms() -> None:
    # Block A holds two calls in each of bins 0 and 1, block B two in each of bins 2 and 3.
    # The median of A + B is the 4th of 8 calls: the top of bin 1 (fractional bin 2.0); of
    # 2 × A it is the top of bin 0, of 2 × B the top of bin 2; a quarter of the way, 1.0.
    cumulative = np.cumsum([[2, 2, 0, 0], [0, 0, 2, 2]], axis=1)
    weights = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 2.0]])
    assert pooled_quantile(cumulative, weights, 0.5).tolist() == [2.0, 1.0, 3.0]
    assert pooled_quantile(cumulative, weights[:1], 0.25).tolist() == [1.0]
    assert pooled_quantile(cumulative, weights[:1], 0.75).tolist() == [3.0]


def test_the_seed_makes_the_intervals_reproducible(base: Results) -> None:
    new = make_run({}, seed=2)
    assert compare_results(base, new, seed=7) == compare_results(base, new, seed=7)
    other = compare_results(base, new, seed=8)[0]
    assert other["p50_ci_low_pct"] != compare_results(base, new, seed=7)[0]["p50_ci_low_pct"]


def test_a_higher_confidence_widens_the_interval(base: Results) -> None:
    new = make_run({}, seed=2)
    (narrow,) = compare_results(base, new, confidence=0.8)
    (wide,) = compare_results(base, new, confidence=0.99)
    assert wide["p50_ci_low_pct"] < narrow["p50_ci_low_pct"] < narrow["p50_ci_high_pct"] < wide["p50_ci_high_pct"]
    assert wide["confidence"] == 0.99


def test_configs_are_matched_by_key_not_by_config_id() -> None:
    base = make_run({"model_name": "a"}, {"model_name": "b"}, seed=1)
    new = make_run({"model_name": "b", **REGRESSION}, {"model_name": "c"}, seed=2)
    rows = compare_results(base, new)
    assert [(r["model_name"], r["status"]) for r in rows] == [
        ("a", "only in base"), ("b", "compared"), ("c", "only in new"),
    ]  # fmt: skip
    assert rows[1]["p50_significant"] is True
    assert rows[0]["p50_base"] == pytest.approx(10, rel=0.05) and rows[0]["p50_new"] is None
    assert rows[2]["p50_base"] is None and rows[2]["p50_change_pct"] is None
    assert rows[0]["status_new"] is None and rows[2]["status_base"] is None


def test_every_key_field_tells_configs_apart() -> None:
    base = make_run({"n_models": 1}, {"n_models": 2}, {"batch_size": 4}, seed=1)
    new = make_run({"batch_size": 4}, {"n_models": 2}, {"workers_per_model": 2}, seed=2)
    rows = compare_results(base, new)
    assert [(r["batch_size"], r["n_models"], r["workers_per_model"], r["status"]) for r in rows] == [
        (1, 1, 1, "only in base"), (1, 2, 1, "compared"), (4, 1, 1, "compared"), (1, 1, 2, "only in new"),
    ]  # fmt: skip


def test_a_config_that_did_not_finish_is_an_error_row(base: Results) -> None:
    (row,) = compare_results(base, make_run({"status": "error"}, seed=2))
    assert (row["status"], row["status_base"], row["status_new"]) == ("error", "finished", "error")
    assert (row["error_base"], row["error_new"]) == (None, "boom")
    assert all(row[f"{m}_change_pct"] is None and row[f"{m}_significant"] is False for m in METRICS)


def test_every_row_states_the_method(rerun_row: dict) -> None:
    assert rerun_row["method"] == METHOD
    assert "block bootstrap" in METHOD and "Künsch 1989" in METHOD


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"base": [], "new": None},
            "base must be a raybench Results (from return_timers=True or read_results) (got list)",
        ),
        ({"new": {}}, "new must be a raybench Results (from return_timers=True or read_results) (got dict)"),
        ({"confidence": 1.0}, "confidence must be a number between 0 and 1, exclusive (got 1.0)"),
        ({"confidence": True}, "confidence must be a number between 0 and 1, exclusive (got True)"),
    ],
)
def test_bad_arguments_are_refused(base: Results, kwargs: dict, message: str) -> None:
    arguments = {"base": base, "new": base, **kwargs}
    with pytest.raises(raybench.ConfigError) as caught:
        compare_results(arguments.pop("base"), arguments.pop("new"), **arguments)
    assert str(caught.value) == message


# --- --fail-on ---------------------------------------------------------------------------------


def test_parse_fail_on_reads_each_rule() -> None:
    assert parse_fail_on("p99:5%,throughput:-5%") == [FailRule("p99", 5.0), FailRule("throughput", -5.0)]
    assert parse_fail_on(" p50 : +2.5 % , p90:10%,p95:.5%") == [
        FailRule("p50", 2.5), FailRule("p90", 10.0), FailRule("p95", 0.5),
    ]  # fmt: skip
    assert str(FailRule("throughput", -5.0)) == "throughput:-5%"


FORMAT = "fail_on must be comma-separated metric:percent rules like 'p99:5%,throughput:-5%'"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("p99=5", f"{FORMAT} (got 'p99=5')"),
        ("p99:5", f"{FORMAT} (got 'p99:5')"),
        ("p99:five%", f"{FORMAT} (got 'p99:five%')"),
        ("", f"{FORMAT} (got '')"),
        ("p99:5%,", f"{FORMAT} (got '' in 'p99:5%,')"),
        ("p99:5%,p50=1", f"{FORMAT} (got 'p50=1' in 'p99:5%,p50=1')"),
        (5, f"{FORMAT} (got 5)"),
        ("p75:5%", "fail_on metrics must be one of p50, p90, p95, p99, throughput, ttft_p50, ttft_p99, itl_p50, itl_p99, tokens_per_s, capacity (got 'p75' in 'p75:5%')"),
        ("p50:1%, latency:2%", "fail_on metrics must be one of p50, p90, p95, p99, throughput, ttft_p50, ttft_p99, itl_p50, itl_p99, tokens_per_s, capacity (got 'latency' in 'latency:2%')"),
    ],
)  # fmt: skip
def test_parse_fail_on_refuses_bad_specs(spec: object, message: str) -> None:
    with pytest.raises(raybench.ConfigError) as caught:
        parse_fail_on(spec)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_a_rising_rule_fails_on_a_significant_rise_beyond_it(regressed_row: dict) -> None:
    (message,) = failed_rules([regressed_row], parse_fail_on("p99:5%"))
    assert message.startswith("m (batch_size=1, n_models=1, workers_per_model=1, pipeline_size=1): p99 rose +")
    assert message.endswith(", beyond +5% (rule p99:+5%)")
    assert "(95% CI +" in message


def test_a_rule_passes_on_noise(rerun_row: dict) -> None:
    assert failed_rules([rerun_row], parse_fail_on("p50:0%,p99:-0%,throughput:0%,throughput:-0%")) == []


def test_a_falling_rule_fails_on_a_significant_fall(regressed_row: dict) -> None:
    (message,) = failed_rules([regressed_row], parse_fail_on("throughput:-5%"))
    assert "throughput fell -50.0% (95% CI -50.0% .. -50.0%), beyond -5% (rule throughput:-5%)" in message


def test_rules_look_one_way_and_past_their_threshold_only(regressed_row: dict) -> None:
    # p99 rose and throughput fell: rules on a fall of p99, a rise of throughput, or a rise
    # larger than the one seen do not fire.
    assert failed_rules([regressed_row], parse_fail_on("p99:-5%,throughput:5%,p50:150%,throughput:-60%")) == []


def test_a_config_that_failed_or_vanished_in_new_violates_every_rule(base: Results) -> None:
    rules = parse_fail_on("p99:5%,throughput:-5%")
    (errored,) = compare_results(base, make_run({"status": "error"}, seed=2))
    messages = failed_rules([errored], rules)
    assert messages == [
        f"m (batch_size=1, n_models=1, workers_per_model=1, pipeline_size=1): did not finish in new (error: boom) (rule {r})"
        for r in ("p99:+5%", "throughput:-5%")
    ]
    (missing,) = compare_results(base, make_run({"model_name": "other"}, seed=2))[:1]
    assert [m.split(": ", 1)[1] for m in failed_rules([missing], rules)] == [
        "missing in new (rule p99:+5%)", "missing in new (rule throughput:-5%)",
    ]  # fmt: skip


def test_a_config_that_failed_in_base_or_is_new_violates_nothing(base: Results) -> None:
    rows = compare_results(make_run({"status": "timeout"}, seed=1), make_run(REGRESSION, seed=2))
    rows += compare_results(make_run({"model_name": "other"}, seed=1), base)[1:]
    assert [r["status"] for r in rows] == ["error", "only in new"]
    assert failed_rules(rows, parse_fail_on("p99:5%,throughput:-5%")) == []


# --- the table ---------------------------------------------------------------------------------


def test_format_comparison_prints_key_values_change_and_method(base: Results) -> None:
    rows = compare_results(base, make_run(REGRESSION, {"model_name": "solo"}, seed=2))
    text = format_comparison(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["model", "batch", "models", "workers", "pipeline", "status",
                                "p50", "ms", "change", "p99", "ms", "change", "throughput/s", "change"]  # fmt: skip
    assert lines[1].split()[:6] == ["m", "1", "1", "1", "1", "compared"]
    assert "1000 ->  500  -50.0% *" in lines[1]  # new column: as wide as "1000"
    assert lines[2].split()[:6] == ["solo", "1", "1", "1", "1", "only"]
    assert len({len(line) for line in lines[:2]}) == 1  # aligned columns
    assert lines[-1] == f"* significant: the 95% confidence interval of the change excludes 0; {METHOD}; time blocks of 1 s were used"


def test_format_comparison_of_nothing_still_states_the_method() -> None:
    assert format_comparison([]).splitlines()[-1].endswith(METHOD)


# --- real runs ---------------------------------------------------------------------------------


def simulated_run(model: type) -> Results:
    return raybench.cpu.benchmark(model, np.zeros(4), batch_sizes=[1], n_models=[1], workers_per_model=[1],
                                  duration=1.0, multiprocess=False, return_timers=True, verbosity=0, model_name="sim")  # fmt: skip


@pytest.fixture(scope="module")
def simulated_base() -> Results:
    return simulated_run(raybench.testing.SimulatedDevice)


@pytest.mark.integration  # a timed in-process run
def test_a_real_run_compared_with_itself_is_not_significant(simulated_base: Results) -> None:
    (row,) = compare_results(simulated_base, simulated_base)
    assert row["status"] == "compared"
    assert not any(row[f"{m}_significant"] for m in METRICS)


@pytest.mark.integration  # a timed in-process run
def test_a_real_device_twice_as_slow_is_flagged(simulated_base: Results) -> None:
    slow = simulated_run(raybench.testing.make_simulated_device(0.02))
    (row,) = compare_results(simulated_base, slow)
    assert row["status"] == "compared"
    assert row["p50_change_pct"] == pytest.approx(100, abs=15)
    assert row["throughput_change_pct"] == pytest.approx(-50, abs=10)
    assert row["p50_significant"] and row["throughput_significant"]
    assert failed_rules([row], parse_fail_on("p50:5%,throughput:-5%")) != []


def test_match_pairs_two_models_and_the_table_names_both() -> None:
    base = make_run({"model_name": "cnn_small"}, seed=1)
    new = make_run({"model_name": "cnn_big", **REGRESSION}, seed=2)
    apart = compare_results(base, new)
    assert [r["status"] for r in apart] == ["only in base", "only in new"]
    text = format_comparison(apart)
    assert ("no config paired: the runs share no model_name (model_name: base cnn_small, new cnn_big); pair on the "
            "rest with --match batch_size,n_models,workers_per_model,pipeline_size") in text
    (row,) = compare_results(base, new, match="batch_size,n_models,workers_per_model,pipeline_size")
    assert row["status"] == "compared" and row["p50_significant"] is True
    assert "cnn_small vs cnn_big" in format_comparison([row])
    with pytest.raises(raybench.ConfigError, match="match must name keys among model_name"):
        compare_results(base, new, match=["bogus"])


def test_the_footer_states_the_block_length_used_and_the_runs_are_described(base: Results) -> None:
    new = make_run({}, seed=2)
    base.metadata.update(started_at="2026-12-01T10:00:00.000+00:00", host="box-a", instance_type="inf1.xlarge",
                         git={"commit": "0123456789abcdef", "dirty": True}, versions={"raybench": "0.1.0"})
    rows = compare_results(base, new)
    assert rows[0]["block_s_base"] == pytest.approx(1.0) and rows[0]["block_s_new"] == pytest.approx(1.0)
    text = format_comparison(rows, base, new)
    assert text.splitlines()[0] == ("base: 2026-12-01T10:00:00.000+00:00 on box-a (inf1.xlarge), 0123456789+dirty, "
                                    "raybench 0.1.0, host CPU unknown")
    assert text.splitlines()[-1].endswith("; time blocks of 1 s were used")


def test_a_saturated_host_is_warned_about() -> None:
    from raybench.report.pairing import saturation_warning

    warning = saturation_warning("new", [{"config_id": 0, "cpu_avg_percent": 40.0},
                                         {"config_id": 3, "cpu_avg_percent": 97.0}])
    assert warning.startswith("warning: new's host CPU averaged above 90 % during config #3 (97 %)")
    assert saturation_warning("base", [{"config_id": 0, "cpu_avg_percent": 40.0}]) is None


def test_a_host_busy_with_the_runs_own_copies_is_not_warned_about() -> None:
    from raybench.report.pairing import saturation_warning

    # host_saturated False: the copies' own CPU explains the 97 % (n_models="max" on CPU).
    own_work = {"config_id": 1, "cpu_avg_percent": 97.0, "host_saturated": False}
    competed = {"config_id": 2, "cpu_avg_percent": 95.0, "host_saturated": True}
    assert saturation_warning("new", [own_work]) is None
    warning = saturation_warning("new", [own_work, competed])
    assert warning is not None and "during config #2 (95 %)" in warning and "#1" not in warning
