"""NeuronPerf code with only the import changed: ``import raybench as npf``, then NeuronPerf's own
documented calls. One test (or a few) per item of the drop-in issue; each failed on the code
before it.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
import ray

import raybench as npf
from raybench.core.errors import ConfigError
from raybench.core.options import Options
from raybench.core.schema import CopyOutcome
from raybench.run.plan import match_index_inputs
from raybench.run.sweep import SweepRunner
from raybench.testing import SimulatedDevice

QUICK = {"duration": 0.5, "verbosity": 0}


# 1. load_fn(model_filename, device_id)


class RecordingModel:
    """What a NeuronPerf loader returns: a callable; it notes the device id it was built for."""

    def __init__(self, folder: str, device_id: int) -> None:
        pathlib.Path(folder, f"device_{device_id}").write_text(str(os.getpid()))

    def __call__(self, x):
        return x


def neuronperf_loader(model_filename, device_id):
    """NeuronPerf's documented load_fn: a model file name and a device id."""
    return RecordingModel(model_filename, device_id)


def keyword_loader(model_filename, *, device_id=0):
    return RecordingModel(model_filename, device_id)


def positional_loader(model_filename, dev):
    return RecordingModel(model_filename, dev)


@pytest.mark.parametrize("load_fn", [neuronperf_loader, keyword_loader, positional_loader])
def test_load_fn_gets_the_copy_index_as_device_id_on_cpu(ray_session, tmp_path, load_fn):
    (report,) = npf.benchmark(load_fn, str(tmp_path), np.ones(1), n_models=2, workers_per_model=1,
                              device_type="cpu", **QUICK)
    assert report["status"] == "finished", report["error"]
    assert sorted(os.listdir(tmp_path)) == ["device_0", "device_1"]


def test_load_fn_gets_the_first_neuroncore_of_each_copy_as_device_id(ray_session, tmp_path):
    # NeuronPerf: device_id = copy index x pipeline size. The session's Ray declares 4 cores.
    (report,) = npf.benchmark(neuronperf_loader, str(tmp_path), np.ones(1), n_models=2, workers_per_model=1,
                              pipeline_sizes=[2], device_type="neuron", **QUICK)
    assert report["status"] == "finished", report["error"]
    assert sorted(os.listdir(tmp_path)) == ["device_0", "device_2"]


def test_a_one_argument_load_fn_keeps_working(ray_session):
    (report,) = npf.benchmark(lambda name: (lambda x: x), "m", 1, n_models=1, workers_per_model=1,
                              device_type="cpu", **QUICK)
    assert report["status"] == "finished"


def test_a_load_fn_that_cannot_take_a_file_name_is_refused_before_any_copy_starts():
    with pytest.raises(ConfigError, match=r"^load_fn must accept the model file name, and optionally a device id"):
        npf.benchmark(lambda: None, "m", 1, device_type="cpu", multiprocess=False, **QUICK)


# 2. model_index.copy / move take a loaded index


