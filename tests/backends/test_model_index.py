"""raybench.model_index: NeuronPerf's model index JSON, round-tripped through real files."""

from __future__ import annotations

import json
import os
import pathlib
import re

import pytest

import raybench
from raybench import model_index
from raybench.core.errors import ConfigError

NEURONPERF_INDEX = pathlib.Path(__file__).parent.parent / "data" / "neuronperf_index.json"
VERSION = f"raybench-{raybench.__version__}"


def _raises(message: str):
    """pytest.raises for a ConfigError whose message is exactly ``message``."""
    return pytest.raises(ConfigError, match=f"^{re.escape(message)}$")


def _config(filename: str, batch_size: int = 1, pipeline_size: int = 1, performance_level: int = 3,
            compile_s: float | None = None, status: str = "finished") -> dict:
    return {"filename": filename, "batch_size": batch_size, "pipeline_size": pipeline_size,
            "performance_level": performance_level, "compile_s": compile_s, "status": status}


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A working directory holding two model files, a SavedModel directory and their index."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net_b1_p1.pt").write_bytes(b"model b1")
    (tmp_path / "models" / "net_b4_p1.pt").write_bytes(b"model b4")
    saved = tmp_path / "models" / "SavedModel"
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"graph")
    (saved / "variables" / "variables.index").write_bytes(b"weights")
    index = model_index.append(
        model_index.create("models/net_b1_p1.pt", model_name="net", compile_s=1.5),
        model_index.create("models/net_b4_p1.pt", model_name="net", batch_size=4, compile_s=2.5),
        model_index.create("models/SavedModel", model_name="net", batch_size=8, pipeline_size=2),
    )
    return model_index.save(index, "net.json")


# create


def test_create_builds_one_config_in_neuronperf_format():
    index = model_index.create("models/net_b2_p1.pt", batch_size=2, performance_level=1, compile_s=3)
    assert index == {
        "NeuronPerf_version": VERSION,
        "model_name": "net_b2_p1",
        "model_configs": [_config("models/net_b2_p1.pt", batch_size=2, performance_level=1, compile_s=3.0)],
    }
    assert isinstance(index["model_configs"][0]["compile_s"], float)


def test_create_defaults():
    assert model_index.create("m.pt")["model_configs"] == [_config("m.pt")]


def test_create_names_a_directory_model_after_the_directory(tmp_path):
    assert model_index.create(str(tmp_path / "SavedModel") + os.sep)["model_name"] == "SavedModel"


def test_create_accepts_a_pathlike_and_stores_a_str(tmp_path):
    index = model_index.create(tmp_path / "m.pt", model_name="mine", status="error")
    assert index["model_name"] == "mine"
    assert index["model_configs"][0]["filename"] == str(tmp_path / "m.pt")
    assert index["model_configs"][0]["status"] == "error"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive int (got 0)"),
        ({"batch_size": True}, "batch_size must be a positive int (got True)"),
        ({"pipeline_size": -1}, "pipeline_size must be a positive int (got -1)"),
        ({"pipeline_size": 2.0}, "pipeline_size must be a positive int (got 2.0)"),
        ({"performance_level": 4}, "performance_level must be an int from 0 to 3 (got 4)"),
        ({"performance_level": -1}, "performance_level must be an int from 0 to 3 (got -1)"),
        ({"compile_s": -1.0}, "compile_s must be None or a finite number of seconds >= 0 (got -1.0)"),
        ({"compile_s": float("nan")}, "compile_s must be None or a finite number of seconds >= 0 (got nan)"),
        ({"compile_s": float("inf")}, "compile_s must be None or a finite number of seconds >= 0 (got inf)"),
        ({"compile_s": "1"}, "compile_s must be None or a finite number of seconds >= 0 (got '1')"),
        ({"status": "done"}, "status must be one of 'finished', 'error' (got 'done')"),
        ({"model_name": ""}, "model_name must be a non-empty str or None (got '')"),
    ],
)
def test_create_rejects_bad_arguments(kwargs, message):
    with _raises(message):
        model_index.create("m.pt", **kwargs)


def test_create_rejects_an_empty_filename():
    with _raises("filename must be a non-empty str (got '')"):
        model_index.create("")


