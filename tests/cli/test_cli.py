"""The command line, through a real subprocess: run, report, compare, plot, index, demo, --help.

Each real ``run`` starts its own embedded Ray, so there are four (demo, a TorchScript file, a
local class interrupted with Ctrl-C after its first config, a failing class) and the Ray-free
commands read results files made in this process with ``multiprocess=False``.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import raybench
from raybench.cli import index as _cli_index
from raybench.cli import model as _cli_model
from raybench.cli import run as _cli_run
from raybench import model_index
from raybench.cli import build_parser, main
from raybench.cli.table import header
from raybench.testing import make_simulated_device

pytestmark = pytest.mark.integration  # the command line through real subprocesses

COMMANDS: list[tuple[str, ...]] = [
    ("run",), ("report",), ("compare",), ("plot",), ("index",), ("index", "list"), ("index", "filter"),
    ("index", "copy"), ("index", "move"), ("index", "delete"), ("demo",),
]


def cli_env() -> dict[str, str]:
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("RAY_ADDRESS", None)
    env.pop("COLUMNS", None)  # a pipe then gets the whole table, whatever terminal the tests run in
    return env


#: The CLI table's headers for the default columns (raybench.PRINT_COLS), units on the line below.
TABLE_HEADER = ["throughput", "latency p50", "latency p99", "copies", "pipeline", "workers", "batch", "model"]


def table_header(line: str) -> list[str]:
    """The headers of a CLI table's first line (separated by two spaces or more)."""
    return re.split(r"\s{2,}", line.strip())


def run_cli(*args: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "raybench", *args], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, check=False)


