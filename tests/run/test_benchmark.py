"""End to end on the session's local Ray: real actors, real collector, real torch."""

from __future__ import annotations

import time

import numpy as np
import pyarrow.compute as pc
import pytest

import raybench
from raybench.core.schema import timer_schema
from raybench.testing import FailingModel, FlakyModel, SimulatedDevice, make_simulated_device

pytestmark = pytest.mark.integration  # whole benchmarks

SERVICE_S = SimulatedDevice.service_time_s


@pytest.fixture(scope="module")
def default_sweep(ray_session):
    return raybench.cpu.benchmark(SimulatedDevice, 1, duration=1, verbosity=0, return_timers=True)


def test_default_sweep_is_one_and_max_copies_by_one_and_two_workers(default_sweep):
    reports = raybench.get_reports(default_sweep)
    got = [(r["n_models"], r["workers_per_model"]) for r in reports]
    assert got == [(1, 1), (1, 2), (4, 1), (4, 2)]  # MAX = the session's 4 CPUs
    assert all(r["status"] == "finished" for r in reports), reports


def test_simulated_device_latency_and_throughput_match_its_service_time(default_sweep):
    for r in raybench.get_reports(default_sweep):
        ideal = r["n_models"] * r["workers_per_model"] / SERVICE_S
        assert r["latency_ms_p50"] >= SERVICE_S * 1000
        assert r["latency_ms_p50"] < SERVICE_S * 1000 * 3
        assert 0.4 * ideal <= r["throughput_avg"] <= 1.05 * ideal, r
        assert r["total_infs"] > 0
        assert r["load_avg_ms"] is not None and r["warmup_avg_ms"] is not None


def test_timers_hold_every_measured_inference_of_every_copy(default_sweep):
    timers = default_sweep.timers
    assert timers.schema == timer_schema()
    reports = raybench.get_reports(default_sweep)
    assert timers.num_rows == sum(r["total_infs"] for r in reports)
    last = timers.filter(pc.equal(timers["config_id"], 3))
    assert sorted(set(last["copy_id"].to_pylist())) == [0, 1, 2, 3]
    assert sorted(set(last["worker_id"].to_pylist())) == [0, 1]


def test_results_are_neuronperf_config_result_pairs(default_sweep):
    assert len(default_sweep) == 4
    config, result = default_sweep[2]
    assert config["n_models"] == 4
    assert result["status"] == "finished"
    assert result["n_infs"] == result["timers"].num_rows


def test_benchmark_reports_equal_get_reports_after_a_parquet_round_trip(default_sweep, tmp_path):
    path = raybench.write_results(default_sweep, tmp_path / "r.parquet")
    again = raybench.read_results(path)
    assert raybench.get_reports(again) == raybench.get_reports(default_sweep)
    assert again.timers.equals(default_sweep.timers)


def test_multi_input_tuple_is_unpacked_into_the_call(ray_session):
    class TwoInputs:
        def __call__(self, a, b):
            if (a, b) != (3, "x"):
                raise ValueError(f"got {(a, b)}")

    (report,) = raybench.cpu.benchmark(TwoInputs, (3, "x"), n_models=1, workers_per_model=1,
                                       duration=0.5, verbosity=0)
    assert report["status"] == "finished"
    assert report["n_errors"] == 0


def test_pre_and_postprocess_are_timed_apart(ray_session):
    def preprocess(x):
        time.sleep(0.002)
        return x

    (report,) = raybench.cpu.benchmark(make_simulated_device(0.004), 1, preprocess_fn=preprocess,
                                       postprocess_fn=lambda y: y, n_models=1, workers_per_model=1,
                                       duration=0.5, verbosity=0)
    assert report["preprocess_avg_ms"] >= 2.0
    assert report["infer_avg_ms"] >= 4.0
    assert report["postprocess_avg_ms"] is not None
    assert report["e2e_avg_ms"] >= report["preprocess_avg_ms"] + report["infer_avg_ms"]