def test_create_rejects_a_filename_that_is_not_a_path():
    with _raises("filename must be a str or os.PathLike (got 3)"):
        model_index.create(3)


# append


def test_append_keeps_order_drops_exact_duplicates_and_takes_the_first_name():
    a = model_index.create("a.pt", model_name="first")
    b = model_index.create("b.pt", model_name="second", batch_size=2)
    a_again = model_index.create("a.pt", model_name="other")
    a_slower = model_index.create("a.pt", compile_s=9.0)  # differs in one field: kept
    index = model_index.append(a, b, a_again, a_slower)
    assert index == {
        "NeuronPerf_version": VERSION,
        "model_name": "first",
        "model_configs": [_config("a.pt"), _config("b.pt", batch_size=2), _config("a.pt", compile_s=9.0)],
    }


def test_append_does_not_change_its_inputs():
    a = model_index.create("a.pt")
    b = model_index.create("b.pt")
    index = model_index.append(a, b)
    index["model_configs"][0]["batch_size"] = 99
    assert a["model_configs"] == [_config("a.pt")]
    assert b["model_configs"] == [_config("b.pt")]


def test_append_of_one_index_returns_an_equal_copy():
    a = model_index.create("a.pt")
    assert model_index.append(a) == a
    assert model_index.append(a) is not a


def test_append_needs_an_index():
    with _raises("indexes must hold at least one index (got none)"):
        model_index.append()


def test_append_names_the_bad_index():
    bad = {"NeuronPerf_version": "1.8.0", "model_name": "m"}
    with _raises("indexes[1] must have the key 'model_configs' (got keys ['NeuronPerf_version', 'model_name'])"):
        model_index.append(model_index.create("a.pt"), bad)


# filter


@pytest.fixture
def sweep():
    return model_index.append(
        model_index.create("b1_p1.pt", batch_size=1, pipeline_size=1),
        model_index.create("b1_p2.pt", batch_size=1, pipeline_size=2, performance_level=2),
        model_index.create("b8_p1.pt", batch_size=8, pipeline_size=1, status="error"),
        model_index.create("b8_p2.pt", batch_size=8, pipeline_size=2, performance_level=0),
    )


def _names(index):
    return [config["filename"] for config in index["model_configs"]]


def test_filter_on_one_value(sweep):
    assert _names(model_index.filter(sweep, batch_size=8)) == ["b8_p1.pt", "b8_p2.pt"]


def test_filter_on_a_list_of_values(sweep):
    assert _names(model_index.filter(sweep, performance_level=[0, 2])) == ["b1_p2.pt", "b8_p2.pt"]


def test_filter_on_several_keys_keeps_configs_matching_all(sweep):
    assert _names(model_index.filter(sweep, batch_size=(1, 8), pipeline_size=2, status="finished")) == [
        "b1_p2.pt", "b8_p2.pt"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"batch_sizes": [8]}, ["b8_p1.pt", "b8_p2.pt"]),
        ({"pipeline_sizes": 2}, ["b1_p2.pt", "b8_p2.pt"]),
        ({"performance_levels": [3]}, ["b1_p1.pt", "b8_p1.pt"]),
        ({"statuses": ["error"]}, ["b8_p1.pt"]),
        ({"filenames": ["b1_p1.pt", "b8_p2.pt"]}, ["b1_p1.pt", "b8_p2.pt"]),
    ],
)
def test_filter_accepts_the_plural_keys_of_neuronperf_docs(sweep, kwargs, expected):
    assert _names(model_index.filter(sweep, **kwargs)) == expected


def test_filter_matches_a_pathlike_filename():
    index = model_index.create("m.pt")
    assert _names(model_index.filter(index, filename=pathlib.Path("m.pt"))) == ["m.pt"]


def test_filter_without_keys_keeps_everything_in_a_new_dict(sweep):
    kept = model_index.filter(sweep)
    assert kept == sweep
    assert kept is not sweep


def test_filter_does_not_change_its_input(sweep):
    before = json.loads(json.dumps(sweep))
    kept = model_index.filter(sweep, batch_size=1)
    kept["model_configs"][0]["status"] = "error"
    kept["model_name"] = "changed"
    assert sweep == before


