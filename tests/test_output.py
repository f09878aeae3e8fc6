"""print_reports, write_csv, write_json and the atomic writer."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import numpy as np
import pytest

import raybench
from raybench._output import CSV_COLS, PRINT_COLS, atomic_write_path, print_reports, write_csv, write_json

REPORTS = [
    {"model_name": "m", "throughput_avg": 307.25, "throughput_peak": 310.0, "latency_ms_p50": 3.2514,
     "latency_ms_p99": 3.277, "n_models": 1, "pipeline_size": 1, "workers_per_model": 1, "batch_size": 1,
     "model_filename": "models/a.pt", "cost_per_1m_inf": None},
    {"model_name": "m", "throughput_avg": 2746.0, "throughput_peak": 2800.0, "latency_ms_p50": 5.641,
     "latency_ms_p99": 6.82, "n_models": 16, "pipeline_size": 1, "workers_per_model": 1, "batch_size": 1,
     "model_filename": "models/b.pt", "cost_per_1m_inf": np.float64(0.5)},
]


def printed(*args, **kwargs) -> list[str]:
    out = io.StringIO()
    print_reports(*args, file=out, **kwargs)
    return out.getvalue().splitlines()


def test_table_has_header_and_aligned_columns():
    lines = printed(REPORTS)
    assert lines[0].split() == PRINT_COLS
    assert lines[1].split() == ["307.25", "3.251", "3.277", "1", "1", "1", "1", "models/a.pt"]
    assert lines[2].split() == ["2746.0", "5.641", "6.82", "16", "1", "1", "1", "models/b.pt"]
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    assert [m.start() for m in re.finditer(r"\S+", lines[2])] == starts


def test_sort_happens_even_when_the_sort_column_is_not_printed():
    lines = printed(REPORTS, cols=["n_models"], sort_by="throughput_peak", reverse=True)
    assert [line.strip() for line in lines] == ["n_models", "16", "1"]


def test_missing_values_sort_last_and_print_as_na():
    reports = [{"a": None, "b": 1}, {"a": 2.0, "b": 2}]
    assert [line.split() for line in printed(reports, cols=["a", "b"], sort_by="a")] == [["a", "b"], ["2.0", "2"], ["N/A", "1"]]


def test_unknown_sort_key_is_refused():
    with pytest.raises(raybench.ConfigError, match=r"^sort_by must be a report key such as 'throughput_peak' \(got 'nope'\)$"):
        printed(REPORTS, sort_by="nope")


def test_csv_round_trip_with_na(tmp_path):
    path = write_csv(REPORTS, tmp_path / "out.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == CSV_COLS
    row = dict(zip(rows[0], rows[2]))
    assert row["throughput_avg"] == "2746.0"
    assert row["cost_per_1m_inf"] == "0.5"
    assert dict(zip(rows[0], rows[1]))["cost_per_1m_inf"] == "N/A"
    assert dict(zip(rows[0], rows[1]))["instance_type"] == "N/A"


def test_json_round_trip_converts_numpy_scalars(tmp_path):
    path = write_json(REPORTS, tmp_path / "out.json")
    with open(path) as f:
        data = json.load(f)
    assert data[1]["cost_per_1m_inf"] == 0.5
    assert data[0] == {k: v for k, v in REPORTS[0].items()}


def test_default_file_names_follow_neuronperf(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert re.fullmatch(r"m\.results-\d{8}-\d{6}\.csv", write_csv(REPORTS))
    assert re.fullmatch(r"m\.results-\d{8}-\d{6}\.json", write_json(REPORTS))
    assert len(os.listdir(tmp_path)) == 2


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    with pytest.raises(OSError), atomic_write_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write("partial")
        raise OSError("disk full")
    assert not target.exists()
    assert os.listdir(tmp_path / "sub") == []


def test_atomic_write_replaces_the_target(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with atomic_write_path(target) as tmp, open(tmp, "w") as f:
        f.write("new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["f.txt"]
