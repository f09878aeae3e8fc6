"""What the command line says when every config fails: the error once, exit status 1."""

from __future__ import annotations

import pytest

from test_cli import run_cli  # the same subprocess helpers (tests/cli is on sys.path)

pytestmark = pytest.mark.integration  # the command line through real subprocesses


@pytest.mark.ray
def test_a_wrong_input_shape_is_said_once_and_the_sweep_stops(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    torch.jit.script(model).save(str(tmp_path / "cnn.pt"))
    result = run_cli("run", "cnn.pt", "--input-shape", "1,10", "--duration", "1", cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("raybench run: error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("raybench run: error: the first 2 configs failed before measuring")
    assert "but got input of size: [1, 10]" in errors[0] and "(--keep-going runs every config)" in errors[0]
    assert "Traceback" not in result.stderr
    failures = [line for line in result.stderr.splitlines() if "failed (error)" in line]
    assert len(failures) == 2 and failures[1].endswith("the same error as the config before")
    assert len(result.stderr.splitlines()) < 12


@pytest.mark.ray
def test_a_config_that_never_converged_fails_the_run_unless_allowed(tmp_path):
    args = ("run", "raybench.testing:SimulatedDevice", "--input-shape", "1", "--n-models", "1", "--workers", "1",
            "--duration", "1", "--stability", "0.000001", "--max-duration", "1.5", "--verbosity", "0")
    result = run_cli(*args, cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "did not converge: max_duration (1.5 s) ended the config before stability was reached" in result.stderr
    assert "(--allow-unstable accepts it)" in result.stderr
    header, _units, row = result.stdout.splitlines()[:3]
    assert header.split()[-1] == "converged" and row.split()[-1] == "False"
    allowed = run_cli(*args, "--allow-unstable", cwd=str(tmp_path))
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert "did not converge" in allowed.stderr
