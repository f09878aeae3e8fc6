"""print_reports, write_csv, write_json and atomic_write_path, checked against hand-made output."""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from raybench.core.errors import ConfigError
from raybench.core.files import atomic_write_path
from raybench.report.output import CSV_COLS, PRINT_COLS, print_reports, write_csv, write_json


def small_report() -> dict[str, object]:
    """The 1-copy config of the example: lower throughput_peak than ``big_report``."""
    return {
        "model_name": "resnet", "model_filename": "models/a.pt", "throughput_avg": 307.25,
        "throughput_peak": 310.0, "latency_ms_p50": 3.2514, "latency_ms_p99": 3.277, "n_models": 1,
        "pipeline_size": 1, "workers_per_model": 1, "batch_size": 1, "cost_per_1m_inf": None,
    }  # fmt: skip


def big_report() -> dict[str, object]:
    """The 16-copy config of the example."""
    return {
        "model_name": "resnet", "model_filename": "models/b.pt", "throughput_avg": 2746.0,
        "throughput_peak": 2800.0, "latency_ms_p50": 5.641, "latency_ms_p99": 6.82, "n_models": 16,
        "pipeline_size": 1, "workers_per_model": 1, "batch_size": 1, "cost_per_1m_inf": 0.125,
    }  # fmt: skip


def printed(reports: Sequence[Mapping[str, Any]], **kwargs: Any) -> str:
    """What print_reports writes for ``reports``."""
    out = io.StringIO()
    print_reports(reports, file=out, **kwargs)
    return out.getvalue()


def read_csv(path: str) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def read_json(path: str) -> object:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --- the column lists --------------------------------------------------------------------------


def test_print_cols_are_neuronperfs() -> None:
    assert PRINT_COLS == [
        "throughput_avg", "latency_ms_p50", "latency_ms_p99", "n_models", "pipeline_size",
        "workers_per_model", "batch_size", "model_filename",
    ]  # fmt: skip


def test_csv_cols_are_neuronperfs() -> None:
    assert CSV_COLS == [
        "model_name", "n_models", "workers_per_model", "pipeline_size", "batch_size", "throughput_avg",
        "throughput_peak", "latency_ms_p0", "latency_ms_p50", "latency_ms_p90", "latency_ms_p95",
        "latency_ms_p99", "latency_ms_p100", "cpu_avg_percent", "cpu_percent_p50", "mem_avg_percent",
        "mem_percent_p50", "e2e_avg_ms", "infer_avg_ms", "total_infs", "total_s", "performance_level",
        "model_filename", "device_type", "instance_type", "cost_per_1m_inf",
    ]  # fmt: skip


# --- print_reports -----------------------------------------------------------------------------


def test_prints_the_default_columns_as_a_left_justified_table_sorted_on_throughput_peak() -> None:
    # Given big first: the default sort (throughput_peak, not a printed column) must reorder.
    # The expected table is kept on one line per row, unwrapped, so its alignment can be seen.
    assert printed([big_report(), small_report()]) == (
        "throughput_avg latency_ms_p50 latency_ms_p99 n_models pipeline_size workers_per_model batch_size model_filename\n"
        "307.25         3.251          3.277          1        1             1                 1          models/a.pt\n"
        "2746.0         5.641          6.82           16       1             1                 1          models/b.pt\n"
    )


def test_a_column_is_as_wide_as_its_widest_cell() -> None:
    reports = [{"k": "a-long-value", "n": 1}, {"k": "b", "n": 22}]
    assert printed(reports, cols=["k", "n"], sort_by=None) == "k            n\na-long-value 1\nb            22\n"


def test_sorts_on_a_column_that_is_not_printed() -> None:
    reports = [{"n_models": 2, "throughput_peak": 5.0}, {"n_models": 3, "throughput_peak": 1.0},
               {"n_models": 1, "throughput_peak": 3.0}]  # fmt: skip
    assert printed(reports, cols=["n_models"]) == "n_models\n3\n1\n2\n"


def test_reverse_sorts_descending() -> None:
    reports = [{"x": 2}, {"x": 3}, {"x": 1}]
    assert printed(reports, cols=["x"], sort_by="x", reverse=True) == "x\n3\n2\n1\n"


@pytest.mark.parametrize(("reverse", "expected"), [(False, "x\n1\n2\nN/A\n"), (True, "x\n2\n1\nN/A\n")])
def test_rows_missing_the_sort_key_come_last(reverse: bool, expected: str) -> None:
    reports: list[dict[str, int | None]] = [{"x": None}, {"x": 2}, {"x": 1}]
    assert printed(reports, cols=["x"], sort_by="x", reverse=reverse) == expected


def test_nan_counts_as_missing_when_sorting() -> None:
    reports = [{"x": 2.0}, {"x": float("nan")}, {"x": 1.0}]
    assert printed(reports, cols=["x"], sort_by="x") == "x\n1.0\n2.0\nN/A\n"


