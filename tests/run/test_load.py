"""Datasets, open-loop load, warmup by count or time, min_infs and stability — on real runs.

Most runs here use in-process copies (``multiprocess=False``): the feeding and stopping logic
is the same code in a Ray actor, and one dataset run goes through Ray to show the data ships.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import raybench
from raybench.testing import SimulatedDevice

pytestmark = pytest.mark.integration  # timed benchmarks of simulated devices

SERVICE_MS = SimulatedDevice.service_time_s * 1000
QUIET = {"verbosity": 0, "multiprocess": False}


def only(reports):
    (report,) = reports
    assert report["status"] == "finished", report["error"]
    return report


class Recorder:
    """Records every input it is called with (class-level: in-process copies share it)."""

    seen: list[float] = []
    lock = threading.Lock()

    def __call__(self, x):
        time.sleep(0.0005)
        with Recorder.lock:
            Recorder.seen.append(float(x[0]))
        return x


def image_model_and_dataset(n: int):
    """A torch model summing its input, and a TensorDataset of (image, label) items."""
    torch = pytest.importorskip("torch")

    class ImageModel(torch.nn.Module):
        def forward(self, image):
            return image.sum()

    images = torch.arange(n, dtype=torch.float32).reshape(n, 1).repeat(1, 4)
    return ImageModel, torch.utils.data.TensorDataset(images, torch.zeros(n))


def test_dataset_runs_once_per_copy_and_says_it_ran_out():
    ImageModel, dataset = image_model_and_dataset(25)
    results = raybench.torch.benchmark(
        ImageModel, dataset, batch_sizes=1, preprocess_fn=lambda item: item[0], n_models=2,
        workers_per_model=3, duration=30, return_timers=True, **QUIET,
    )
    report = only(raybench.get_reports(results))
    assert report["total_infs"] == 50  # every item once in each of the 2 copies
    assert report["dataset_exhausted"] is True
    assert report["total_s"] < 30  # duration is only an upper bound
    assert report["input_avg_ms"] is not None and report["preprocess_avg_ms"] is not None
    assert results.timers.num_rows == 50


def test_workers_of_a_copy_never_get_the_same_item():
    Recorder.seen = []
    items = [np.full(2, float(i)) for i in range(300)]
    report = only(raybench.cpu.benchmark(Recorder, items, loop_dataset=False, n_models=1, workers_per_model=4,
                                         duration=30, warmup=0, **QUIET))
    assert report["total_infs"] == 300
    assert sorted(Recorder.seen) == [float(i) for i in range(300)]


def test_loop_dataset_cycles_until_duration():
    report = only(raybench.cpu.benchmark(SimulatedDevice, [np.zeros(2)] * 3, loop_dataset=True, n_models=1,
                                         workers_per_model=1, duration=0.5, **QUIET))
    assert report["total_infs"] > 3
    assert report["dataset_exhausted"] is False


def test_dataset_loader_fn_builds_the_items_in_each_copy():
    calls = []

    def loader(inputs, workers):
        calls.append(workers)
        return [np.full(2, float(i)) for i in range(inputs)]

    report = only(raybench.cpu.benchmark(SimulatedDevice, 7, dataset_loader_fn=loader, n_models=2,
                                         workers_per_model=2, duration=30, **QUIET))
    assert report["total_infs"] == 14
    assert calls.count(2) >= 2  # each copy's run (and warmup) built its loader with workers_per_model


def test_a_torch_dataset_ships_to_ray_copies(ray_session):
    ImageModel, dataset = image_model_and_dataset(40)
    report = only(raybench.torch.benchmark(ImageModel, dataset, preprocess_fn=lambda item: item[0],
                                           n_models=2, workers_per_model=2, duration=30, device_type="cpu", verbosity=0))
    assert report["total_infs"] == 80
    assert report["dataset_exhausted"] is True


def test_bad_dataset_arguments_are_named():
    gen = (x for x in range(3))
    with pytest.raises(raybench.ConfigError, match="^inputs must be a dataset every copy can read from the start"):
        raybench.cpu.benchmark(SimulatedDevice, gen, **QUIET)
    with pytest.raises(raybench.ConfigError) as info:
        raybench.cpu.benchmark(SimulatedDevice, range(4), batch_sizes=[1, 2], **QUIET)
    assert str(info.value) == ("batch_sizes must be one size with a dataset: how many samples one item holds "
                               "(got [1, 2])")
    with pytest.raises(raybench.ConfigError, match=r"^loop_dataset must be True, False or None \(got 'yes'\)$"):
        raybench.cpu.benchmark(SimulatedDevice, [1], loop_dataset="yes", **QUIET)


# -- open loop ------------------------------------------------------------------------------


def open_loop(arrival: str, load: float, duration: float = 2.0, **kwargs):
    rate = load * 1000 / SERVICE_MS  # one worker serves 1 / service time per second
    return raybench.cpu.benchmark(
        SimulatedDevice, np.zeros(2), n_models=1, workers_per_model=1, duration=duration, arrival=arrival,
        rate=rate, return_timers=True, **QUIET, **kwargs,
    )


def test_half_load_latency_is_the_service_time():
    """Half load: constant sends find the worker free, Poisson sends wait for it about half the
    time (M/D/1 at 50 %: a mean wait of 5 ms on this 10 ms device; the M/D/1 figures themselves
    are checked in test_capacity). The bounds leave room for a busy host: a send that wakes late
    counts as queued (measured under a competing test run: up to 38 % of constant sends more than
    1 ms late and a 3.5 ms mean wait, against 55-74 % and 6.5-12.6 ms for Poisson)."""
    reports = {}
    for arrival in ("constant", "poisson"):
        report = reports[arrival] = only(raybench.get_reports(open_loop(arrival, 0.5)))
        assert report["arrival"] == arrival and report["target_rate"] == pytest.approx(50.0)
        assert report["rate_met"] is True
        assert report["dropped"] <= 1
        assert SERVICE_MS <= report["latency_ms_p50"] <= 2 * SERVICE_MS
    constant, poisson = reports["constant"], reports["poisson"]
    assert constant["latency_ms_p50"] <= 1.5 * SERVICE_MS
    assert constant["delayed_pct"] < 50  # most constant sends go out on time (overload: > 80 %)
    assert constant["queue_avg_ms"] < poisson["queue_avg_ms"]


def test_overload_latency_grows_and_the_rate_is_not_met():
    results = open_loop("constant", 1.2)
    report = only(raybench.get_reports(results))
    assert report["rate_met"] is False
    assert report["dropped"] > 10  # ~20 % of 240 sends never went out
    assert report["delayed_pct"] > 80
    assert report["queue_depth_max"] > 10
    timers = results.timers
    latency = (timers["end_ns"].to_numpy() - timers["start_ns"].to_numpy()) / 1e6
    quarter = latency.size // 4
    # Latency counts from the scheduled send: the backlog shows as latency growing over the run.
    assert np.median(latency[-quarter:]) > 5 * np.median(latency[:quarter])
    assert report["latency_ms_p50"] > 3 * SERVICE_MS


def test_rate_per_config_is_shared_by_the_copies():
    report = only(raybench.cpu.benchmark(SimulatedDevice, np.zeros(2), n_models=2, workers_per_model=1, duration=1,
                                         arrival="constant", rate=40, rate_per="config", **QUIET))
    assert report["target_rate"] == pytest.approx(40.0)
    assert report["total_infs"] == pytest.approx(40, abs=3)


def test_bad_open_loop_arguments_are_named():
    cases = [
        ({"rate": 10}, "rate needs an open-loop arrival ('constant' or 'poisson'); arrival is 'closed' (got rate=10)"),
        ({"arrival": "poisson"}, "rate must be given for arrival 'poisson': sends per second (got None)"),
        ({"arrival": "burst", "rate": 1}, "arrival must be one of 'closed', 'constant', 'poisson' (got 'burst')"),
        ({"arrival": "constant", "rate": 0}, "rate must be a finite number > 0 (sends per second) (got 0)"),
        ({"arrival": "constant", "rate": 5, "rate_per": "node"}, "rate_per must be 'copy' or 'config' (got 'node')"),
    ]
    for kwargs, message in cases:
        with pytest.raises(raybench.ConfigError) as info:
            raybench.cpu.benchmark(SimulatedDevice, np.zeros(2), **QUIET, **kwargs)
        assert str(info.value) == message


# -- warmup, min_infs, stability ------------------------------------------------------------


def test_warmup_by_count_is_per_worker_and_not_measured():
    results = raybench.cpu.benchmark(SimulatedDevice, np.zeros(2), n_models=2, workers_per_model=2, duration=0.5,
                                     warmup=3, return_timers=True, **QUIET)
    report = only(raybench.get_reports(results))
    assert report["warmup_infs"] == 3 * 2 * 2
    assert report["warmup_avg_ms"] >= SERVICE_MS
    assert results.timers.num_rows == report["total_infs"] + report["n_errors"]


def test_warmup_by_seconds_runs_that_long():
    report = only(raybench.cpu.benchmark(SimulatedDevice, np.zeros(2), n_models=1, workers_per_model=2,
                                         duration=0.5, warmup="300ms", **QUIET))
    assert report["warmup_s"] >= 0.3
    # Two workers for 0.3 s at 10 ms a call: about 60 calls.
    assert 30 <= report["warmup_infs"] <= 64


def test_min_infs_extends_the_run_until_reached():
    report = only(raybench.cpu.benchmark(SimulatedDevice, np.zeros(2), n_models=1, workers_per_model=1,
                                         duration=0.3, min_infs=120, **QUIET))
    assert report["total_infs"] >= 120
    assert report["total_s"] >= 1.0  # 120 calls of 10 ms
    assert report["converged"] is None


def test_stability_ends_a_steady_config_early():
    report = only(raybench.cpu.benchmark(SimulatedDevice, np.zeros(2), n_models=1, workers_per_model=1,
                                         duration=30, stability=0.1, stability_window=0.25, **QUIET))
    assert report["converged"] is True
    assert report["total_s"] < 5  # three 0.25 s windows, not 30 s
    assert report["error"] is None


class Unsteady:
    """Fast for a quarter second, slow for the next: never three windows alike."""

    def __call__(self, x):
        time.sleep(0.001 if int(time.time() * 4) % 2 else 0.008)
        return x


def test_an_unsteady_config_stops_at_max_duration_and_says_so():
    report = only(raybench.cpu.benchmark(Unsteady, np.zeros(2), n_models=1, workers_per_model=1, duration=0.5,
                                         stability=0.05, stability_window=0.2, max_duration=1.5, **QUIET))
    assert report["converged"] is False
    assert report["error"] == "max_duration (1.5 s) ended the config before stability was reached"
    assert 1.3 <= report["total_s"] <= 1.7


def test_bad_stop_arguments_are_named():
    cases = [
        ({"stability": 1.5}, "stability must be a fraction between 0 and 1, like 0.1 for 10 % (got 1.5)"),
        ({"max_duration": 5}, "max_duration bounds min_infs or stability; give one of them (got max_duration=5)"),
        ({"min_infs": 0}, "min_infs must be a positive int or None (got 0)"),
        ({"min_infs": 5, "duration": 10, "max_duration": 2},
         "max_duration must be at least duration (10 s) with min_infs (got 2)"),
        ({"warmup": "2 minutes"},
         "warmup must be a non-negative int number of inferences per worker or a time like '2s' or '500ms' "
         "(got '2 minutes')"),
    ]
    for kwargs, message in cases:
        with pytest.raises(raybench.ConfigError) as info:
            raybench.cpu.benchmark(SimulatedDevice, np.zeros(2), **QUIET, **kwargs)
        assert str(info.value) == message


def test_stability_and_open_loop_through_ray_copies(ray_session):
    # The stop decision travels back to each Ray copy as the answer to its next batch.
    report = only(raybench.cpu.benchmark(SimulatedDevice, np.zeros(2), n_models=2, workers_per_model=1, duration=0.5,
                                         stability=0.1, stability_window=0.25, max_duration=10, arrival="constant",
                                         rate=40, device_type="cpu", verbosity=0))
    assert report["converged"] is True
    assert report["total_s"] < 5
    assert report["target_rate"] == pytest.approx(80.0)
    assert report["rate_met"] is True


def test_a_dataset_that_runs_out_before_min_infs_says_so():
    report = only(raybench.cpu.benchmark(SimulatedDevice, [np.zeros(2)] * 20, loop_dataset=False, n_models=1,
                                         workers_per_model=1, duration=0.1, min_infs=1000, **QUIET))
    assert report["total_infs"] == 20 and report["dataset_exhausted"] is True
    assert report["error"] == "the dataset ran out before min_infs (1000) was reached"


def test_each_copys_warmup_is_in_the_results_pairs():
    results = raybench.cpu.benchmark(SimulatedDevice, np.zeros(2), n_models=2, workers_per_model=1, duration=0.3,
                                     warmup=2, return_timers=True, **QUIET)
    (_, result), = results
    assert [c["warmup_infs"] for c in result["copies"]] == [2, 2]
    assert all(c["warmup_ms"] >= 2 * SERVICE_MS and c["warmup_wall_s"] >= 0.02 for c in result["copies"])


class FailsOnOdd:
    """Takes 2 ms, then raises for odd items."""

    def __call__(self, x):
        time.sleep(0.002)
        if int(x[0]) % 2:
            raise ValueError(f"odd item {int(x[0])}")
        return x


def test_a_failing_dataset_call_keeps_its_span_in_the_timers():
    results = raybench.cpu.benchmark(FailsOnOdd, [np.full(2, float(i)) for i in range(20)], loop_dataset=False,
                                     n_models=1, workers_per_model=1, duration=30, warmup=0, return_timers=True,
                                     **QUIET)
    (report,) = raybench.get_reports(results)
    assert (report["total_infs"], report["n_errors"]) == (10, 10)
    assert report["error"] == "ValueError: odd item 1"
    timers = results.timers
    latency_ms = (timers["end_ns"].to_numpy() - timers["start_ns"].to_numpy()) / 1e6
    failed = ~timers["ok"].to_numpy(zero_copy_only=False)
    assert latency_ms[failed].min() >= 2.0  # the failed call's own 2 ms, from its start
    assert (timers["infer_ns"].to_numpy()[failed] == 0).all()
