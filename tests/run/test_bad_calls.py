"""Bad calls of the public API: each raises ConfigError with the exact message naming the argument.

Nothing here reaches Ray: every call is refused while its arguments are checked. Should a call
get past the checks (a regression), the patched ``connect_ray`` fails it at once instead of
letting it start a cluster and a 60 s sweep.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import raybench
from raybench.run import api as _api
from raybench import model_index
from raybench.testing import SimulatedDevice

INDEX = {"NeuronPerf_version": "1", "model_name": "m", "model_configs": []}
UNITS = "'s', 'ms', 'us', 'ns'"
POSITIVE = "must be a positive int or a list of them"


class NeedsArgs:
    """A model class whose constructor needs an argument (copies construct with none)."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __call__(self) -> None:
        """Never called."""


def cpu(**kwargs: object) -> Callable[[Path], object]:
    return lambda _: raybench.cpu.benchmark(SimulatedDevice, 1, **kwargs)


def existing_csv(tmp_path: Path) -> object:
    (tmp_path / "r.csv").write_text("old")
    return raybench.write_csv([{"a": 1}], tmp_path / "r.csv")


CASES = [
    pytest.param(cpu(n_models=0), f'n_models {POSITIVE} (or "max") (got 0)', id="n_models-zero"),
    pytest.param(cpu(n_models=[1, 0]), f'n_models {POSITIVE} (or "max") (got [1, 0])', id="n_models-list-zero"),
    pytest.param(cpu(n_models="all"), f"n_models {POSITIVE} (or \"max\") (got 'all')", id="n_models-str"),
    pytest.param(cpu(n_models=1.5), f'n_models {POSITIVE} (or "max") (got 1.5)', id="n_models-float"),
    pytest.param(cpu(n_models=True), f'n_models {POSITIVE} (or "max") (got True)', id="n_models-bool"),
    pytest.param(cpu(n_models=[]), f'n_models {POSITIVE} (or "max") (got [])', id="n_models-empty"),
    pytest.param(cpu(workers_per_model=0), f"workers_per_model {POSITIVE} (got 0)", id="workers-zero"),
    pytest.param(cpu(workers_per_model="max"), f"workers_per_model {POSITIVE} (got 'max')", id="workers-max"),
    pytest.param(cpu(pipeline_sizes=0), f"pipeline_sizes {POSITIVE} (got 0)", id="pipeline-zero"),
    pytest.param(cpu(batch_sizes=-1), f"batch_sizes {POSITIVE} (got -1)", id="batch-negative"),
    pytest.param(cpu(batch_sizes=[1, 2]),
                 "inputs has 1 input set but batch_sizes has 2 entries; give a list of inputs with one "
                 "input set per batch size", id="batch-sizes-without-input-list"),
    pytest.param(lambda _: raybench.cpu.benchmark(SimulatedDevice, [1, 2, 3], batch_sizes=[1, 2]),
                 "inputs has 3 input sets but batch_sizes has 2 entries; give one input set per batch size",
                 id="inputs-vs-batch-sizes"),
    pytest.param(lambda _: raybench.cpu.benchmark(SimulatedDevice, []), "inputs must not be an empty list (got [])",
                 id="inputs-empty"),
    pytest.param(cpu(duration=0), "duration must be a finite number > 0 (seconds) (got 0)", id="duration-zero"),
    pytest.param(cpu(duration="5"), "duration must be a finite number > 0 (seconds) (got '5')", id="duration-str"),
    pytest.param(cpu(duration=float("nan")), "duration must be a finite number > 0 (seconds) (got nan)", id="duration-nan"),
    pytest.param(cpu(duration=float("inf")), "duration must be a finite number > 0 (seconds) (got inf)", id="duration-inf"),
    pytest.param(cpu(multiprocess="yes"), "multiprocess must be True or False (got 'yes')", id="multiprocess-str"),
    pytest.param(cpu(multiinterpreter=None), "multiinterpreter must be True or False (got None)",
                 id="multiinterpreter-none"),
    pytest.param(cpu(max_timer_rows=0), "max_timer_rows must be a positive int (got 0)", id="max-timer-rows-zero"),
    pytest.param(cpu(n_model=1), "benchmark got an unknown argument 'n_model'; did you mean 'n_models'?",
                 id="unknown-argument"),
    pytest.param(cpu(warmup=-1), "warmup must be a non-negative int number of inferences per worker or a time like '2s' or '500ms' (got -1)",
                 id="warmup-negative"),
    pytest.param(cpu(warmup=1.5), "warmup must be a non-negative int number of inferences per worker or a time like '2s' or '500ms' (got 1.5)",
                 id="warmup-float"),
    pytest.param(cpu(performance_levels=4), "performance_levels must be an int from 0 to 3 or a list of them (got 4)",
                 id="performance-level-4"),
    pytest.param(cpu(preprocess_fn=1), "preprocess_fn must be callable (got 1)", id="preprocess-fn"),
    pytest.param(cpu(postprocess_fn="x"), "postprocess_fn must be callable (got 'x')", id="postprocess-fn"),
    pytest.param(cpu(env_setup_fn=3), "env_setup_fn must be callable (got 3)", id="env-setup-fn"),
    pytest.param(cpu(setup_fn=[]), "setup_fn must be callable (got [])", id="setup-fn"),
    pytest.param(cpu(stats_interval=0), "stats_interval must be a finite number > 0 (seconds) (got 0)", id="stats-interval"),
    pytest.param(cpu(cost_per_hour=-1), "cost_per_hour must be a finite number >= 0 (got -1)", id="cost-negative"),
    pytest.param(cpu(device_type="tpu"), "device_type must be one of 'auto', 'cpu', 'cuda', 'gpu', 'neuron' (got 'tpu')",
                 id="device-type"),
    pytest.param(cpu(multiprocess=False, device_type="neuron"),
                 "multiprocess=False runs copies in this process, on the CPU only (got device_type 'neuron')",
                 id="in-process-neuron"),
    pytest.param(cpu(verbosity=5), "verbosity must be 0, 1 or 2 (got 5)", id="verbosity"),
    pytest.param(lambda _: raybench.cpu.benchmark("model.pt", 1), "model_class must be a class (got the path 'model.pt')",
                 id="model-class-path"),
    pytest.param(lambda _: raybench.cpu.benchmark(NeedsArgs, 1),
                 "model_class must be constructible with no arguments (NeedsArgs: missing a required argument: 'x')",
                 id="model-class-needs-args"),
    pytest.param(lambda _: raybench.benchmark(3, "x.bin", 1), "load_fn must be callable (got 3)", id="load-fn"),
    pytest.param(lambda _: raybench.benchmark(lambda p: p, "x.bin", 1, pipeline_sizes=[1, -2]),
                 f"pipeline_sizes {POSITIVE} (got [1, -2])", id="generic-pipeline-sizes"),
    pytest.param(lambda _: raybench.torch.benchmark("/nonexistent/m.pt", 1),
                 "model_filename must name an existing file (got '/nonexistent/m.pt')", id="torch-missing-file"),
    pytest.param(lambda _: raybench.torch.benchmark(5, 1),
                 "model must be a TorchScript file name or an nn.Module class (got 5)", id="torch-model-int"),
    pytest.param(existing_csv, "filename already exists: '{tmp}/r.csv' (pass overwrite=True to replace it)",
                 id="write-csv-exists"),
    pytest.param(lambda _: raybench.timestamp_convert(1, "sec", "ms"), f"from_unit must be one of {UNITS} (got 'sec')",
                 id="timestamp-from-unit"),
    pytest.param(lambda _: raybench.timestamp_convert(1, "s", "MS"), f"to_unit must be one of {UNITS} (got 'MS')",
                 id="timestamp-to-unit"),
    pytest.param(lambda _: raybench.timestamp_convert(1, None, "s"), f"from_unit must be one of {UNITS} (got None)",
                 id="timestamp-from-none"),
    pytest.param(lambda _: model_index.filter(INDEX, batch=1),
                 "filter keys must be among batch_size, batch_sizes, compile_s, filename, filenames, performance_level, "
                 "performance_levels, pipeline_size, pipeline_sizes, status, statuses (got 'batch')", id="filter-key"),
    pytest.param(lambda _: model_index.filter(INDEX, batch_size=1, batch_sizes=[1]),
                 "filter keys must name each field once (got 'batch_size' both as singular and plural)",
                 id="filter-key-twice"),
    pytest.param(lambda _: model_index.filter([], batch_size=1),
                 "index must be a dict with keys NeuronPerf_version, model_name, model_configs (got list)",
                 id="filter-not-an-index"),
    pytest.param(lambda _: model_index.filter({**INDEX, "model_configs": [1]}),
                 "index['model_configs'][0] must be a dict (got int)", id="filter-config-not-dict"),
    pytest.param(lambda _: model_index.filter({**INDEX, "model_configs": [{"filename": "a"}]}),
                 "index['model_configs'][0] must have the key 'batch_size' (got keys ['filename'])",
                 id="filter-config-missing-field"),
    # -- issue 10: hostile but realistic calls --------------------------------------------
    pytest.param(cpu(return_timers="no"), "return_timers must be True or False (got 'no')", id="return-timers-str"),
    pytest.param(cpu(ray_init_kwargs="x"), "ray_init_kwargs must be a dict of ray.init keyword arguments (got 'x')",
                 id="ray-init-kwargs-str"),
    pytest.param(cpu(ray_init_kwargs={"num_cpu": 2}),
                 "ray_init_kwargs must hold ray.init keyword arguments (got 'num_cpu'; did you mean 'num_cpus'?)",
                 id="ray-init-kwargs-unknown"),
    pytest.param(cpu(workers_per_model=99999999999999999999),
                 "workers_per_model must be at most 32,767: timer rows carry it as a 16-bit id "
                 "(got 99999999999999999999)", id="workers-huge"),
    pytest.param(cpu(workers_per_model=10_000),
                 "workers_per_model must be at most 7,709 here: each worker holds at least 0.14 MB of timer "
                 "buffers and a copy may hold 1024 MB (got 10,000)", id="workers-over-buffer-budget"),
    pytest.param(cpu(workers_per_model=5_000, preprocess_fn=lambda x: x, arrival="poisson", rate=10),
                 "workers_per_model must be at most 3,196 here: each worker holds at least 0.34 MB of timer "
                 "buffers and a copy may hold 1024 MB (got 5,000)", id="workers-over-budget-with-stages"),
    pytest.param(cpu(n_models=40_000), "n_models must be at most 32,767: timer rows carry it as a 16-bit id (got 40000)",
                 id="n-models-huge"),
    pytest.param(cpu(load_timeout=0), "load_timeout must be a finite number > 0 (seconds) (got 0)", id="load-timeout"),
    pytest.param(cpu(warmup_timeout=float("inf")), "warmup_timeout must be a finite number > 0 (seconds) (got inf)",
                 id="warmup-timeout"),
    pytest.param(cpu(arrival="constant", rate=1e12),
                 "rate must be at most 1e+09 sends per second, one per nanosecond (got 1000000000000.0)",
                 id="rate-beyond-the-clock"),
    pytest.param(cpu(stability=0.1, stability_window=1e-6),
                 "stability_window must be a finite number >= 0.1 (seconds: a fifth of the 0.5 s interval at which "
                 "copies ship their rows) (got 1e-06)", id="stability-window-tiny"),
    pytest.param(cpu(preprocess_fn=lambda x, lock=threading.Lock(): x),
                 "preprocess_fn cannot be sent to the copies: TypeError: cannot pickle '_thread.lock' object",
                 id="unpicklable-hook"),
    pytest.param(lambda _: raybench.cpu.benchmark(WithLock, 1),
                 "model_class cannot be sent to the copies: TypeError: cannot pickle '_thread.lock' object",
                 id="unpicklable-model"),
    pytest.param(lambda _: raybench.benchmark(lambda name, f=open(os.devnull): f, "m", 1, setup_fn=_closure_over_lock()),
                 "setup_fn cannot be sent to the copies: TypeError: cannot pickle '_thread.lock' object",
                 id="unpicklable-closure"),
    pytest.param(lambda _: raybench.write_csv(None), "reports must be a list of report dicts (got NoneType)",
                 id="write-csv-none"),
    pytest.param(lambda tmp: raybench.write_json("abc", tmp / "r.json"),
                 "reports must be a list of report dicts (got str)", id="write-json-str"),
    pytest.param(lambda _: raybench.print_reports("abc"), "reports must be a list of report dicts (got str)",
                 id="print-reports-str"),
    pytest.param(lambda _: raybench.print_reports([("config", "result")]),
                 "reports must be a list of report dicts (got an item of type tuple; pass "
                 "raybench.get_reports(results) for a Results)", id="print-reports-pairs"),
    pytest.param(lambda tmp: raybench.write_results([], tmp / "r.parquet"),
                 "results must be a raybench Results (from return_timers=True or read_results) (got list)",
                 id="write-results-list"),
    pytest.param(lambda tmp: raybench.read_results(tmp), "filename must name one results file, not a directory "
                 "(got '{tmp}')", id="read-results-directory"),
    pytest.param(lambda tmp: raybench.read_results(tmp / "gone.parquet"),
                 "filename must name an existing results file (got '{tmp}/gone.parquet')", id="read-results-missing"),
    pytest.param(lambda tmp: raybench.read_results(3), "filename must be a path to a raybench results file (got 3)",
                 id="read-results-not-a-path"),
    pytest.param(lambda tmp: model_index.load(_deep_json(tmp)),
                 "filename must name a JSON model index (got '{tmp}/deep.json': the JSON is nested too deeply to read)",
                 id="deep-json-index"),
    pytest.param(lambda tmp: raybench.torch.benchmark(_deep_json(tmp), 1),
                 "model_filename names a .json file that is neither a model index nor readable JSON "
                 "(got '{tmp}/deep.json': the JSON is nested too deeply to read)", id="deep-json-benchmark"),
]