def test_torchscript_file(ray_session, tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.jit.trace(torch.nn.Linear(4, 2).eval(), torch.zeros(1, 4))
    path = tmp_path / "linear.pt"
    torch.jit.save(model, str(path))
    (report,) = raybench.torch.benchmark(str(path), torch.ones(2, 4), batch_sizes=2, n_models=1,
                                         workers_per_model=1, duration=0.5, device_type="cpu", verbosity=0)
    assert report["status"] == "finished"
    assert report["model_filename"] == str(path)
    assert report["model_name"] == "linear"
    assert report["batch_size"] == 2
    assert report["total_infs"] > 0


def test_nn_module_class_runs_without_grad(ray_session):
    torch = pytest.importorskip("torch")

    class NeedsNoGrad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x):
            if torch.is_grad_enabled():
                raise RuntimeError("autograd is on")
            return self.linear(x)

    (report,) = raybench.torch.benchmark(NeedsNoGrad, torch.ones(1, 4), n_models=1, workers_per_model=2,
                                         duration=0.5, device_type="cpu", verbosity=0)
    assert report["status"] == "finished", report["error"]
    assert report["n_errors"] == 0


def test_model_failing_in_warmup_fails_its_config_without_waiting_out_duration(ray_session):
    t0 = time.monotonic()
    (report,) = raybench.cpu.benchmark(FailingModel, 1, n_models=1, workers_per_model=1, duration=60, verbosity=0)
    assert time.monotonic() - t0 < 30
    assert report["status"] == "error"
    assert report["error"] == "model raised during warmup: RuntimeError: FailingModel always fails"


def test_model_failing_every_call_without_warmup_errors_within_seconds(ray_session):
    t0 = time.monotonic()
    (report,) = raybench.cpu.benchmark(FailingModel, 1, n_models=1, workers_per_model=2, duration=60, warmup=0,
                                       verbosity=0)
    assert time.monotonic() - t0 < 15
    assert report["status"] == "error"
    assert report["error"] == "RuntimeError: FailingModel always fails"
    assert report["n_errors"] > 0


def test_broken_constructor_fails_its_config_with_the_message(ray_session):
    from raybench.testing import BrokenConstructorModel

    (report,) = raybench.cpu.benchmark(BrokenConstructorModel, 1, n_models=1, workers_per_model=1,
                                       duration=1, verbosity=0)
    assert report["status"] == "error"
    assert "BrokenConstructorModel cannot be built" in report["error"]


def test_flaky_model_counts_errors_and_excludes_them_from_latency(ray_session):
    (report,) = raybench.cpu.benchmark(FlakyModel, 1, n_models=1, workers_per_model=1, duration=0.5,
                                       warmup=0, verbosity=0)
    assert report["status"] == "finished"
    assert report["n_errors"] > 0
    assert report["n_errors"] == pytest.approx((report["total_infs"] + report["n_errors"]) / 3, abs=2)


def test_multiprocess_false_runs_in_this_process_without_ray(ray_session):
    results = raybench.cpu.benchmark(SimulatedDevice, 1, n_models=[1, 2], workers_per_model=1,
                                     duration=0.5, multiprocess=False, verbosity=0, return_timers=True)
    reports = raybench.get_reports(results)
    assert [r["n_models"] for r in reports] == [1, 2]
    assert all(r["status"] == "finished" for r in reports)
    assert set(results.timers["node_id"].to_pylist()) == {"local"}
    assert reports[1]["throughput_avg"] > 1.5 * reports[0]["throughput_avg"]


