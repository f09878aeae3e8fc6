"""compile() -> model index -> benchmark(index) for torch on CPU, and the Neuron-only pieces."""

from __future__ import annotations

import json
import os
import re

import pytest

import raybench
from raybench import model_index
from raybench.backends.neuron import neuron_compiler_args

torch = pytest.importorskip("torch")


class Doubler(torch.nn.Module):
    def forward(self, x):
        return x * 2


class FailsAtBatchEight(torch.nn.Module):
    def forward(self, x):
        if x.shape[0] == 8:
            raise RuntimeError("cannot trace batch 8")
        return x + 1


@pytest.fixture
def compiled(tmp_path):
    index = raybench.torch.compile(Doubler(), [torch.ones(1, 4), torch.ones(8, 4)], batch_sizes=[1, 8],
                                   models_dir=tmp_path / "models", filename=tmp_path / "doubler.json",
                                   device_type="cpu", verbosity=0)
    return index


def test_compile_writes_one_named_artifact_per_batch_size_and_the_index(compiled, tmp_path):
    index = model_index.load(compiled)
    assert index["model_name"] == "Doubler"
    configs = index["model_configs"]
    assert [(c["batch_size"], c["pipeline_size"], c["performance_level"], c["status"]) for c in configs] == [
        (1, 1, 3, "finished"), (8, 1, 3, "finished")]
    for config in configs:
        name = os.path.basename(config["filename"])
        assert re.fullmatch(rf"Doubler_b{config['batch_size']}_p1_[a-z0-9]{{8}}\.pt", name)
        assert os.path.exists(config["filename"])
        assert config["compile_s"] > 0
    loaded = torch.jit.load(configs[1]["filename"])
    assert torch.equal(loaded(torch.ones(8, 4)), torch.full((8, 4), 2.0))


def test_a_failed_compile_stays_in_the_index_as_an_error(tmp_path):
    path = raybench.torch.compile(FailsAtBatchEight(), [torch.ones(1, 2), torch.ones(8, 2)], batch_sizes=[1, 8],
                                  models_dir=tmp_path / "m", filename=tmp_path / "f.json", device_type="cpu",
                                  verbosity=0)
    statuses = [(c["batch_size"], c["status"]) for c in model_index.load(path)["model_configs"]]
    assert statuses == [(1, "finished"), (8, "error")]


def test_neuron_compiler_flags_follow_pipeline_and_performance_level():
    assert neuron_compiler_args(1, 3, None) == ["--fast-math", "all"]
    assert neuron_compiler_args(4, 1, ["-O2"]) == [
        "-O2", "--neuroncore-pipeline-cores", "4", "--fast-math", "fp32-cast-matmult", "no-fast-relayout"]
    assert neuron_compiler_args(2, 0, []) == ["--neuroncore-pipeline-cores", "2", "--fast-math", "none"]


def test_compile_for_neuron_without_the_sdk_names_what_to_install(tmp_path):
    with pytest.raises(raybench.MissingDependencyError) as caught:
        raybench.torch.compile(Doubler(), torch.ones(1, 4), models_dir=tmp_path, verbosity=0)
    assert str(caught.value) == (
        "device_type 'neuron' with torch needs torch-neuron or torch-neuronx: install the AWS Neuron SDK from the "
        "Neuron pip repository (pip install --extra-index-url=https://pip.repos.neuron.amazonaws.com torch-neuron "
        "(Inf1) or torch-neuronx (Inf2/Trn1)); the packages of that name on PyPI are placeholders")


def test_benchmark_of_an_index_filters_by_batch_size_and_matches_inputs(ray_session, compiled):
    (report,) = raybench.torch.benchmark(compiled, torch.ones(8, 4), batch_sizes=[8], n_models=1,
                                         workers_per_model=1, duration=0.3, device_type="cpu", verbosity=0)
    assert report["status"] == "finished", report["error"]
    assert report["batch_size"] == 8
    assert re.search(r"Doubler_b8_p1_[a-z0-9]{8}\.pt$", report["model_filename"])
    assert report["model_name"] == "Doubler"
    assert report["performance_level"] == 3


def test_benchmark_of_an_index_without_batch_sizes_runs_every_finished_artifact(ray_session, compiled):
    reports = raybench.torch.benchmark(compiled, [torch.ones(1, 4), torch.ones(8, 4)], n_models=1,
                                       workers_per_model=1, duration=0.3, device_type="cpu", verbosity=0)
    assert [r["batch_size"] for r in reports] == [1, 8]
    assert all(r["status"] == "finished" for r in reports)
    assert reports[0]["model_filename"] != reports[1]["model_filename"]


def test_an_empty_index_selection_is_a_clear_error(compiled):
    with pytest.raises(raybench.ConfigError) as caught:
        raybench.torch.benchmark(compiled, torch.ones(2, 4), batch_sizes=[2], device_type="cpu", verbosity=0)
    assert str(caught.value) == (
        f"the model index {compiled!r} has no finished config with batch_sizes=[2], pipeline_sizes=None, "
        "performance_levels=None")


def test_the_index_is_neuronperf_json(compiled):
    with open(compiled) as f:
        data = json.load(f)
    assert list(data) == ["NeuronPerf_version", "model_name", "model_configs"]
    assert list(data["model_configs"][0]) == ["filename", "batch_size", "pipeline_size", "performance_level",
                                              "compile_s", "status"]


def test_tensorflow_compile_index_benchmark_on_cpu(ray_session, tmp_path):
    tf = pytest.importorskip("tensorflow")
    import numpy as np

    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)], name="tiny")
    inputs = [np.ones((1, 4), np.float32), np.ones((4, 4), np.float32)]
    index_path = raybench.tensorflow.compile(model, inputs, batch_sizes=[1, 4], models_dir=tmp_path / "models",
                                             filename=tmp_path / "tiny.json", device_type="cpu", verbosity=0)
    index = model_index.load(index_path)
    assert index["model_name"] == "tiny"
    assert [(c["batch_size"], c["status"]) for c in index["model_configs"]] == [(1, "finished"), (4, "finished")]
    assert all(os.path.isdir(c["filename"]) for c in index["model_configs"])
    (report,) = raybench.tensorflow.benchmark(index_path, inputs[1], batch_sizes=[4], n_models=1,
                                              workers_per_model=1, duration=0.5, device_type="cpu", verbosity=0)
    assert report["status"] == "finished", report["error"]
    assert report["batch_size"] == 4
    assert report["total_infs"] > 0
    assert re.search(r"tiny_b4_p1_[a-z0-9]{8}$", report["model_filename"])


def test_only_a_json_with_model_configs_is_taken_for_an_index(tmp_path, compiled):
    from raybench.run.api import _index_file

    symbol = tmp_path / "net-symbol.json"
    symbol.write_text('{"nodes": [], "heads": []}')
    assert _index_file("mxnet", str(symbol)) is None
    assert _index_file("torch", compiled) == compiled
    assert _index_file("class", compiled) is None