class WithLock:
    """A model class holding a lock as a class attribute: the class cannot be pickled by value."""

    lock = threading.Lock()

    def __call__(self, x: object) -> object:
        return x


def _closure_over_lock() -> Callable[..., None]:
    lock = threading.Lock()

    def setup(copy_id: int, config: dict, model: object) -> None:
        with lock:
            pass

    return setup


def _deep_json(tmp: Path) -> Path:
    path = tmp / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


@pytest.fixture(autouse=True)
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        msg = "the call passed every check and would have started Ray"
        raise AssertionError(msg)

    monkeypatch.setattr(_api, "connect_ray", refuse)


@pytest.mark.parametrize(("call", "message"), CASES)
def test_bad_call_raises_config_error_naming_the_argument(call: Callable[[Path], object], message: str,
                                                          tmp_path: Path) -> None:
    with pytest.raises(raybench.ConfigError) as excinfo:
        call(tmp_path)
    assert str(excinfo.value) == message.replace("{tmp}", str(tmp_path))


# -- model_index delete / move / copy touch only the index's own model files (hostile indexes) --


def _hostile_index(tmp_path: Path, filename: str) -> tuple[Path, Path]:
    """A project folder with an index listing ``filename``, and a victim folder beside it."""
    project, victim = tmp_path / "project", tmp_path / "victim"
    (project / "models").mkdir(parents=True)
    (project / "models" / "ok.pt").write_bytes(b"ok")
    (project / "keep.txt").write_text("keep")
    (victim / "dir").mkdir(parents=True)
    (victim / "file").write_text("precious")
    (victim / "dir" / "inner").write_text("precious")
    index = model_index.append(model_index.create("models/ok.pt"), model_index.create(filename, batch_size=2))
    model_index.save(index, project / "i.json")
    return project, victim


