"""NeuronCore binding through Ray's own assignment, on the session Ray's declared neuron_cores=4.

No Neuron device is needed: Ray assigns the declared cores and sets NEURON_RT_VISIBLE_CORES in
each copy; the model is a plain Python callable.
"""

from __future__ import annotations

import time

import pytest

import raybench
from raybench.engine.copy import CopySetup, ModelCopy
from raybench.backends.base import ModelSpec
from raybench.engine.collector import Collector
from raybench.testing import NoopModel, SimulatedDevice


def load_simulated(_filename):
    return SimulatedDevice()


def cores_of(results, config_index=0):
    copies = results[config_index][1]["copies"]
    return [set(c["visible_cores"].split(",")) for c in copies]


def test_two_copies_of_pipeline_two_see_disjoint_core_pairs(ray_session):
    results = raybench.benchmark(load_simulated, "sim", 1, device_type="neuron", pipeline_sizes=[2], n_models=2,
                                 workers_per_model=1, duration=0.3, verbosity=0, return_timers=True)
    (report,) = raybench.get_reports(results)
    assert report["status"] == "finished"
    assert report["device_type"] == "neuron"
    assert report["n_devices"] == 4
    first, second = cores_of(results)
    assert len(first) == len(second) == 2
    assert first.isdisjoint(second)
    assert first | second == {"0", "1", "2", "3"}


def test_four_copies_of_pipeline_one_see_four_distinct_cores(ray_session):
    results = raybench.benchmark(load_simulated, "sim", 1, device_type="neuron", n_models=4, workers_per_model=1,
                                 duration=0.3, verbosity=0, return_timers=True)
    cores = cores_of(results)
    assert sorted(c for s in cores for c in s) == ["0", "1", "2", "3"]


def test_auto_picks_neuron_on_a_cluster_with_neuron_cores(ray_session):
    (report,) = raybench.benchmark(load_simulated, "sim", 1, n_models=1, workers_per_model=1, duration=0.3,
                                   verbosity=0)
    assert report["device_type"] == "neuron"


def test_three_copies_of_pipeline_two_are_refused_fast_naming_needed_and_available(ray_session):
    t0 = time.monotonic()
    with pytest.raises(raybench.ClusterError) as caught:
        raybench.benchmark(load_simulated, "sim", 1, device_type="neuron", pipeline_sizes=[2], n_models=3,
                           duration=1, verbosity=0)
    assert time.monotonic() - t0 < 5
    message = str(caught.value)
    assert message.startswith("n_models=3 with pipeline_size=2 needs 6 neuron_cores, but the cluster has "
                              "4 neuron_cores and can place 2 copies (node ")


def test_default_n_models_on_neuron_is_one_and_cores_over_pipeline(ray_session):
    reports = raybench.benchmark(load_simulated, "sim", 1, device_type="neuron", pipeline_sizes=[2],
                                 duration=0.3, verbosity=0)
    # MAX = 4 cores / pipeline 2; default workers for pipeline 2 is [1] (p - 1).
    assert [(r["n_models"], r["workers_per_model"]) for r in reports] == [(1, 1), (2, 1)]


def test_a_cpu_copy_does_not_inherit_the_drivers_neuron_cores(ray_session):
    actor = ray_session.remote(ModelCopy).options(
        num_cpus=1, runtime_env={"env_vars": {"NEURON_RT_VISIBLE_CORES": "0-3"}}
    ).remote(0, CopySetup(ModelSpec("class", NoopModel, None, "cpu")), [()], Collector())
    info = ray_session.get(actor.load.remote(), timeout=60)
    assert info["visible_cores"] is None
    ray_session.kill(actor)


def test_a_copy_that_cannot_get_its_cores_fails_its_config_with_the_runtime_message(ray_session):
    def load_busy(_filename):
        raise RuntimeError("NERR_RESOURCE_NC: the NeuronCore is in use by another process")

    (report,) = raybench.benchmark(load_busy, "busy", 1, device_type="neuron", n_models=1, workers_per_model=1,
                                   duration=0.3, verbosity=0)
    assert report["status"] == "error"
    assert "NERR_RESOURCE_NC: the NeuronCore is in use by another process" in report["error"]


def test_gpu_copies_on_a_cluster_without_gpus_are_refused_before_spawning(ray_session):
    with pytest.raises(raybench.ClusterError) as caught:
        raybench.benchmark(load_simulated, "sim", 1, device_type="gpu", n_models=1, duration=1, verbosity=0)
    assert str(caught.value).startswith("n_models=1 with pipeline_size=1 needs 1 GPU, but the cluster has 0 GPU "
                                        "and can place 0 copies")