def write_module(directory, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


# -- help -------------------------------------------------------------------------------------


def test_help_lists_the_commands(tmp_path):
    result = run_cli("--help", cwd=str(tmp_path))
    assert result.returncode == 0
    for command in ("run", "report", "compare", "plot", "index", "demo"):
        assert f"    {command} " in result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: raybench {' '.join(command)} ")


def test_console_script_runs(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "raybench")
    if not os.path.exists(script):
        pytest.skip("the raybench console script is not installed in this environment")
    result = subprocess.run([script, "run", "--help"], cwd=str(tmp_path), env=cli_env(),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: raybench run ")


def test_help_imports_neither_ray_nor_a_framework(tmp_path):
    code = textwrap.dedent(f"""
        import contextlib, io, sys
        from raybench.cli import main
        for command in {COMMANDS!r}:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                main([*command, "--help"])
        print(",".join(m for m in ("ray", "torch", "tensorflow", "matplotlib") if m in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=cli_env(),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_help_names_what_the_modules_accept(capsys):
    from raybench import compare
    assert _cli_index.COLUMNS == model_index.CONFIG_KEYS
    assert _cli_index.STATUSES == model_index.STATUSES
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(metric in help_text for metric in compare.METRICS)


# -- run: usage errors, before anything starts --------------------------------------------------


def test_a_bad_sweep_option_exits_2_naming_it(tmp_path):
    result = run_cli("run", "model.pt", "--input-shape", "2,8", "--n-models", "0", cwd=str(tmp_path))
    assert result.returncode == 2
    assert ("argument -n/--n-models: must be positive ints, ranges START:STOP[:STEP] or 'max', comma-separated, "
            "e.g. 1,max or 1:8:2 (got '0')") in result.stderr


def test_a_config_error_is_one_line_and_exits_2(tmp_path):
    result = run_cli("run", "raybench.testing:DummyModel", "--input-shape", "1", "--warmup", "-1",
                     "--device", "cpu", cwd=str(tmp_path))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    # Said with the flag's name, not the API argument's.
    assert last.startswith("raybench run: error: --warmup must be a non-negative int") and last.endswith("(got -1)")
    assert "Traceback" not in result.stderr


def test_an_unknown_model_kind_is_refused_naming_the_kinds(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    result = run_cli("run", "model.onnx", "--input-shape", "1", cwd=str(tmp_path))
    assert result.returncode == 2
    assert f"MODEL must be {_cli_model.KINDS} (got 'model.onnx')" in result.stderr


def test_a_run_refused_before_it_starts_leaves_no_run_folder(tmp_path):
    result = run_cli("run", "raybench.testing:DummyModel", "--input-shape", "1", "--out", "out", "--n-models", "0",
                     cwd=str(tmp_path))
    assert result.returncode == 2, result.stderr[-2000:]
    assert not [p for p in (tmp_path / "out").iterdir()] if (tmp_path / "out").exists() else True
    bad = run_cli("run", "raybench.testing:DummyModel", "--input-shape", "1", "--plots", cwd=str(tmp_path))
    assert bad.returncode == 2 and "--plots needs --out" in bad.stderr


# -- run: MODEL and inputs, in process ----------------------------------------------------------


def test_a_local_class_is_shipped_by_value(tmp_path, monkeypatch):
    write_module(tmp_path, "cli_local_model", """
        class Local:
            def __call__(self, x):
                return x + 1
    """)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    target = _cli_model.resolve_model("cli_local_model:Local")
    assert (target.entry, target.name) == ("cpu", "Local")
    from ray import cloudpickle

    data = cloudpickle.dumps(target.model)
    # A copy on a worker that cannot import the module still rebuilds the class.
    monkeypatch.delitem(sys.modules, "cli_local_model")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in (str(tmp_path), "")])
    with monkeypatch.context() as m:
        m.chdir(os.path.dirname(sys.executable))
        assert pickle.loads(data)()(1) == 2


def test_an_nn_module_class_goes_to_raybench_torch(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    write_module(tmp_path, "cli_torch_model", """
        import torch

        class Net(torch.nn.Module):
            def forward(self, x):
                return x * 2
    """)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cli_model.resolve_model("cli_torch_model:Net").entry == "torch"


def test_model_files_go_to_their_framework(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"")
    (tmp_path / "m.keras").write_bytes(b"")
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "saved_model.pb").write_bytes(b"")
    assert _cli_model.resolve_model(str(tmp_path / "m.pt")).entry == "torch"
    assert _cli_model.resolve_model(str(tmp_path / "m.keras")).entry == "tensorflow"
    assert _cli_model.resolve_model(str(tmp_path / "saved")) == _cli_model.ModelTarget(
        "tensorflow", str(tmp_path / "saved"), "saved")


def test_a_model_index_takes_its_framework_from_its_files(tmp_path):
    (tmp_path / "net_b1.pt").write_bytes(b"")
    path = model_index.save(model_index.create(str(tmp_path / "net_b1.pt"), model_name="net"), tmp_path / "net.json")
    assert _cli_model.resolve_model(path) == _cli_model.ModelTarget("torch", path, "net")


def test_random_inputs_take_each_batch_size_as_first_dimension():
    inputs, sizes = _cli_model.build_inputs("cpu", [(1, 3), (1, 5)], ["float32", "int64"], None, [2, 4], seed=0)
    assert sizes == [2, 4]
    assert [tuple(a.shape for a in s) for s in inputs] == [((2, 3), (2, 5)), ((4, 3), (4, 5))]
    assert [a.dtype for a in inputs[0]] == [np.float32, np.int64]
    assert set(np.unique(inputs[1][1])) <= {0, 1}


def test_without_batch_sizes_the_first_dimension_is_the_batch_size():
    pytest.importorskip("torch")
    inputs, sizes = _cli_model.build_inputs("torch", [(8, 4)], None, None, None, seed=0)
    assert sizes == [8]
    assert type(inputs).__module__ == "torch" and tuple(inputs.shape) == (8, 4)


def test_npy_inputs_are_used_as_they_are(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(6, dtype=np.int32).reshape(3, 2))
    inputs, sizes = _cli_model.build_inputs("cpu", None, None, [str(tmp_path / "x.npy")], None, seed=0)
    assert sizes == [3]
    np.testing.assert_array_equal(inputs, np.arange(6, dtype=np.int32).reshape(3, 2))


@pytest.mark.parametrize(("shapes", "dtypes", "files", "sizes", "message"), [
    (None, None, None, None, "inputs must come from --input-shape or from --input files (got neither)"),
    ([(1,)], None, ["x.npy"], None, "inputs must come from --input-shape or from --input files (got both)"),
    ([(1,), (1,)], ["float32"] * 3, None, None,
     "--dtype must be given once (for every input) or once per --input-shape (got 3 --dtype for 2 --input-shape)"),
    ([(1,)], ["str"], None, None, "--dtype must be a numeric numpy dtype such as float32, int64 or bool (got 'str')"),
    ([(1,)], ["bfloat16"], None, None, "--dtype bfloat16 needs a torch model (got a cpu model)"),
])
def test_bad_inputs_are_refused_naming_the_option(shapes, dtypes, files, sizes, message):
    with pytest.raises(raybench.ConfigError) as err:
        _cli_model.build_inputs("cpu", shapes, dtypes, files, sizes, seed=0)
    assert str(err.value) == message


# -- run: real runs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory):
    torch = pytest.importorskip("torch")

    folder = tmp_path_factory.mktemp("torch_run")
    torch.manual_seed(0)
    torch.jit.save(torch.jit.trace(torch.nn.Linear(8, 4).eval(), torch.randn(2, 8)), str(folder / "tiny.pt"))
    result = run_cli("run", "tiny.pt", "--input-shape", "2,8", "--dtype", "float32", "--n-models", "1",
                     "--workers", "1", "--duration", "1", "--out", "out", "--verbosity", "0", cwd=str(folder))
    return folder / "out" / "latest", result


def test_run_a_torchscript_file_prints_the_table_and_writes_csv_json_parquet(torch_run):
    out, result = torch_run
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert table_header(lines[0]) == TABLE_HEADER
    (run_folder,) = [p for p in out.parent.iterdir() if p.name != "latest"]
    assert re.fullmatch(r"tiny-\d{8}T\d{6}Z", run_folder.name)
    assert lines[3:] == [f"{kind}: {os.path.join('out', run_folder.name, 'tiny.results.' + kind)}"
                         for kind in ("csv", "json", "parquet")] + [f"latest: {os.path.join('out', 'latest')}"]
    with open(out / "tiny.results.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["model_name"], row["batch_size"], row["n_models"], row["workers_per_model"]) == ("tiny", "2", "1", "1")
    with open(out / "tiny.results.json") as f:
        reports = json.load(f)
    assert reports[0]["status"] == "finished"
    assert raybench.get_reports(raybench.read_results(out / "tiny.results.parquet")) == reports


def test_a_second_run_keeps_the_first_and_compares_against_it(torch_run):
    out, first = torch_run
    assert first.returncode == 0, first.stderr[-3000:]
    folder = out.parent.parent
    first_run = os.path.realpath(out)
    again = run_cli("run", "tiny.pt", "--input-shape", "2,8", "--dtype", "float32", "--n-models", "1",
                    "--workers", "1", "--duration", "1", "--out", "out", "--verbosity", "0", "--html", "--plots",
                    cwd=str(folder))
    assert again.returncode == 0, again.stderr[-3000:]
    runs = sorted(p.name for p in out.parent.iterdir() if p.name != "latest")
    assert len(runs) == 2 and os.path.realpath(out) != first_run and os.path.isdir(first_run)
    # Every artifact in the run folder: the page and the plots too.
    assert (out / "tiny.report.html").read_text().startswith("<!DOCTYPE html>")
    assert {"latency_cdf.png", "scaling.png"} <= {p.name for p in (out / "plots").iterdir()}
    page = run_cli("report", "out", "--format", "html", "--out", "page.html", cwd=str(folder))
    assert page.returncode == 0 and page.stdout.strip() == "page.html", page.stderr[-2000:]
    assert "<img" in (folder / "page.html").read_text()
    refused = run_cli("report", "out", "--format", "html", cwd=str(folder))
    assert refused.returncode == 2 and "--format html writes a file: name it with --out FILE" in refused.stderr
    compared = run_cli("compare", "out", "--against", "latest", cwd=str(folder))
    assert compared.returncode == 0, compared.stderr[-3000:]
    assert compared.stdout.startswith("base: ")
    assert f"raybench compare: against {os.path.join('out', os.path.basename(first_run))}" in compared.stderr


SLEEPY = """
    import time

    class Sleepy:
        def __call__(self, x):
            time.sleep(0.001)
            return x
"""


@pytest.fixture(scope="module")
def interrupted_class_run(tmp_path_factory):
    """A class from a local file, run with workers 1,2; Ctrl-C once the first config finished."""
    folder = tmp_path_factory.mktemp("class_run")
    write_module(folder, "cli_sleepy_model", SLEEPY)
    args = ["run", "cli_sleepy_model:Sleepy", "--input-shape", "1", "--device", "cpu", "--n-models", "1",
            "--workers", "1,2", "--duration", "3", "--out", "out", "--verbosity", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "raybench", *args], cwd=str(folder), env=cli_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if "config 1 finished" in line:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends; the second config is running
            break
    stdout, stderr = proc.communicate(timeout=300)
    return folder / "out" / "latest", proc.returncode, stdout, "".join(seen) + stderr


def test_run_a_class_from_a_local_file_on_ray_copies(interrupted_class_run):
    out, _, _, stderr = interrupted_class_run
    with open(out / "Sleepy.results.json") as f:
        first = json.load(f)[0]
    assert first["status"] == "finished", stderr[-3000:]
    assert (first["model_filename"], first["device_type"], first["multiprocess"]) == (
        "cli_sleepy_model.Sleepy", "cpu", True)
    assert first["total_infs"] > 0


def test_ctrl_c_writes_the_finished_configs_and_exits_130(interrupted_class_run):
    out, returncode, stdout, stderr = interrupted_class_run
    assert returncode == 130, stderr[-3000:]
    assert f"raybench run: interrupted; 1 configs finished (written to out{os.sep}Sleepy-" in stderr
    assert table_header(stdout.splitlines()[0]) == TABLE_HEADER
    results = raybench.read_results(out / "Sleepy.results.parquet")
    assert results.metadata["interrupted"] is True
    assert [r["workers_per_model"] for r in raybench.get_reports(results)] == [1]


@pytest.mark.ray  # the command starts an embedded Ray
def test_run_exits_1_when_a_config_fails(tmp_path):
    result = run_cli("run", "raybench.testing:FailingModel", "--input-shape", "1", "--device", "cpu",
                     "--n-models", "1", "--workers", "1", "--duration", "1", "--verbosity", "0", cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr[-3000:]
    assert table_header(result.stdout.splitlines()[0]) == TABLE_HEADER
    assert "raybench run: config n_models=1 workers_per_model=1 batch_size=1 pipeline_size=1 error:" in result.stderr
    assert "FailingModel always fails" in result.stderr


# -- report, compare, plot: on results made in this process ---------------------------------------


def simulated_results(service_time_s: float, model_name: str = "sim") -> raybench.Results:
    return raybench.cpu.benchmark(
        make_simulated_device(service_time_s), np.zeros(1), batch_sizes=[1], n_models=[1, 2],
        workers_per_model=[1], duration=1, multiprocess=False, return_timers=True, verbosity=0,
        model_name=model_name,
    )


@pytest.fixture(scope="module")
def results_files(tmp_path_factory):
    """base: a 2 ms simulated device; slow: the same at 4 ms; big: a 4 ms device named sim_big;
    base.json: base's reports."""
    folder = tmp_path_factory.mktemp("results")
    base = simulated_results(0.002)
    raybench.write_results(base, folder / "base.parquet")
    raybench.write_results(simulated_results(0.004), folder / "slow.parquet")
    raybench.write_results(simulated_results(0.004, "sim_big"), folder / "big.parquet")
    raybench.write_json(raybench.get_reports(base), folder / "base.json")
    return folder


def test_report_csv_is_what_write_csv_writes(results_files, tmp_path):
    result = run_cli("report", "base.parquet", "--format", "csv", "--sort-by", "none", cwd=str(results_files))
    assert result.returncode == 0, result.stderr
    reports = raybench.get_reports(raybench.read_results(results_files / "base.parquet"))
    # Both sides in text mode: write_csv ends rows with \r\n, which text mode reads as \n.
    with open(raybench.write_csv(reports, tmp_path / "expected.csv")) as f:
        assert result.stdout == f.read()


def test_report_json_holds_every_report(results_files):
    result = run_cli("report", "base.parquet", "--format", "json", "--sort-by", "n_models", "--reverse",
                     cwd=str(results_files))
    assert result.returncode == 0, result.stderr
    with open(results_files / "base.json") as f:
        expected = json.load(f)
    assert json.loads(result.stdout) == expected[::-1]


def test_report_markdown_is_a_github_table(results_files):
    result = run_cli("report", "base.json", "--format", "markdown", "--cols", "n_models,status,latency_ms_p50",
                     "--sort-by", "none", cwd=str(results_files))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["| n_models | status | latency_ms_p50 |", "|---:|---|---:|"]
    assert [line.split(" | ")[:2] for line in lines[2:]] == [["| 1", "finished"], ["| 2", "finished"]]


def test_report_names_an_unknown_column(results_files):
    result = run_cli("report", "base.parquet", "--cols", "n_models,throughput_avgg", cwd=str(results_files))
    assert result.returncode == 2
    assert ("raybench report: error: --cols must name columns of the rows "
            "(got 'throughput_avgg'; did you mean 'throughput_avg'?)") in result.stderr


def test_compare_a_file_with_itself_passes_and_nothing_is_significant(results_files):
    result = run_cli("compare", "base.parquet", "base.parquet", "--fail-on", "p50:5%,throughput:-5%",
                     "--format", "json", cwd=str(results_files))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["status"] for row in rows] == ["compared", "compared"]
    assert not any(row[f"{m}_significant"] for row in rows for m in ("p50", "p99", "throughput"))


def test_compare_table_states_the_method(results_files):
    result = run_cli("compare", "base.parquet", "slow.parquet", cwd=str(results_files))
    assert result.returncode == 0, result.stderr
    assert "block bootstrap" in result.stdout.splitlines()[-1]


def test_compare_fails_on_a_2x_slower_model(results_files):
    result = run_cli("compare", "base.parquet", "slow.parquet", "--fail-on", "p50:5%", cwd=str(results_files))
    assert result.returncode == 1, result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith("raybench compare: ")]
    assert len(failures) == 2  # both configs
    assert all("p50 rose" in line and "(rule p50:+5%)" in line for line in failures)


def test_compare_of_two_models_hints_at_match_and_pairs_with_it(results_files):
    apart = run_cli("compare", "base.parquet", "big.parquet", cwd=str(results_files))
    assert ("no config paired: the runs share no model_name (model_name: base sim, new sim_big); pair on the "
            "rest with --match batch_size,n_models,workers_per_model,pipeline_size") in apart.stdout
    paired = run_cli("compare", "base.parquet", "big.parquet", "--match",
                     "batch_size,n_models,workers_per_model,pipeline_size", "--fail-on", "p50:5%",
                     cwd=str(results_files))
    assert "sim vs sim_big" in paired.stdout, paired.stdout
    assert "no config paired" not in paired.stdout
    # Paired, the 2x slower model breaks the p50 rule in both configs.
    assert paired.returncode == 1, paired.stderr
    assert sum(line.startswith("raybench compare: ") and "p50 rose" in line
               for line in paired.stderr.splitlines()) == 2
    unknown = run_cli("compare", "base.parquet", "big.parquet", "--match", "batch_sise", cwd=str(results_files))
    assert unknown.returncode == 2 and "--match" in unknown.stderr, unknown.stderr


def test_compare_refuses_a_bad_fail_on_spec(results_files):
    result = run_cli("compare", "base.parquet", "slow.parquet", "--fail-on", "p77:5%", cwd=str(results_files))
    assert result.returncode == 2
    assert "raybench compare: error: fail_on metrics must be one of" in result.stderr


def test_plot_writes_pngs(results_files, tmp_path):
    result = run_cli("plot", str(results_files / "base.parquet"), "--out", "plots", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert paths and all(path.startswith(os.path.join("plots", "")) and path.endswith(".png") for path in paths)
    for path in paths:
        with open(tmp_path / path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_missing_results_file_exits_2(tmp_path):
    result = run_cli("report", "nothing.parquet", cwd=str(tmp_path))
    assert result.returncode == 2
    assert "RESULTS must name an existing results file (got 'nothing.parquet')" in result.stderr


# -- index ------------------------------------------------------------------------------------


@pytest.fixture
def index_dir(tmp_path):
    """models/net_b1.pt, net_b8.pt and net.json listing them, plus a failed b4 compile."""
    (tmp_path / "models").mkdir()
    entries = []
    for batch_size in (1, 8):
        (tmp_path / "models" / f"net_b{batch_size}.pt").write_bytes(b"model")
        entries.append(model_index.create(f"models/net_b{batch_size}.pt", model_name="net", batch_size=batch_size))
    entries.append(model_index.create("models/net_b4.pt", model_name="net", batch_size=4, status="error"))
    model_index.save(model_index.append(*entries), tmp_path / "net.json")
    return tmp_path


def test_index_list_prints_every_entry(index_dir):
    result = run_cli("index", "list", "net.json", cwd=str(index_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert table_header(lines[0]) == [header(key)[0] for key in model_index.CONFIG_KEYS]
    body = [line for line in lines[1:] if line.startswith("models/")]  # after the units line
    assert [line.split()[:2] for line in body] == [
        ["models/net_b1.pt", "1"], ["models/net_b8.pt", "8"], ["models/net_b4.pt", "4"]]


def test_index_filter_writes_the_matching_entries(index_dir):
    result = run_cli("index", "filter", "net.json", "--batch-sizes", "4,8", "--status", "finished",
                     "--out", "net_b8.json", cwd=str(index_dir))
    assert result.returncode == 0, result.stderr
    kept = model_index.load(index_dir / "net_b8.json")
    assert [(c["filename"], c["batch_size"]) for c in kept["model_configs"]] == [("models/net_b8.pt", 8)]


def test_index_filter_prints_json(index_dir):
    result = run_cli("index", "filter", "net.json", "--status", "error", "--format", "json", cwd=str(index_dir))
    assert result.returncode == 0, result.stderr
    assert [entry["batch_size"] for entry in json.loads(result.stdout)] == [4]


def test_index_copy_leaves_the_original(index_dir):
    result = run_cli("index", "copy", "net.json", "backup", cwd=str(index_dir))
    assert result.returncode == 0, result.stderr
    copied = model_index.load(index_dir / "backup" / "net.json")
    assert [c["filename"] for c in copied["model_configs"]][:2] == [
        os.path.join("backup", "net_b1.pt"), os.path.join("backup", "net_b8.pt")]
    assert (index_dir / "backup" / "net_b1.pt").read_bytes() == b"model"
    assert (index_dir / "models" / "net_b1.pt").exists() and (index_dir / "net.json").exists()


def test_index_move_removes_the_original(index_dir):
    result = run_cli("index", "move", "net.json", "moved", cwd=str(index_dir))
    assert result.returncode == 0, result.stderr
    assert (index_dir / "moved" / "net_b8.pt").exists() and (index_dir / "moved" / "net.json").exists()
    assert not (index_dir / "models" / "net_b8.pt").exists() and not (index_dir / "net.json").exists()


def test_index_delete_needs_yes_without_a_terminal(index_dir):
    refused = run_cli("index", "delete", "net.json", cwd=str(index_dir))
    assert refused.returncode == 2
    assert "--yes is required to delete without a terminal to confirm on" in refused.stderr
    assert (index_dir / "net.json").exists()
    result = run_cli("index", "delete", "net.json", "--yes", cwd=str(index_dir))
    assert result.returncode == 0, result.stderr
    assert not (index_dir / "net.json").exists() and not (index_dir / "models" / "net_b1.pt").exists()


# -- demo -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    pytest.importorskip("torch")  # the demo traces a torch model
    out = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--out", str(out / "results"), "--duration", "1", "--verbosity", "0", cwd=str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "results" / "latest", result


def test_demo_prints_the_default_sweep_and_writes_csv_json_parquet(demo_run):
    results_dir, result = demo_run
    assert table_header(result.stdout.splitlines()[0]) == TABLE_HEADER
    with open(results_dir / "demo_mlp.results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # Default sweep on the embedded Ray: n_models [1, MAX] x workers [1, 2].
    assert len(rows) in (2, 4)
    assert {r["workers_per_model"] for r in rows} == {"1", "2"}
    with open(results_dir / "demo_mlp.results.json") as f:
        reports = json.load(f)
    assert all(r["status"] == "finished" for r in reports)
    results = raybench.read_results(results_dir / "demo_mlp.results.parquet")
    assert raybench.get_reports(results) == reports
    assert results.timers.num_rows == sum(r["total_infs"] for r in reports)
    next_steps = result.stdout.split("\nnext:\n")[1]  # what to try next, with the demo's own file
    assert f"raybench report {results_dir} --format markdown" in next_steps
    assert "raybench capacity model.pt" in next_steps


def test_report_command_prints_the_table_of_a_results_file(demo_run):
    results_dir, _ = demo_run
    result = run_cli("report", str(results_dir / "demo_mlp.results.parquet"), cwd=str(results_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert table_header(lines[0]) == TABLE_HEADER
    assert len(lines) >= 3


def test_load_and_stopping_options_reach_the_benchmark_call():
    args = build_parser().parse_args([
        "run", "m.pt", "--input-shape", "1", "--arrival", "poisson", "--rate", "200", "--rate-per", "config",
        "--min-infs", "1000", "--stability", "0.1", "--max-duration", "90", "--stability-window", "2",
        "--warmup", "3s", "--load-timeout", "600", "--warmup-timeout", "5",
    ])
    options = _cli_run._options(args)
    assert {k: options[k] for k in ("arrival", "rate", "rate_per", "min_infs", "stability", "max_duration",
                                    "stability_window", "warmup", "load_timeout", "warmup_timeout")} == {
        "arrival": "poisson", "rate": 200.0, "rate_per": "config", "min_infs": 1000, "stability": 0.1,
        "max_duration": 90.0, "stability_window": 2.0, "warmup": "3s", "load_timeout": 600.0, "warmup_timeout": 5.0,
    }
    plain = _cli_run._options(build_parser().parse_args(["run", "m.pt", "--input-shape", "1"]))
    assert not {"arrival", "rate", "min_infs", "stability"} & set(plain)  # the API's defaults apply