def _untouched(project: Path, victim: Path) -> None:
    assert (project / "i.json").exists() and (project / "keep.txt").exists()
    assert (project / "models" / "ok.pt").read_bytes() == b"ok"
    assert (victim / "file").read_text() == "precious"
    assert (victim / "dir" / "inner").read_text() == "precious"


HOSTILE_ENTRIES = [
    pytest.param(".", id="dot"),
    pytest.param("..", id="dotdot"),
    pytest.param("../victim/file", id="relative-file"),
    pytest.param("../victim/dir", id="relative-dir"),
    pytest.param("{victim}/file", id="absolute-file"),
    pytest.param("{victim}/dir", id="absolute-dir"),
    pytest.param("models/../../victim/file", id="through-models"),
]


@pytest.mark.parametrize("entry", HOSTILE_ENTRIES)
@pytest.mark.parametrize("operation", ["delete", "move", "copy"])
def test_model_index_operations_refuse_an_entry_outside_the_model_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, operation: str) -> None:
    project, victim = _hostile_index(tmp_path, entry.replace("{victim}", str(tmp_path / "victim")))
    monkeypatch.chdir(project)
    calls = {"delete": lambda: model_index.delete("i.json"),
             "move": lambda: model_index.move("i.json", "new.json", "out"),
             "copy": lambda: model_index.copy("i.json", "new.json", "out")}
    with pytest.raises(raybench.ConfigError, match=r"entry 1 .* is not inside the index's model directory|"
                                                   r"entry 1 .*names the index"):
        calls[operation]()
    _untouched(project, victim)
    assert not (project / "out").exists() and not (project / "new.json").exists()