def test_sort_by_none_keeps_the_given_order() -> None:
    reports = [{"x": 2}, {"x": 3}, {"x": 1}]
    assert printed(reports, cols=["x"], sort_by=None) == "x\n2\n3\n1\n"


def test_an_unknown_sort_by_is_refused_with_the_closest_key() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^sort_by must be a key of the reports or None "
        r"\(got 'throughput_peek'; did you mean 'throughput_peak'\?\)$",
    ):
        printed([small_report()], sort_by="throughput_peek")


def test_an_unknown_sort_by_with_nothing_close_is_refused_without_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"^sort_by must be a key of the reports or None \(got 'zzz'\)$"):
        printed([small_report()], sort_by="zzz")


def test_a_sort_column_of_incomparable_values_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"^sort_by must name a column whose values compare with each other \(got 'x': "
    ):
        printed([{"x": 1}, {"x": "a"}], cols=["x"], sort_by="x")


def test_floats_print_rounded_to_3_decimals_without_trailing_zeros() -> None:
    reports = [{"x": 3.2514}, {"x": 307.25}, {"x": 2746.0}, {"x": 0.0004}, {"x": 1.0005}]
    assert printed(reports, cols=["x"], sort_by=None) == "x\n3.251\n307.25\n2746.0\n0.0\n1.0\n"


def test_numpy_scalars_print_like_python_numbers() -> None:
    reports = [{"x": np.float32(3.2514), "n": np.int64(16)}]
    assert printed(reports, cols=["x", "n"], sort_by=None) == "x     n\n3.251 16\n"


def test_none_and_absent_keys_print_as_na() -> None:
    assert printed([{"x": None}], cols=["x", "absent"], sort_by=None) == "x   absent\nN/A N/A\n"


def test_no_reports_print_the_header_alone() -> None:
    assert printed([], cols=["a", "b"]) == "a b\n"


def test_prints_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    print_reports([{"x": 1}], cols=["x"], sort_by=None)
    assert capsys.readouterr().out == "x\n1\n"


# --- write_csv ---------------------------------------------------------------------------------


def test_csv_has_a_header_of_the_columns_then_one_row_per_report(tmp_path: Path) -> None:
    path = write_csv([small_report(), big_report()], tmp_path / "r.csv", cols=["n_models", "throughput_avg"])
    assert read_csv(path) == [["n_models", "throughput_avg"], ["1", "307.25"], ["16", "2746.0"]]


def test_csv_defaults_to_csv_cols(tmp_path: Path) -> None:
    assert read_csv(write_csv([big_report()], tmp_path / "r.csv"))[0] == CSV_COLS


def test_csv_writes_na_for_none_and_for_absent_keys(tmp_path: Path) -> None:
    path = write_csv([small_report()], tmp_path / "r.csv", cols=["cost_per_1m_inf", "instance_type"])
    assert read_csv(path)[1] == ["N/A", "N/A"]


def test_csv_writes_numpy_scalars_as_plain_numbers(tmp_path: Path) -> None:
    path = write_csv([{"a": np.float32(0.5), "b": np.int64(3)}], tmp_path / "r.csv", cols=["a", "b"])
    assert read_csv(path)[1] == ["0.5", "3"]


def test_csv_returns_the_path_as_a_str(tmp_path: Path) -> None:
    assert write_csv([big_report()], tmp_path / "r.csv") == str(tmp_path / "r.csv")


def test_csv_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = write_csv([big_report()], tmp_path / "a" / "b" / "r.csv")
    assert os.path.isfile(path)


def test_csv_default_name_is_model_name_and_local_time_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = datetime.datetime.now().replace(microsecond=0)
    path = write_csv([big_report()])
    after = datetime.datetime.now()
    match = re.fullmatch(r"resnet\.results-(\d{8}-\d{6})\.csv", path)
    assert match is not None and os.listdir(tmp_path) == [path]
    assert before <= datetime.datetime.strptime(match.group(1), "%Y%m%d-%H%M%S") <= after


def test_csv_default_name_without_a_model_name_says_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert re.fullmatch(r"model\.results-\d{8}-\d{6}\.csv", write_csv([{"n_models": 1}]))


def test_csv_that_fails_midway_leaves_no_file(tmp_path: Path) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot format")

    with pytest.raises(RuntimeError, match="cannot format"):
        write_csv([{"a": 1}, {"a": Unprintable()}], tmp_path / "r.csv", cols=["a"])
    assert os.listdir(tmp_path) == []