def test_model_index_copy_and_move_take_the_index_dict(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("models")
    pathlib.Path("models/m_b1.pt").write_bytes(b"m")
    index = npf.model_index.create("models/m_b1.pt", model_name="m")
    copied = npf.model_index.copy(index, "copied.json", "backup")
    assert npf.model_index.load(copied)["model_configs"][0]["filename"] == os.path.join("backup", "m_b1.pt")
    moved = npf.model_index.move(npf.model_index.load(copied), "moved.json", "elsewhere")
    assert os.listdir("elsewhere") == ["m_b1.pt"]
    assert not os.path.exists("backup/m_b1.pt")
    assert npf.model_index.load(moved)["model_name"] == "m"


# 3. model_index.filter(index, key=None)


def test_model_index_filter_treats_none_as_no_filter():
    index = npf.model_index.append(npf.model_index.create("a.pt", batch_size=1),
                                   npf.model_index.create("b.pt", batch_size=4))
    assert len(npf.model_index.filter(index, batch_size=None)["model_configs"]) == 2
    assert len(npf.model_index.filter(index, batch_sizes=None, status="finished")["model_configs"]) == 2


# 4. CPU copies beyond the core count


def test_cpu_benchmark_with_16_copies_runs_on_any_machine(ray_session):
    # The session's Ray has 4 CPUs (the box has 2): each copy asks for a quarter of one.
    (report,) = npf.cpu.benchmark(SimulatedDevice, 1, n_models=16, workers_per_model=1, **QUICK)
    assert report["status"] == "finished", report["error"]
    assert report["n_models"] == 16
    assert report["cpus_per_copy"] == 0.25


# 5. an index benchmarked with compile's inputs, filtered by batch size


@pytest.fixture
def two_batch_index(tmp_path):
    torch = pytest.importorskip("torch")
    inputs = [torch.ones(1, 4), torch.ones(4, 4)]
    path = npf.torch.compile(torch.nn.Linear(4, 4), inputs, batch_sizes=[1, 4], models_dir=tmp_path / "models",
                             filename=tmp_path / "doubler.json", device_type="cpu", verbosity=0)
    return path, inputs


def test_an_index_filtered_to_batch_4_runs_the_batch_4_input(ray_session, two_batch_index):
    path, inputs = two_batch_index
    results = npf.torch.benchmark(path, inputs, batch_sizes=[4], n_models=1, workers_per_model=1,
                                  device_type="cpu", return_timers=True, **QUICK)
    (report,) = npf.get_reports(results)
    assert report["status"] == "finished", report["error"]
    assert report["batch_size"] == 4
    assert "_b4_" in report["model_filename"]
    assert results.configs[0].input_index == 1  # inputs[1], the (4, 4) tensor


def test_inputs_are_matched_by_their_leading_dimension_whatever_their_order():
    batch_4, batch_1 = np.ones((4, 4)), np.ones((1, 4))
    sets, chosen = match_index_inputs([batch_4, batch_1], index_sizes=[1, 4], selected=[1, 4])
    assert chosen == {1: 1, 4: 0}
    assert sets[chosen[4]][0] is batch_4


def test_inputs_without_a_batch_dimension_pair_by_the_index_order():
    sets, chosen = match_index_inputs(["x1", "x4", "x8"], index_sizes=[1, 4, 8], selected=[4])
    assert sets[chosen[4]] == ("x4",)


def test_an_ambiguous_pairing_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"^inputs has 2 input sets, which pair with batch size 4 at position 1 "
                                          r"in the index's order \[1, 4\] and at 0 in the selected order \[4, 1\]"):
        match_index_inputs(["a", "b"], index_sizes=[1, 4], selected=[4, 1])


def test_inputs_that_fit_neither_the_index_nor_the_selection_are_refused():
    with pytest.raises(ConfigError, match=r"^inputs has 3 input sets, but the model index has batch sizes \[1, 4\]"):
        match_index_inputs(["a", "b", "c"], index_sizes=[1, 4], selected=[4])


# 6. cast_modes


def note_cast_mode(copy_id, config, model):
    """A setup_fn that applies the cast mode: here, it only checks that the copy was told."""
    assert config["cast_mode"] in ("fp32", "bf16")


def test_cast_modes_are_swept_and_recorded_per_config(ray_session):
    reports = npf.cpu.benchmark(SimulatedDevice, 1, n_models=1, workers_per_model=1, cast_modes=["fp32", "bf16"],
                                setup_fn=note_cast_mode, **QUICK)
    assert [r["cast_mode"] for r in reports] == ["fp32", "bf16"]
    assert [r["status"] for r in reports] == ["finished", "finished"]


def test_one_cast_mode_is_recorded_and_a_bad_one_refused():
    (report,) = npf.cpu.benchmark(SimulatedDevice, 1, n_models=1, workers_per_model=1, cast_modes="all",
                                  multiprocess=False, **QUICK)
    assert report["cast_mode"] == "all"
    with pytest.raises(ConfigError, match=r"^cast_modes must be a non-empty str or a list of them \(got \[1\]\)$"):
        npf.cpu.benchmark(SimulatedDevice, 1, cast_modes=[1], multiprocess=False, **QUICK)


# 7. copies run at normal priority


@ray.remote(num_cpus=0)
class PlainActor:
    def niceness(self):
        return os.nice(0)


