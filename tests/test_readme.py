"""The README's first example runs as pasted: a fresh interpreter, an embedded local Ray."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.integration  # a subprocess that starts its own Ray
@pytest.mark.ray
def test_the_readmes_first_example_runs_as_pasted(tmp_path: Path) -> None:
    first = README.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    # Only the duration is shortened (the suite's ~1 s rule); the rest is the text as written.
    assert "duration=2" in first
    script = tmp_path / "example.py"
    script.write_text(first.replace("duration=2", "duration=1"))
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("RAY_ADDRESS", None)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout.splitlines()
    assert table[0].split()[:3] == ["throughput_avg", "latency_ms_p50", "latency_ms_p99"] and len(table) == 5
    assert len(list(tmp_path.glob("Matmul.results-*.csv"))) == 1