def test_model_index_delete_refuses_a_link_that_leads_outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, victim = _hostile_index(tmp_path, "models/ok.pt")
    (project / "models" / "link.pt").symlink_to(victim / "file")
    model_index.save(model_index.append(model_index.load(project / "i.json"),
                                        model_index.create("models/link.pt", batch_size=4)),
                     project / "i.json", overwrite=True)
    monkeypatch.chdir(project)
    with pytest.raises(raybench.ConfigError, match="entry 2 .*is not inside the index's model directory"):
        model_index.delete("i.json")
    _untouched(project, victim)


def test_model_index_delete_refuses_a_directory_that_is_no_compiled_model(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    project, victim = _hostile_index(tmp_path, "models")
    monkeypatch.chdir(project)
    with pytest.raises(raybench.ConfigError) as excinfo:
        model_index.delete("i.json")
    assert str(excinfo.value) == ("model index 'i.json' entry 1 ('models') is a directory that holds no compiled "
                                  "model (no saved_model.pb); delete, copy and move touch only model files")
    _untouched(project, victim)


def test_model_index_delete_refuses_the_index_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, victim = _hostile_index(tmp_path, "i.json")
    monkeypatch.chdir(project)
    with pytest.raises(raybench.ConfigError, match="entry 1 \\('i.json'\\) names the index file itself"):
        model_index.delete("i.json")
    _untouched(project, victim)


def test_model_index_models_dir_allows_files_beside_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.pt").write_bytes(b"m")
    model_index.save(model_index.create("models/m.pt"), "indexes/i.json")
    with pytest.raises(raybench.ConfigError, match="not inside the index's model directory"):
        model_index.delete("indexes/i.json")
    assert model_index.model_files("indexes/i.json", models_dir="models") == ["models/m.pt"]
    model_index.delete("indexes/i.json", models_dir="models")
    assert not (tmp_path / "models" / "m.pt").exists() and not (tmp_path / "indexes" / "i.json").exists()


def test_cli_index_delete_lists_the_paths_before_asking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from raybench import cli
    project, _ = _hostile_index(tmp_path, "models/ok.pt")
    monkeypatch.chdir(project)
    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "n")
    assert cli.main(["index", "delete", "i.json"]) == 0
    assert prompts == ["delete these 2 paths (the model files of 'i.json', then the index)?\n"
                       "  models/ok.pt\n  i.json\n[y/N] "]
    assert "nothing deleted" in capsys.readouterr().out
    assert (project / "models" / "ok.pt").exists()