def test_copies_raise_their_priority_on_a_ray_that_raybench_did_not_start(ray_session):
    # The session's Ray starts its workers at Ray's default niceness, 15; this box runs as root,
    # so each copy lowers its own to 0.
    assert ray.get(PlainActor.remote().niceness.remote()) == 15
    results = npf.cpu.benchmark(SimulatedDevice, 1, n_models=2, workers_per_model=1, return_timers=True, **QUICK)
    assert [c.niceness for c in results.outcomes[0].copies] == [0, 0]


def test_a_copy_that_cannot_raise_its_priority_is_warned_about_once(raybench_log):
    runner = SweepRunner([], {}, None, {}, [], Options.from_kwargs({}))
    for _ in range(2):
        runner._warn_low_priority([CopyOutcome(0, "n", niceness=15), CopyOutcome(1, "n", niceness=0)])
    (warning,) = [r.getMessage() for r in raybench_log.records]
    assert warning.startswith("copies run at niceness 15 (Ray's worker_niceness), not 0")


EMBEDDED_RAY = """
import os, ray, raybench
from raybench.testing import SimulatedDevice
results = raybench.cpu.benchmark(SimulatedDevice, 1, n_models=1, workers_per_model=1, duration=0.3, verbosity=0,
                                 return_timers=True)
@ray.remote(num_cpus=0)
def niceness():
    return os.nice(0)
print([c.niceness for c in results.outcomes[0].copies], ray.get(niceness.remote()))
"""


@pytest.mark.ray
def test_the_embedded_ray_starts_its_workers_at_niceness_0(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "RAY_ADDRESS": "", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    done = subprocess.run([sys.executable, "-c", EMBEDDED_RAY], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    # The copy and any other task of that Ray: Ray itself started them at 0.
    assert done.stdout.strip().splitlines()[-1] == "[0] 0"


# NeuronPerf's other names


def test_the_generic_compile_runs_a_compile_fn_per_config_and_writes_an_index(tmp_path):
    def compile_fn(model, input_set, artifact_path, pipeline_size, performance_level, compiler_args):
        pathlib.Path(artifact_path).write_text(f"{model} {input_set[0]} p{pipeline_size} l{performance_level}")

    path = npf.compile(compile_fn, "net", [1, 4], batch_sizes=[1, 4], models_dir=tmp_path / "models",
                       filename=tmp_path / "net.json", verbosity=0)
    index = npf.model_index.load(path)
    assert [(c["batch_size"], c["status"]) for c in index["model_configs"]] == [(1, "finished"), (4, "finished")]
    assert pathlib.Path(index["model_configs"][1]["filename"]).read_text() == "net 4 p1 l3"


def test_compile_builds_one_artifact_per_cast_mode_and_benchmark_filters_on_it(ray_session, tmp_path):
    torch = pytest.importorskip("torch")
    path = npf.torch.compile(torch.nn.Linear(4, 4), torch.ones(2, 4), batch_sizes=[2], cast_modes=["matmult", "all"],
                             models_dir=tmp_path / "models", filename=tmp_path / "net.json", device_type="cpu",
                             verbosity=0)
    assert [c["cast_mode"] for c in npf.model_index.load(path)["model_configs"]] == ["matmult", "all"]
    (report,) = npf.torch.benchmark(path, torch.ones(2, 4), cast_modes="all", n_models=1, workers_per_model=1,
                                    device_type="cpu", **QUICK)
    assert report["status"] == "finished", report["error"]
    assert report["cast_mode"] == "all"


def test_cast_modes_reach_neuronx_cc_as_auto_cast_and_not_neuron_cc():
    from types import SimpleNamespace

    from raybench.backends.neuron import cast_compiler_args

    # Stand-ins for the SDK's extension modules: only their names decide the flags.
    assert cast_compiler_args(SimpleNamespace(__name__="torch_neuronx"), "matmult") == ["--auto-cast", "matmult"]
    assert cast_compiler_args(SimpleNamespace(__name__="tensorflow_neuronx"), "all") == ["--auto-cast", "all"]
    assert cast_compiler_args(SimpleNamespace(__name__="torch_neuron"), "all") == []  # Inf1: --fast-math
    assert cast_compiler_args(SimpleNamespace(__name__="torch_neuronx"), None) == []
