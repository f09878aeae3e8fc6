"""Files written by raybench at e686736 (before the hardening and the re-housing) still load.

``tests/data/legacy`` holds a results Parquet (with a preprocess stage, two configs), the reports
that run printed, and a model index compiled on CPU with its two TorchScript artifacts.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

import raybench
from raybench import model_index
LEGACY = Path(__file__).parent / "data" / "legacy"


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b


def test_a_results_file_of_the_earlier_layout_gives_the_reports_it_was_written_with() -> None:
    results = raybench.read_results(LEGACY / "legacy_sim.results.parquet")
    expected = json.loads((LEGACY / "legacy_sim.reports.json").read_text())
    reports = raybench.get_reports(results)
    assert len(reports) == len(expected) == 2
    for got, want in zip(reports, expected):
        for key, value in want.items():
            assert _same(got[key], value), (key, got[key], value)
    assert results.metadata["versions"]["raybench"] == "0.1.0"
    assert "preprocess_ns" in results.timers.column_names


def test_a_model_index_of_the_earlier_layout_loads_and_benchmarks(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.chdir(LEGACY)
    index = model_index.load("legacy_tiny.json")
    assert [c["batch_size"] for c in index["model_configs"]] == [1, 2]
    assert all(os.path.isfile(c["filename"]) for c in index["model_configs"])
    import torch

    reports = raybench.torch.benchmark("legacy_tiny.json", [torch.randn(1, 4), torch.randn(2, 4)], n_models=1,
                                       workers_per_model=1, duration=0.3, multiprocess=False, verbosity=0)
    assert [(r["batch_size"], r["status"]) for r in reports] == [(1, "finished"), (2, "finished")]