def test_more_cpu_copies_than_cpus_share_cores_and_say_so(ray_session, raybench_log):
    # The session's Ray has 4 CPUs: 6 copies ask for 1/2 CPU each, and MAX stays 4 (whole CPUs).
    reports = raybench.cpu.benchmark(SimulatedDevice, 1, n_models=[1, 6, "max"], workers_per_model=1,
                                     duration=0.5, verbosity=0)
    assert [r["n_models"] for r in reports] == [1, 6, 4]
    assert [r["status"] for r in reports] == ["finished"] * 3
    assert [r["cpus_per_copy"] for r in reports] == [1.0, round(4 / 6, 4), 1.0]
    warnings = [r.getMessage() for r in raybench_log.records if "share cores" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("n_models=6 is more than the 4 CPUs: the copies share cores")


def test_generic_benchmark_calls_load_fn_with_the_filename(ray_session):
    def load(name):
        assert name == "some-model"
        return lambda x: x

    (report,) = raybench.benchmark(load, "some-model", 1, n_models=1, workers_per_model=1, duration=0.3,
                                   device_type="cpu", verbosity=0)
    assert report["status"] == "finished"
    assert report["model_filename"] == "some-model"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration": 0}, "duration must be a finite number > 0 (seconds) (got 0)"),
        ({"preprocess_fn": 3}, "preprocess_fn must be callable (got 3)"),
        ({"postprocess_fn": "f"}, "postprocess_fn must be callable (got 'f')"),
        ({"env_setup_fn": 1}, "env_setup_fn must be callable (got 1)"),
        ({"setup_fn": []}, "setup_fn must be callable (got [])"),
        ({"device_type": "tpu"}, "device_type must be one of 'auto', 'cpu', 'cuda', 'gpu', 'neuron' (got 'tpu')"),
        ({"n_models": 0}, 'n_models must be a positive int or a list of them (or "max") (got 0)'),
        ({"workers_per_model": [1, 0]}, "workers_per_model must be a positive int or a list of them (got [1, 0])"),
        ({"batch_sizes": -4}, "batch_sizes must be a positive int or a list of them (got -4)"),
        ({"stats_interval": 0}, "stats_interval must be a finite number > 0 (seconds) (got 0)"),
        ({"cost_per_hour": -1}, "cost_per_hour must be a finite number >= 0 (got -1)"),
        ({"verbosity": 5}, "verbosity must be 0, 1 or 2 (got 5)"),
        ({"performance_levels": [4]}, "performance_levels must be an int from 0 to 3 or a list of them (got [4])"),
        ({"warmup": -1}, "warmup must be a non-negative int number of inferences per worker or a time like '2s' or '500ms' (got -1)"),
        ({"device_type": "neuron", "multiprocess": False},
         "multiprocess=False runs copies in this process, on the CPU only (got device_type 'neuron')"),
    ],
)
def test_bad_arguments_fail_before_anything_runs_with_an_exact_message(kwargs, message):
    with pytest.raises(raybench.ConfigError) as caught:
        raybench.cpu.benchmark(SimulatedDevice, 1, **kwargs)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: raybench.torch.benchmark("missing.pt", 1), "model_filename must name an existing file (got 'missing.pt')"),
        (lambda: raybench.cpu.benchmark(int.__add__, 1), "model_class must be a class (got <slot wrapper '__add__' of 'int' objects>)"),
        (lambda: raybench.cpu.benchmark(SimulatedDevice, [1, 2], batch_sizes=[1]),
         "inputs has 2 input sets but batch_sizes has 1 entry; give one input set per batch size"),
        (lambda: raybench.benchmark("not callable", "f", 1), "load_fn must be callable (got 'not callable')"),
        (lambda: raybench.torch.benchmark(3, 1), "model must be a TorchScript file name or an nn.Module class (got 3)"),
    ],
)
def test_bad_models_and_inputs_are_refused_with_an_exact_message(call, message):
    with pytest.raises(raybench.ConfigError) as caught:
        call()
    assert str(caught.value) == message


def test_class_needing_arguments_is_refused():
    class NeedsArgs:
        def __init__(self, path):
            self.path = path

    with pytest.raises(raybench.ConfigError, match=r"model_class must be constructible with no arguments \(.*NeedsArgs: missing a required argument: 'path'\)"):
        raybench.cpu.benchmark(NeedsArgs, 1)


def test_a_run_over_its_timer_budget_stops_early_and_says_so(ray_session):
    from raybench.testing import NoopModel

    t0 = time.monotonic()
    results = raybench.cpu.benchmark(NoopModel, (), n_models=1, workers_per_model=1, duration=20,
                                     max_timer_rows=50_000, verbosity=0, return_timers=True)
    assert time.monotonic() - t0 < 15
    (report,) = raybench.get_reports(results)
    assert results.timers.num_rows == 50_000
    assert report["total_infs"] == 50_000
    assert report["status"] == "finished"
    assert report["error"].startswith("stopped early: the run holds max_timer_rows raw timers")


def test_a_pool_spawns_its_copies_at_once_and_a_failure_only_more_copies_hit_fails_only_their_configs():
    loads = []

    def env_setup(copy_id, config):
        loads.append((copy_id, config["n_models"]))
        if copy_id >= 2:
            raise RuntimeError("no core left for copy 2")

    reports = raybench.cpu.benchmark(SimulatedDevice, np.zeros(1), n_models=[1, 3], workers_per_model=1,
                                     duration=0.2, env_setup_fn=env_setup, multiprocess=False, verbosity=0)
    assert [(r["n_models"], r["status"]) for r in reports] == [(1, "finished"), (3, "error")]
    assert reports[1]["error"] == "env_setup_fn raised in copy 2: RuntimeError: no core left for copy 2"
    # The first config tried to load all three copies its pool will need, then fell back to one.
    assert loads[:4] == [(0, 1), (1, 1), (2, 1), (0, 1)]
