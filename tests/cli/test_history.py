"""Run folders and the latest pointer (raybench.cli.history), on real files. Pure: no Ray."""

from __future__ import annotations

import datetime
import os

import pytest

import raybench
from raybench.cli.history import make_run_folder, point_latest, previous_run, results_file

T0 = datetime.datetime(2026, 12, 2, 15, 0, 0, tzinfo=datetime.timezone.utc)


def run_at(history, model: str, minute: int, second: int = 0) -> str:
    """A run folder of ``model`` as run --out writes it: a results file inside, latest on it."""
    folder = make_run_folder(str(history), model, T0.replace(minute=minute, second=second))
    with open(os.path.join(folder, f"{model}.results.parquet"), "wb") as f:
        f.write(b"stand-in: the history code only looks at names")
    point_latest(folder)
    return folder


def test_each_run_gets_its_own_utc_named_folder_even_in_the_same_second(tmp_path) -> None:
    first = make_run_folder(str(tmp_path / "h"), "resnet", T0)
    second = make_run_folder(str(tmp_path / "h"), "resnet", T0)
    assert os.path.basename(first) == "resnet-20261202T150000Z"
    assert os.path.basename(second) == "resnet-20261202T150000Z-2"
    for bad in ("../evil/name", ".hidden", ""):
        with pytest.raises(raybench.ConfigError, match="--model-name must not hold a path separator"):
            make_run_folder(str(tmp_path / "h"), bad, T0)


def test_latest_points_at_the_newest_run_and_is_replaced(tmp_path) -> None:
    run_at(tmp_path, "m", 1)
    newest = run_at(tmp_path, "m", 2)
    assert os.path.realpath(tmp_path / "latest") == os.path.realpath(newest)
    assert results_file(str(tmp_path), "NEW") == os.path.join(newest, "m.results.parquet")
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".latest")]  # no temporary left


def test_a_run_folder_and_a_file_name_their_results(tmp_path) -> None:
    folder = run_at(tmp_path, "m", 1)
    assert results_file(folder, "BASE") == os.path.join(folder, "m.results.parquet")
    assert results_file("x.parquet", "BASE") == "x.parquet"
    (tmp_path / "empty").mkdir()
    with pytest.raises(raybench.ConfigError, match="RESULTS must be a results file, a run folder or a history"):
        results_file(str(tmp_path / "empty"), "RESULTS")


def test_against_latest_is_the_run_before_of_the_same_model(tmp_path) -> None:
    first = run_at(tmp_path, "m", 1)
    run_at(tmp_path, "other", 2)
    second = run_at(tmp_path, "m", 3)
    third = run_at(tmp_path, "m", 3)  # same second: -2
    assert previous_run(third, "latest") == os.path.join(second, "m.results.parquet")
    assert previous_run(second, "latest") == os.path.join(first, "m.results.parquet")
    assert previous_run(str(tmp_path / "latest"), "latest") == os.path.join(second, "m.results.parquet")
    assert previous_run(str(tmp_path), "latest") == os.path.join(second, "m.results.parquet")


def test_against_a_history_folder_is_its_newest_run_of_the_model(tmp_path) -> None:
    new = run_at(tmp_path / "ci", "m", 5)
    run_at(tmp_path / "main", "m", 1)
    newest_main = run_at(tmp_path / "main", "m", 2)
    assert previous_run(new, str(tmp_path / "main")) == os.path.join(newest_main, "m.results.parquet")


def test_a_first_run_has_nothing_to_compare_against(tmp_path) -> None:
    only = run_at(tmp_path, "m", 1)
    run_at(tmp_path, "other", 2)
    with pytest.raises(raybench.ConfigError, match="holds no earlier run of 'm' to compare with"):
        previous_run(only, "latest")
    loose = tmp_path / "loose.results.parquet"
    loose.write_bytes(b"")
    with pytest.raises(raybench.ConfigError, match="needs NEW to be a run folder of a history"):
        previous_run(str(loose), "latest")


def test_latest_as_a_text_file_is_followed_where_links_cannot_be_made(tmp_path) -> None:
    folder = make_run_folder(str(tmp_path), "m", T0)
    (tmp_path / "m-20261202T150000Z" / "m.results.parquet").write_bytes(b"")
    (tmp_path / "latest").write_text(os.path.basename(folder) + "\n")
    assert results_file(str(tmp_path), "NEW") == os.path.join(folder, "m.results.parquet")