@pytest.mark.parametrize("key", ["batch_size", "batch_sizes", "status", "performance_level", "filename"])
def test_filter_treats_none_as_no_filter_on_that_key(sweep, key):
    assert model_index.filter(sweep, **{key: None}) == sweep
    assert _names(model_index.filter(sweep, **{key: None}, pipeline_size=2)) == ["b1_p2.pt", "b8_p2.pt"]


def test_filter_can_keep_nothing(sweep):
    assert model_index.filter(sweep, batch_size=[16])["model_configs"] == []


def test_filter_rejects_an_unknown_key_listing_the_allowed_ones(sweep):
    with _raises(
        "filter keys must be among batch_size, batch_sizes, compile_s, filename, filenames, "
        "performance_level, performance_levels, pipeline_size, pipeline_sizes, status, statuses (got 'n_models')"
    ):
        model_index.filter(sweep, n_models=1)


def test_filter_rejects_a_field_given_singular_and_plural(sweep):
    with _raises("filter keys must name each field once (got 'batch_size' both as singular and plural)"):
        model_index.filter(sweep, batch_size=1, batch_sizes=[8])


def test_filter_rejects_a_non_index():
    with _raises("index must be a dict with keys NeuronPerf_version, model_name, model_configs (got list)"):
        model_index.filter([], batch_size=1)


# save


def test_save_writes_the_default_name_into_root_dir_creating_it(tmp_path):
    index = model_index.create("m.pt", model_name="resnet")
    root = tmp_path / "indexes" / "deep"
    path = model_index.save(index, root_dir=root)
    assert path == os.path.join(str(root), "resnet.json")
    assert os.listdir(root) == ["resnet.json"]  # no temporary left behind
    assert json.loads((root / "resnet.json").read_text()) == index


def test_save_defaults_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = model_index.save(model_index.create("m.pt", model_name="resnet"))
    assert path == "resnet.json"
    assert os.listdir(tmp_path) == ["resnet.json"]


def test_save_writes_neuronperf_key_order(tmp_path):
    index = model_index.create("m.pt", compile_s=1.25)
    scrambled = {"model_configs": [dict(reversed(index["model_configs"][0].items()))],
                 "model_name": "m", "NeuronPerf_version": VERSION}
    path = model_index.save(scrambled, tmp_path / "m.json")
    written = json.loads(pathlib.Path(path).read_text())
    assert list(written) == ["NeuronPerf_version", "model_name", "model_configs"]
    assert list(written["model_configs"][0]) == [
        "filename", "batch_size", "pipeline_size", "performance_level", "compile_s", "status"]


def test_save_is_atomic_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = model_index.save(model_index.create("old.pt"), tmp_path / "m.json")
    before = pathlib.Path(path).read_text()

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        model_index.save(model_index.create("new.pt"), path, overwrite=True)
    assert pathlib.Path(path).read_text() == before
    assert os.listdir(tmp_path) == ["m.json"]


def test_save_rejects_a_bad_config_before_writing(tmp_path):
    index = model_index.create("m.pt")
    index["model_configs"][0]["status"] = "running"
    with _raises("index['model_configs'][0]['status'] must be one of 'finished', 'error' (got 'running')"):
        model_index.save(index, tmp_path / "m.json")
    assert os.listdir(tmp_path) == []


# load


def test_load_round_trips_save(tmp_path):
    index = model_index.append(model_index.create("a.pt", compile_s=0.5),
                               model_index.create("b", batch_size=4, status="error"))
    assert model_index.load(model_index.save(index, tmp_path / "i.json")) == index


def test_load_names_a_missing_file(tmp_path):
    missing = str(tmp_path / "nope.json")
    with _raises(f"filename must name an existing model index file (got {missing!r})"):
        model_index.load(missing)


def test_load_names_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    try:
        json.loads("{not json")
    except ValueError as err:
        reason = str(err)
    with _raises(f"filename must name a JSON model index (got {str(path)!r}: {reason})"):
        model_index.load(path)


def test_load_names_the_file_missing_a_key(tmp_path):
    path = tmp_path / "i.json"
    path.write_text(json.dumps({"NeuronPerf_version": "1.8.0", "model_configs": []}))
    with _raises(f"model index {str(path)!r} must have the key 'model_name' "
                 "(got keys ['NeuronPerf_version', 'model_configs'])"):
        model_index.load(path)