def test_cli_index_delete_of_a_hostile_index_removes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from raybench import cli
    project, victim = _hostile_index(tmp_path, ".")
    monkeypatch.chdir(project)
    assert cli.main(["index", "delete", "i.json", "--yes"]) == 2
    assert "is not inside the index's model directory" in capsys.readouterr().err
    _untouched(project, victim)


# -- names that would leave the target directory ----------------------------------------------


def test_a_model_name_with_a_path_cannot_make_writers_leave_their_directory(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    name = "../../victim/pwned"
    index_path = model_index.save(model_index.create("m.pt", model_name=name))
    csv_path = raybench.write_csv([{"model_name": name}])
    json_path = raybench.write_json([{"model_name": name}])
    for path in (index_path, csv_path, json_path):
        assert os.path.dirname(path) == "" and path.startswith("_.._victim_pwned"), path
    assert sorted(os.listdir(tmp_path)) == ["work"]


def test_model_index_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = model_index.save(model_index.create("a.pt"), tmp_path / "i.json")
    with pytest.raises(raybench.ConfigError, match="pass overwrite=True to replace it"):
        model_index.save(model_index.create("b.pt"), path)
    assert model_index.load(path)["model_configs"][0]["filename"] == "a.pt"
    model_index.save(model_index.create("b.pt"), path, overwrite=True)
    assert model_index.load(path)["model_configs"][0]["filename"] == "b.pt"


# -- read_results on files that are not (whole) raybench results ------------------------------


def _damaged(tmp: Path, kind: str) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp / f"{kind}.parquet"
    good = raybench.Results([], [], raybench.TIMER_SCHEMA.empty_table(), {"x": 1})
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        raybench.write_results(good, path)
        path.write_bytes(path.read_bytes()[:-40])
    elif kind == "not-raybench":
        pq.write_table(pa.table({"a": [1, 2]}), path)
    elif kind == "bad-json":
        pq.write_table(pa.table({"a": [1]}).replace_schema_metadata({b"raybench": b"{not json"}), path)
    elif kind == "missing-keys":
        pq.write_table(raybench.TIMER_SCHEMA.empty_table().replace_schema_metadata({b"raybench": b'{"configs": []}'}),
                       path)
    elif kind == "foreign-columns":
        pq.write_table(pa.table({"a": [1]}).replace_schema_metadata(
            {b"raybench": b'{"configs": [], "outcomes": [], "metadata": {}}'}), path)
    return path


@pytest.mark.parametrize(("kind", "message"), [
    ("empty", "filename must name a Parquet results file written by raybench ('{path}' is not one: "),
    ("garbage", "filename must name a Parquet results file written by raybench ('{path}' is not one: "),
    ("truncated", "filename must name a Parquet results file written by raybench ('{path}' is not one: "),
    ("not-raybench", "filename must name a raybench results file (no raybench metadata in '{path}')"),
    ("bad-json", "'{path}' is not a readable raybench results file: its raybench metadata or timers are damaged "
                 "(JSONDecodeError: "),
    ("missing-keys", "'{path}' is not a readable raybench results file: its raybench metadata or timers are damaged "
                     "(KeyError: 'outcomes')"),
    ("foreign-columns", "'{path}' is not a readable raybench results file: its raybench metadata or timers are "
                        "damaged ("),
])
def test_read_results_of_a_damaged_file_names_it_and_what_is_wrong(tmp_path: Path, kind: str, message: str) -> None:
    path = _damaged(tmp_path, kind)
    with pytest.raises(raybench.ConfigError) as info:
        raybench.read_results(path)
    assert str(info.value).startswith(message.replace("{path}", str(path))), str(info.value)


def test_read_results_of_a_folder_holding_two_copies_of_one_file_is_refused(tmp_path: Path) -> None:
    """pyarrow would read both and double every count; raybench reads one file or nothing."""
    import shutil

    results = raybench.Results([], [], raybench.TIMER_SCHEMA.empty_table(), {})
    raybench.write_results(results, tmp_path / "a.parquet")
    shutil.copy(tmp_path / "a.parquet", tmp_path / "b.parquet")
    with pytest.raises(raybench.ConfigError, match="not a directory"):
        raybench.read_results(tmp_path)