def test_csv_refuses_an_existing_file_and_leaves_it_alone(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    target.write_text("old")
    with pytest.raises(ConfigError) as excinfo:
        write_csv([big_report()], target)
    assert str(excinfo.value) == f"filename already exists: {str(target)!r} (pass overwrite=True to replace it)"
    assert (target.read_text(), os.listdir(tmp_path)) == ("old", ["r.csv"])


def test_csv_with_overwrite_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    write_csv([small_report()], target, cols=["n_models"])
    write_csv([big_report()], target, cols=["n_models"], overwrite=True)
    assert read_csv(str(target)) == [["n_models"], ["16"]]


# --- write_json --------------------------------------------------------------------------------


def test_json_is_a_list_of_the_reports_with_every_key(tmp_path: Path) -> None:
    reports = [small_report(), {**big_report(), "not_a_csv_col": "kept"}]
    assert read_json(write_json(reports, tmp_path / "r.json")) == reports


def test_json_turns_numpy_scalars_into_python_numbers(tmp_path: Path) -> None:
    path = write_json([{"a": np.float32(0.5), "b": np.int64(16), "c": np.bool_(True)}], tmp_path / "r.json")
    assert read_json(path) == [{"a": 0.5, "b": 16, "c": True}]


def test_json_writes_nan_and_infinity_as_null(tmp_path: Path) -> None:
    path = write_json([{"a": float("nan"), "b": np.float64("inf")}], tmp_path / "r.json")
    assert read_json(path) == [{"a": None, "b": None}]


def test_json_returns_the_path_as_a_str(tmp_path: Path) -> None:
    assert write_json([big_report()], tmp_path / "r.json") == str(tmp_path / "r.json")


def test_json_default_name_is_model_name_and_local_time_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_json([big_report()])
    assert re.fullmatch(r"resnet\.results-\d{8}-\d{6}\.json", path) and os.listdir(tmp_path) == [path]


def test_json_with_an_unrepresentable_value_raises_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json([{"a": object()}], tmp_path / "r.json")
    assert os.listdir(tmp_path) == []


def test_json_refuses_an_existing_file_and_leaves_it_alone(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(ConfigError) as excinfo:
        write_json([big_report()], target)
    assert str(excinfo.value) == f"filename already exists: {str(target)!r} (pass overwrite=True to replace it)"
    assert (target.read_text(), os.listdir(tmp_path)) == ("old", ["r.json"])


def test_json_with_overwrite_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_json([{"a": 1}], target)
    write_json([{"a": 2}], target, overwrite=True)
    assert read_json(str(target)) == [{"a": 2}]


# --- atomic_write_path -------------------------------------------------------------------------


def test_atomic_write_replaces_the_target_when_the_block_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    with atomic_write_path(target) as tmp:
        Path(tmp).write_text("new")
    assert (target.read_text(), os.listdir(tmp_path)) == ("new", ["f.txt"])


def test_atomic_write_leaves_the_target_alone_until_the_block_ends(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    with atomic_write_path(target) as tmp:
        Path(tmp).write_text("new")
        assert target.read_text() == "old"


def test_atomic_write_yields_a_path_in_the_targets_directory(tmp_path: Path) -> None:
    with atomic_write_path(tmp_path / "f.txt") as tmp:
        Path(tmp).write_text("x")
        assert os.path.dirname(tmp) == str(tmp_path) and tmp != str(tmp_path / "f.txt")


def test_atomic_write_error_leaves_no_temporary_and_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(OSError, match="disk full"), atomic_write_path(target) as tmp:
        Path(tmp).write_text("partial")
        raise OSError("disk full")
    assert (target.read_text(), os.listdir(tmp_path)) == ("old", ["f.txt"])


def test_atomic_write_interrupt_leaves_no_temporary(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_write_path(tmp_path / "f.txt") as tmp:
        Path(tmp).write_text("partial")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_atomic_write_creates_missing_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.txt"
    with atomic_write_path(target) as tmp:
        Path(tmp).write_text("x")
    assert target.read_text() == "x"


def test_atomic_write_gives_the_file_the_mode_a_plain_open_would(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with atomic_write_path(tmp_path / "f.txt") as tmp:
        Path(tmp).write_text("x")
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_atomic_write_without_overwrite_refuses_a_file_that_appeared_during_the_block(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    with pytest.raises(ConfigError, match="already exists"), atomic_write_path(target, overwrite=False) as tmp:
        Path(tmp).write_text("new")
        target.write_text("theirs")  # another writer got there first: keep its file
    assert (target.read_text(), os.listdir(tmp_path)) == ("theirs", ["f.txt"])


def test_atomic_write_without_overwrite_writes_a_new_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    with atomic_write_path(target, overwrite=False) as tmp:
        Path(tmp).write_text("new")
    assert (target.read_text(), os.listdir(tmp_path)) == ("new", ["f.txt"])


# --- write_results (the Parquet writer shares atomic_write_path) ---------------------------------


def test_write_results_refuses_an_existing_file_unless_overwrite(tmp_path: Path) -> None:
    from raybench.report.results import Results, read_results, write_results
    from raybench.core.schema import TIMER_SCHEMA

    target = tmp_path / "r.parquet"
    target.write_text("old")
    results = Results([], [], TIMER_SCHEMA.empty_table())
    with pytest.raises(ConfigError) as excinfo:
        write_results(results, target)
    assert str(excinfo.value) == f"filename already exists: {str(target)!r} (pass overwrite=True to replace it)"
    assert target.read_text() == "old"
    write_results(results, target, overwrite=True)
    assert read_results(target).configs == []
