"""The command line on streaming models: a generator class and a transformers model directory."""

from __future__ import annotations

import json

import pytest

from raybench.cli import model as _cli_model
from test_cli import run_cli, table_header, write_module  # the same subprocess helpers (tests/cli is on sys.path)

pytestmark = pytest.mark.integration  # the command line through real subprocesses


@pytest.mark.ray
def test_run_a_streaming_class_with_an_slo(tmp_path):
    write_module(tmp_path, "cli_stream_model", """
        import time

        class Tokens:
            def __call__(self, x):
                time.sleep(0.01)
                yield "first"
                for _ in range(4):
                    time.sleep(0.002)
                    yield "next"
    """)
    result = run_cli("run", "cli_stream_model:Tokens", "--input-shape", "1", "--duration", "1", "--n-models", "1",
                     "--workers", "1", "--slo", "ttft_ms=1000,itl_ms_p99=1000", "--verbosity", "0", "--out", "out",
                     cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    header = table_header(result.stdout.splitlines()[0])
    assert header[:2] == ["output", "ttft p50"] and header[-1] == "slo ok"
    assert result.stdout.splitlines()[1].split()[:2] == ["tokens/s", "ms"]
    (report,) = json.loads((tmp_path / "out" / "latest" / "Tokens.results.json").read_text())
    assert report["output_tokens_avg"] == 5 and report["slo_ok"] is True
    assert "ttft_ms_p99" in (tmp_path / "out" / "latest" / "Tokens.results.csv").read_text().splitlines()[0]
    shown = run_cli("report", "out", cwd=str(tmp_path))
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "ttft p50" in shown.stdout.splitlines()[0]


def test_a_transformers_directory_goes_to_raybench_llm(tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "config.json").write_text("{}")
    assert _cli_model.resolve_model(str(tmp_path / "tiny")).entry == "llm"


def test_a_bad_slo_is_a_usage_error(tmp_path):
    result = run_cli("run", "x:Y", "--input-shape", "1", "--slo", "ttft_ms", cwd=str(tmp_path))
    assert result.returncode == 2
    assert "argument --slo: must be NAME=MS pairs" in result.stderr