def test_load_names_the_config_missing_a_key(tmp_path):
    path = tmp_path / "i.json"
    config = _config("m.pt")
    del config["compile_s"]
    path.write_text(json.dumps({"NeuronPerf_version": "1.8.0", "model_name": "m", "model_configs": [config]}))
    with _raises(f"model index {str(path)!r}['model_configs'][0] must have the key 'compile_s' "
                 "(got keys ['batch_size', 'filename', 'performance_level', 'pipeline_size', 'status'])"):
        model_index.load(path)


def test_load_names_a_bad_field(tmp_path):
    path = tmp_path / "i.json"
    configs = [_config("a.pt"), _config("b.pt", batch_size=0)]
    path.write_text(json.dumps({"NeuronPerf_version": "1.8.0", "model_name": "m", "model_configs": configs}))
    with _raises(f"model index {str(path)!r}['model_configs'][1]['batch_size'] must be a positive int (got 0)"):
        model_index.load(path)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a dict with keys NeuronPerf_version, model_name, model_configs (got list)"),
        ({"NeuronPerf_version": 1.8, "model_name": "m", "model_configs": []},
         "['NeuronPerf_version'] must be a str (got 1.8)"),
        ({"NeuronPerf_version": "1.8.0", "model_name": "m", "model_configs": {}},
         "['model_configs'] must be a list (got dict)"),
        ({"NeuronPerf_version": "1.8.0", "model_name": "m", "model_configs": ["m.pt"]},
         "['model_configs'][0] must be a dict (got str)"),
    ],
)
def test_load_rejects_a_wrong_structure(tmp_path, document, message):
    path = tmp_path / "i.json"
    path.write_text(json.dumps(document))
    separator = "" if message.startswith("[") else " "
    with _raises(f"model index {str(path)!r}{separator}{message}"):
        model_index.load(path)


def test_load_rejects_an_argument_that_is_not_a_path():
    index = model_index.create("m.pt")
    with _raises(f"filename must be a str or os.PathLike naming a model index file (got {index!r})"):
        model_index.load(index)


# resolve_model_path


def test_resolve_model_path_keeps_an_absolute_path(tmp_path):
    absolute = str(tmp_path / "absent.pt")
    assert model_index.resolve_model_path("elsewhere/i.json", absolute) == absolute


def test_resolve_model_path_prefers_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.pt").write_bytes(b"m")
    (tmp_path / "sub" / "models").mkdir(parents=True)
    (tmp_path / "sub" / "models" / "m.pt").write_bytes(b"m")
    assert model_index.resolve_model_path("sub/i.json", "models/m.pt") == "models/m.pt"


def test_resolve_model_path_falls_back_to_the_index_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub" / "models").mkdir(parents=True)
    (tmp_path / "sub" / "models" / "m.pt").write_bytes(b"m")
    assert model_index.resolve_model_path("sub/i.json", "models/m.pt") == os.path.join("sub", "models/m.pt")


