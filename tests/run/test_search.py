"""The capacity search's probe logic, driven without Ray: a service whose verdict is known.

The plan is a generator sent each probe's report; here the reports come from a model of a
copy with a known capacity, so the probes the search chooses can be checked one by one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from raybench.core.errors import ConfigError
from raybench.core.options import Measure, Options
from raybench.core.schema import RunConfig
from raybench.core.search import SearchRule
from raybench.report.bootstrap import quantile_interval
from raybench.report.capacity import capacity_reports, probe_verdict, slo_decided
from raybench.report.streams import Requests
from raybench.run.search import Bracket, concurrency_bases, repeat_factor, search_plan

SLO = {"latency_ms_p99": 30.0}


def base_config(**changes) -> RunConfig:
    fields = dict(config_id=0, model_filename="m", model_name="m", device_type="neuron", batch_size=1,
                  input_index=0, n_models=1, workers_per_model=1, measure=Measure(duration_s=1.0))
    fields.update(changes)
    return RunConfig(**fields)


def service_report(config: RunConfig, capacity: float, *, undecided_near: float = 0.0) -> dict:
    """The report of a copy that serves ``capacity`` requests/s: a closed loop runs at that rate;
    open loop meets the SLO up to it; probes within ``undecided_near`` of it straddle the limit
    unless they ran longer than the base duration."""
    rate = config.rate * config.n_models if config.rate is not None else None
    level = rate if config.search == "rate" else config.workers_per_model
    if config.search == "concurrency":
        met = config.workers_per_model <= capacity
    else:
        met = rate is None or rate <= capacity
    repeat = config.measure.duration_s > 1.0
    close = undecided_near > 0 and level is not None and abs(level - capacity) <= undecided_near * capacity
    throughput = capacity if rate is None else min(rate, capacity)
    return {
        "config_id": config.config_id, "search": config.search, "search_id": config.search_id,
        "probe": config.probe, "status": "finished", "error": None, "total_infs": 100, "batch_size": 1,
        "n_models": config.n_models, "workers_per_model": config.workers_per_model, "n_devices": config.n_models,
        "device_type": "neuron", "target_rate": rate, "throughput_avg": float(throughput),
        "rate_met": None if rate is None else rate <= capacity * 1.02, "slo_ok": met,
        "slo_decided": not (close and not repeat), "start_dts": None, "stop_dts": None,
    }


def drive(plan, answer):
    """Run a plan to its end, answering each probe; returns the probe configs and reports."""
    configs, reports = [], []
    config = next(plan, None)
    while config is not None:
        configs.append(config)
        reports.append(answer(config))
        try:
            config = plan.send(reports[-1])
        except StopIteration:
            config = None
    return configs, reports


def test_rate_search_starts_from_the_closed_loop_and_ends_within_the_tolerance():
    rule = SearchRule("rate", 0.05, 12)
    configs, reports = drive(search_plan([base_config()], rule, max_workers=64),
                             lambda c: service_report(c, capacity=100.0))
    assert configs[0].load.arrival == "closed" and configs[0].measure.warmup == 1  # the closed loop warms up
    rates = [c.load.rate for c in configs[1:]]
    assert rates[0] == pytest.approx(50.0)  # half the closed loop's rate
    assert rates[1] == pytest.approx(100.0) and rates[2] == pytest.approx(110.0)  # doubled, then 1.1 x closed
    assert all(c.measure.warmup == 0 and c.load.rate_per == "config" for c in configs[1:])  # warmed once
    assert [c.probe for c in configs] == list(range(1, len(configs) + 1))
    assert [c.config_id for c in configs] == list(range(len(configs)))
    (capacity,) = capacity_reports(reports)
    assert capacity["capacity_rate"] == pytest.approx(100.0)
    assert capacity["capacity_missed_at"] <= 100.0 / (1 - rule.tolerance)
    assert capacity["capacity_steps"] == len(configs) <= 15
    assert capacity["neuron_cores_per_1k_rps"] == pytest.approx(10.0)


@pytest.mark.parametrize("capacity", [3.0, 37.0, 61.0, 99.0])
def test_rate_search_brackets_a_capacity_below_the_closed_loop_rate(capacity):
    """The SLO binds below what the copy can serve: the search shrinks, then bisects."""

    def answer(config):
        report = service_report(config, 100.0)
        rate = report["target_rate"]
        report["slo_ok"] = rate is None or rate <= capacity
        return report

    rule = SearchRule("rate", 0.05, 12)
    configs, reports = drive(search_plan([base_config()], rule, max_workers=64), answer)
    (found,) = capacity_reports(reports)
    assert capacity * (1 - rule.tolerance) <= found["capacity_rate"] <= capacity
    assert len(configs) <= rule.max_steps


def test_an_undecided_probe_is_repeated_longer_and_the_repeat_decides():
    rule = SearchRule("rate", 0.05, 12)
    configs, reports = drive(search_plan([base_config()], rule, max_workers=64),
                             lambda c: service_report(c, 100.0, undecided_near=0.001))
    repeated = [i for i, r in enumerate(reports) if r["slo_decided"] is False]
    assert repeated  # the probe at the capacity straddled the limit
    for i in repeated:
        assert configs[i + 1].load.rate == configs[i].load.rate
        # 4 requests beyond the p99 at 100/s: 4 s (400 requests).
        assert configs[i + 1].measure.duration_s == pytest.approx(4 * configs[i].measure.duration_s)
    assert probe_verdict(reports[repeated[0]]) == "undecided"
    assert repeat_factor({"status": "finished", "throughput_avg": 1000.0, "batch_size": 1}, 1.0, 0.01) == 2.0
    assert repeat_factor({"status": "finished", "throughput_avg": 40.0, "batch_size": 1}, 1.0, 0.01) == 10.0
    assert repeat_factor({"status": "finished", "throughput_avg": 50.0, "batch_size": 1}, 1.0, 0.01) == 8.0


def test_an_answer_says_when_max_steps_left_the_bracket_wide():
    rule = SearchRule("rate", 0.05, 4)
    configs, reports = drive(search_plan([base_config()], rule, max_workers=64),
                             lambda c: {**service_report(c, 100.0), "slo_ok": (c.rate or 0) <= 80})
    (capacity,) = capacity_reports(reports, tolerance=rule.tolerance)
    assert len({c.load.rate for c in configs}) == 4  # the closed loop and three rates
    assert capacity["capacity_rate"] == pytest.approx(75.0)
    assert "max_steps ran out first: the capacity lies between 75 and 100 (25 % apart" in capacity["error"]
    (quiet,) = capacity_reports(reports)  # without the tolerance nothing is said
    assert quiet["error"] is None


def test_max_steps_bounds_the_probes_and_the_answer_says_the_bracket_never_closed():
    rule = SearchRule("rate", 0.001, 3)
    configs, reports = drive(search_plan([base_config()], rule, max_workers=64),
                             lambda c: {**service_report(c, 1e9), "throughput_avg": 100.0})
    assert len(configs) == 3
    (capacity,) = capacity_reports(reports)
    assert capacity["capacity_rate"] == pytest.approx(100.0)
    assert "no probe missed the SLO" in capacity["error"]


def test_a_failed_probe_ends_its_search_and_the_next_config_is_searched():
    rule = SearchRule("rate", 0.05, 12)

    def answer(config):
        report = service_report(config, 100.0)
        if config.search_id == 0 and config.probe == 3:
            report.update(status="error", error="RuntimeError: device lost")
        return report

    configs, reports = drive(search_plan([base_config(), base_config(n_models=2)], rule, max_workers=64), answer)
    assert [c.probe for c in configs if c.search_id == 0] == [1, 2, 3]
    first, second = capacity_reports(reports)
    assert first["capacity_rate"] == pytest.approx(50.0)
    assert "stopped at probe 3 (error): RuntimeError: device lost" in first["error"]
    assert second["capacity_rate"] is not None and second["error"] is None


def test_a_closed_loop_that_fails_gives_no_capacity_and_its_error():
    rule = SearchRule("rate", 0.05, 12)
    configs, reports = drive(search_plan([base_config()], rule, max_workers=64),
                             lambda c: {**service_report(c, 100.0), "status": "error", "error": "boom",
                                        "throughput_avg": None})
    assert len(configs) == 1
    (capacity,) = capacity_reports(reports)
    assert capacity["capacity_rate"] is None and "boom" in capacity["error"]


def test_concurrency_search_finds_the_most_workers_in_whole_steps():
    rule = SearchRule("concurrency", 0.05, 12)
    configs, reports = drive(search_plan([base_config()], rule, max_workers=64),
                             lambda c: service_report(c, capacity=5))
    assert [c.workers_per_model for c in configs][:4] == [1, 2, 4, 8]
    assert all(c.load.arrival == "closed" for c in configs)
    (capacity,) = capacity_reports(reports)
    assert capacity["capacity_workers"] == 5 and capacity["capacity_missed_at"] == 6


def test_concurrency_search_stops_at_the_most_workers_allowed():
    rule = SearchRule("concurrency", 0.05, 12)
    configs, reports = drive(search_plan([base_config()], rule, max_workers=6),
                             lambda c: service_report(c, capacity=100))
    assert [c.workers_per_model for c in configs] == [1, 2, 4, 6]
    (capacity,) = capacity_reports(reports)
    assert capacity["capacity_workers"] == 6 and "the most workers_per_model tried" in capacity["error"]


def test_concurrency_bases_drop_the_workers_axis():
    configs = [base_config(config_id=i, n_models=n, workers_per_model=w)
               for i, (n, w) in enumerate([(1, 1), (1, 2), (2, 1), (2, 2)])]
    bases = concurrency_bases(configs)
    assert [(b.config_id, b.n_models, b.workers_per_model) for b in bases] == [(0, 1, 1), (1, 2, 1)]


def test_bracket_grows_then_bisects():
    bracket = Bracket(10.0, 0.05)
    assert bracket.next_level() == 10.0
    bracket.observe(10.0, True)
    assert bracket.next_level() == 20.0
    bracket.observe(20.0, False)
    assert bracket.next_level() == 15.0
    bracket.observe(19.5, True)
    assert bracket.next_level() is None  # within 5 % of 20
    shrinking = Bracket(8.0, 0.05)
    shrinking.observe(8.0, False)
    assert shrinking.next_level() == 4.0


def test_search_options_are_checked_with_the_slo_and_the_load():
    assert Options.from_kwargs({"search": "rate", "slo": SLO, "arrival": "poisson"}).search.arrival == "poisson"
    cases = [
        ({"search": "rate"}, "needs slo with a percentile limit"),
        ({"search": "rate", "slo": {"latency_ms": 30}}, "needs slo with a percentile limit"),
        ({"search": "rate", "slo": SLO, "rate": 5}, "do not give rate"),
        ({"search": "concurrency", "slo": SLO, "arrival": "constant", "rate": 5}, "arrival must be 'closed'"),
        ({"search": "fastest", "slo": SLO}, "search must be"),
        ({"search": "rate", "slo": SLO, "search_tolerance": 1.5}, "search_tolerance must be a fraction"),
        ({"search": "rate", "slo": SLO, "max_steps": 2}, "max_steps must be an int of at least 3"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            Options.from_kwargs(kwargs)


def test_slo_decided_follows_the_bootstrap_interval():
    rng = np.random.default_rng(3)
    end = np.sort(rng.uniform(0, 5e9, 5000)).astype(np.int64)
    latency = rng.exponential(5e6, end.size).astype(np.int64) + 5_000_000
    requests = Requests(end - latency, end)
    p99_ms = float(np.percentile(latency, 99)) / 1e6
    report = {"latency_ms_p99": p99_ms}
    assert slo_decided(requests, report, 1, {"latency_ms_p99": p99_ms * 2}) is True  # surely met
    assert slo_decided(requests, report, 1, {"latency_ms_p99": p99_ms / 2}) is True  # surely missed
    assert slo_decided(requests, report, 1, {"latency_ms_p99": p99_ms * 1.001}) is False  # within noise
    assert slo_decided(requests, {"latency_ms_p99": None}, 1, {"latency_ms_p99": 10}) is True
    assert slo_decided(requests, report, 1, {"latency_ms": 10}) is None
    # 40 requests, every one far within the limit: too few to say their p99 holds; 1000 are enough.
    few = Requests(end[:40] - 10_000_000, end[:40])
    assert slo_decided(few, {"latency_ms_p99": 10.0}, 1, {"latency_ms_p99": 100}) is False
    many = Requests(end[:1000] - 10_000_000, end[:1000])
    assert slo_decided(many, {"latency_ms_p99": 10.0}, 1, {"latency_ms_p99": 100}) is True
    assert slo_decided(few, {"latency_ms_p99": 10.0}, 1, {"latency_ms_p99": 5}) is True  # all beyond it: missed


def test_quantile_interval_covers_the_true_quantile_about_as_often_as_it_says():
    true_p99 = 1e7 * math.log(100)
    hits = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        ends = np.sort(rng.uniform(0, 2e9, 2000)).astype(np.int64)
        low, high = quantile_interval(rng.exponential(1e7, 2000), ends, 0.99, seed=seed)
        hits += low <= true_p99 <= high
    assert 85 <= hits <= 100
    assert quantile_interval(np.ones(1), np.zeros(1, np.int64), 0.5) is None
