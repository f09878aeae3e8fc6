"""Command-line conventions: --version, short flags, ranges, --quiet, --json, --config files,
errors that name flags, and what the demo says to try next."""

from __future__ import annotations

import json

import pytest

from raybench.cli.args import counts_or_max, positive_ints
from raybench.cli.config_file import read_run_config
from raybench.cli.flags import as_flags
from raybench.cli.main import build_parser, main
from raybench.core.errors import ConfigError
from raybench.core.version import __version__
from test_cli import run_cli  # the same subprocess helpers (tests/cli is on sys.path)


def run_parser():
    parser = build_parser()
    return parser, parser._subparsers._group_actions[0].choices["run"]


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"raybench {__version__}"


def test_short_flags_and_ranges():
    parser, _ = run_parser()
    args = parser.parse_args(["run", "m.pt", "-s", "1,3", "-b", "1:4:2", "-n", "1:3,max", "-w", "1:2", "-d", "5",
                              "-o", "out", "-q", "--json"])
    assert args.input_shape == [(1, 3)] and args.batch_sizes == [1, 3]
    assert args.n_models == [1, 2, 3, "max"] and args.workers == [1, 2]
    assert (args.duration, args.out, args.quiet, args.json) == (5.0, "out", True, True)
    assert positive_ints("1:8:2") == [1, 3, 5, 7] and counts_or_max("2:2") == [2]
    for bad in ("4:1", "0:2", "1:2:3:4", "1:x", "1:100000000"):
        with pytest.raises(Exception, match="START:STOP"):
            positive_ints(bad)


def test_errors_name_the_flags_not_the_api_arguments():
    assert as_flags("workers_per_model must be at most 32,767 (got 40000)") == "--workers must be at most 32,767 (got 40000)"
    assert as_flags("filename already exists: 'x' (pass overwrite=True to replace it)").endswith("(pass --overwrite to replace it)")
    assert as_flags("slo['x'] must be a positive number") == "--slo['x'] must be a positive number"
    assert as_flags("the rate of each probe") == "the rate of each probe"  # prose is left alone


def test_a_config_file_gives_defaults_that_flags_override(tmp_path):
    (tmp_path / "run.toml").write_text('input_shape = [[1, 3]]\nn-models = [1, 2]\nworkers = "1:3"\n'
                                       'duration = 2\narrival = "poisson"\nrate = 50\nplots = true\n')
    parser, run = run_parser()
    run.set_defaults(**read_run_config(str(tmp_path / "run.toml"), run))
    args = parser.parse_args(["run", "m.pt", "-w", "4"])
    assert args.input_shape == [(1, 3)] and args.n_models == [1, 2] and args.duration == 2.0
    assert args.workers == [4]  # the flag wins
    assert (args.arrival, args.rate, args.plots) == ("poisson", 50.0, True)


@pytest.mark.parametrize(("text", "message"), [
    ("n_modles = [1]", "'n_modles' is not an option of 'raybench run'; did you mean 'n-models'?"),
    ("duration = -1", "run.toml: duration must be a finite number > 0 (got '-1')"),
    ('arrival = "sometimes"', "run.toml: arrival must be one of 'closed', 'constant', 'poisson'"),
    ("plots = 1", "run.toml: plots must be true or false (got 1)"),
    ("duration =", "is not valid TOML"),
])
def test_a_bad_config_file_is_refused_naming_the_key(tmp_path, text, message):
    (tmp_path / "run.toml").write_text(text + "\n")
    _, run = run_parser()
    with pytest.raises(ConfigError) as caught:
        read_run_config(str(tmp_path / "run.toml"), run)
    assert message in str(caught.value)


@pytest.mark.integration
@pytest.mark.ray
def test_run_with_a_config_file_prints_a_json_summary(tmp_path):
    (tmp_path / "run.toml").write_text('input_shape = [[1]]\nn_models = [1]\nworkers = "1:2"\nduration = 1\n')
    result = run_cli("run", "raybench.testing:SimulatedDevice", "--config", "run.toml", "-w", "1", "--json", "-q",
                     "-o", "out", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert [r["workers_per_model"] for r in summary["reports"]] == [1]  # -w 1 over the file's 1:2
    assert summary["files"]["parquet"].endswith("SimulatedDevice.results.parquet") and not summary["interrupted"]
    assert "raybench INFO" not in result.stderr  # --quiet