def test_resolve_model_path_of_a_missing_file_is_relative_to_the_index(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert model_index.resolve_model_path("sub/i.json", "gone.pt") == os.path.join("sub", "gone.pt")


# copy, move, delete


def test_copy_copies_files_and_directories_and_keeps_the_original(models, tmp_path):
    before = pathlib.Path(models).read_text()
    path = model_index.copy(models, "copied.json", "backup")
    assert path == "copied.json"
    assert pathlib.Path(models).read_text() == before
    assert (tmp_path / "models" / "net_b1_p1.pt").read_bytes() == b"model b1"
    assert (tmp_path / "models" / "SavedModel" / "saved_model.pb").exists()
    assert (tmp_path / "backup" / "net_b1_p1.pt").read_bytes() == b"model b1"
    assert (tmp_path / "backup" / "net_b4_p1.pt").read_bytes() == b"model b4"
    assert (tmp_path / "backup" / "SavedModel" / "variables" / "variables.index").read_bytes() == b"weights"
    copied = model_index.load(path)
    expected = model_index.load(models)
    for config in expected["model_configs"]:
        config["filename"] = os.path.join("backup", os.path.basename(config["filename"]))
    assert copied == expected


def test_copy_accepts_a_loaded_index_dict(models, tmp_path):
    path = model_index.copy(model_index.load(models), "copied.json", "backup")
    assert (tmp_path / "backup" / "net_b4_p1.pt").read_bytes() == b"model b4"
    assert (tmp_path / "models" / "net_b4_p1.pt").exists()
    assert _names(model_index.load(path)) == [
        os.path.join("backup", name) for name in ("net_b1_p1.pt", "net_b4_p1.pt", "SavedModel")]


def test_move_accepts_a_loaded_index_dict_and_leaves_the_index_file(models, tmp_path):
    path = model_index.move(model_index.load(models), "moved.json", "moved")
    assert (tmp_path / "moved" / "SavedModel" / "saved_model.pb").read_bytes() == b"graph"
    assert not (tmp_path / "models" / "net_b1_p1.pt").exists()
    assert os.path.exists(models)  # a dict has no file of its own to remove
    assert model_index.load(path)["model_name"] == "net"


def test_copy_of_an_index_dict_keeps_its_entries_inside_the_working_directory(models, tmp_path):
    index = model_index.load(models)
    index["model_configs"][0]["filename"] = "../outside.pt"
    (tmp_path.parent / "outside.pt").write_bytes(b"not ours")
    with pytest.raises(ConfigError, match=r"^the model index dict entry 0 \('\.\./outside\.pt'\) resolves to .*"
                                          r"not inside the index's model directory"):
        model_index.copy(index, "new.json", "out")
    assert not (tmp_path / "out").exists()


def test_copy_refuses_a_dict_that_is_not_an_index(tmp_path):
    with pytest.raises(ConfigError, match="^old_index must"):
        model_index.copy({"model_configs": []}, "new.json", "out")


def test_move_moves_files_and_directories_and_removes_the_old_index(models, tmp_path):
    path = model_index.move(models, "moved/net.json", "moved/models")
    assert not os.path.exists(models)
    assert not (tmp_path / "models" / "net_b1_p1.pt").exists()
    assert not (tmp_path / "models" / "SavedModel").exists()
    assert (tmp_path / "moved" / "models" / "net_b4_p1.pt").read_bytes() == b"model b4"
    assert (tmp_path / "moved" / "models" / "SavedModel" / "saved_model.pb").read_bytes() == b"graph"
    assert _names(model_index.load(path)) == [
        os.path.join("moved/models", name) for name in ("net_b1_p1.pt", "net_b4_p1.pt", "SavedModel")]


def test_copy_finds_model_files_relative_to_the_index(models, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = model_index.copy(str(tmp_path / "net.json"), "net.json", "copies")
    assert sorted(os.listdir(elsewhere / "copies")) == ["SavedModel", "net_b1_p1.pt", "net_b4_p1.pt"]
    assert path == "net.json"


def test_copy_skips_the_missing_file_of_a_failed_compile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pathlib.Path("ok.pt").write_bytes(b"ok")
    index = model_index.append(model_index.create("ok.pt"), model_index.create("failed.pt", status="error"))
    path = model_index.copy(model_index.save(index, "i.json"), "new.json", "out")
    assert os.listdir("out") == ["ok.pt"]
    assert _names(model_index.load(path)) == [os.path.join("out", "ok.pt"), os.path.join("out", "failed.pt")]


def test_copy_refuses_a_missing_finished_model_and_copies_nothing(models, tmp_path):
    os.remove(tmp_path / "models" / "net_b4_p1.pt")
    with _raises("old_index must list existing model files (got 'models/net_b4_p1.pt', listed in 'net.json')"):
        model_index.copy(models, "new.json", "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "new.json").exists()


def test_copy_refuses_to_overwrite_an_existing_file(models, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "net_b4_p1.pt").write_bytes(b"precious")
    with _raises(f"new_dir must not already hold the model files (got {os.path.join('out', 'net_b4_p1.pt')!r}, "
                 "which exists)"):
        model_index.copy(models, "new.json", "out")
    assert os.listdir(tmp_path / "out") == ["net_b4_p1.pt"]
    assert (tmp_path / "out" / "net_b4_p1.pt").read_bytes() == b"precious"


def test_copy_refuses_two_files_with_one_base_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder in ("a", "b"):
        os.mkdir(folder)
        pathlib.Path(folder, "m.pt").write_bytes(folder.encode())
    index = model_index.append(model_index.create("a/m.pt"), model_index.create("b/m.pt", batch_size=2))
    with _raises(f"new_dir must receive model files with distinct base names (got two named "
                 f"{os.path.join('out', 'm.pt')!r})"):
        model_index.copy(model_index.save(index, "i.json"), "new.json", "out")
    assert not os.path.exists("out")


def test_copy_copies_one_file_listed_twice_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pathlib.Path("m.pt").write_bytes(b"m")
    index = model_index.append(model_index.create("m.pt"), model_index.create("./m.pt", performance_level=1))
    path = model_index.copy(model_index.save(index, "i.json"), "new.json", "out")
    assert os.listdir("out") == ["m.pt"]
    assert _names(model_index.load(path)) == [os.path.join("out", "m.pt")] * 2


def test_move_into_the_same_directory_only_rewrites_the_index(models, tmp_path):
    path = model_index.move(models, "renamed.json", "models")
    assert not os.path.exists(models)
    assert (tmp_path / "models" / "net_b1_p1.pt").read_bytes() == b"model b1"
    assert _names(model_index.load(path))[0] == os.path.join("models", "net_b1_p1.pt")


def test_move_onto_the_same_index_keeps_it(models):
    path = model_index.move(models, models, "models")
    assert model_index.load(path)["model_name"] == "net"


def test_copy_names_a_missing_old_index(tmp_path):
    missing = str(tmp_path / "gone.json")
    with _raises(f"filename must name an existing model index file (got {missing!r})"):
        model_index.copy(missing, tmp_path / "new.json", tmp_path / "out")


def test_delete_removes_files_directories_and_the_index(models, tmp_path):
    (tmp_path / "models" / "unlisted.pt").write_bytes(b"keep")
    model_index.delete(models)
    assert not os.path.exists(models)
    assert os.listdir(tmp_path / "models") == ["unlisted.pt"]


def test_delete_skips_missing_model_files(models, tmp_path):
    os.remove(tmp_path / "models" / "net_b1_p1.pt")
    model_index.delete(models)
    assert os.listdir(tmp_path / "models") == []
    assert not os.path.exists(models)


def test_delete_of_an_invalid_index_removes_nothing(tmp_path):
    path = tmp_path / "i.json"
    path.write_text("[]")
    with pytest.raises(ConfigError):
        model_index.delete(path)
    assert path.exists()


# an index NeuronPerf wrote


def test_neuronperf_index_loads_as_written():
    index = model_index.load(NEURONPERF_INDEX)
    assert index["NeuronPerf_version"] == "1.8.0"
    assert index["model_name"] == "resnet50"
    assert [(c["batch_size"], c["pipeline_size"], c["status"]) for c in index["model_configs"]] == [
        (1, 1, "finished"), (1, 2, "finished"), (8, 1, "error")]
    assert index["model_configs"][0]["filename"] == "models/resnet50_b1_p1_k3j5x9qa.pt"
    assert index["model_configs"][1]["compile_s"] == 121.08


def test_neuronperf_index_filters():
    index = model_index.load(NEURONPERF_INDEX)
    finished = model_index.filter(index, status="finished")
    assert [c["pipeline_size"] for c in finished["model_configs"]] == [1, 2]
    assert _names(model_index.filter(index, batch_sizes=[8])) == ["models/resnet50_b8_p1_zq4r8tbn.pt"]
    assert _names(model_index.filter(finished, batch_sizes=[8])) == []
    assert _names(model_index.filter(index, batch_size=1, pipeline_sizes=[2])) == [
        "models/resnet50_b1_p2_w7dm2c0e.pt"]


def test_neuronperf_index_saves_back_identically(tmp_path):
    # What we write from a NeuronPerf index parses to the same document, so NeuronPerf reads it.
    path = model_index.save(model_index.load(NEURONPERF_INDEX), root_dir=tmp_path)
    assert path == os.path.join(str(tmp_path), "resnet50.json")
    assert json.loads(pathlib.Path(path).read_text()) == json.loads(NEURONPERF_INDEX.read_text())


def test_neuronperf_model_paths_resolve_beside_the_index(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    resolved = model_index.resolve_model_path(NEURONPERF_INDEX, "models/resnet50_b1_p1_k3j5x9qa.pt")
    assert resolved == os.path.join(str(NEURONPERF_INDEX.parent), "models/resnet50_b1_p1_k3j5x9qa.pt")
