"""NeuronPerf's model index: a JSON file listing compiled model artifacts and how each was built.

The file is read and written in NeuronPerf's format, so an index either tool wrote loads in the
other::

    {"NeuronPerf_version": "1.8.0", "model_name": "resnet50",
     "model_configs": [{"filename": "models/resnet50_b1_p1_ab12cd34.pt", "batch_size": 1,
                        "pipeline_size": 1, "performance_level": 3, "compile_s": 41.2,
                        "status": "finished"}]}

An index is a plain ``dict`` in that shape. Relative model filenames are kept as written:
NeuronPerf writes them relative to the working directory it compiled in, so
:func:`resolve_model_path` tries that first and the index's own directory second. Deleting,
copying and moving an index's model files is :mod:`raybench.backends.model_files`.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from raybench.core.checks import PERFORMANCE_LEVELS, is_int
from raybench.core.errors import ConfigError
from raybench.core.files import atomic_write_path, read_json, safe_file_stem
from raybench.core.schema import STATUS_ERROR, STATUS_FINISHED
from raybench.core.version import __version__

#: The keys of an index, in the order they are written.
INDEX_KEYS: tuple[str, ...] = ("NeuronPerf_version", "model_name", "model_configs")
#: The keys of one model config, in the order they are written.
CONFIG_KEYS: tuple[str, ...] = ("filename", "batch_size", "pipeline_size", "performance_level", "compile_s", "status")
#: The statuses a config may have: NeuronPerf keeps failed compiles in the index as "error".
STATUSES: tuple[str, ...] = (STATUS_FINISHED, STATUS_ERROR)

# NeuronPerf's docs show filter(batch_sizes=[...]) while its code only took the field names;
# both spellings are accepted here.
_PLURALS: dict[str, str] = {
    "filenames": "filename",
    "batch_sizes": "batch_size",
    "pipeline_sizes": "pipeline_size",
    "performance_levels": "performance_level",
    "statuses": "status",
}
_FILTER_KEYS: tuple[str, ...] = tuple(sorted((*CONFIG_KEYS, *_PLURALS)))


def _check_field(label: str, field: str, value: object) -> None:
    """Raise ConfigError unless ``value`` is valid for config field ``field``; ``label`` names it."""
    if field == "filename":
        ok, rule = isinstance(value, str) and value != "", "a non-empty str"
    elif field in ("batch_size", "pipeline_size"):
        ok, rule = is_int(value) and value > 0, "a positive int"
    elif field == "performance_level":
        ok, rule = is_int(value) and value in PERFORMANCE_LEVELS, "an int from 0 to 3"
    elif field == "compile_s":
        ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                               and math.isfinite(value) and value >= 0)
        rule = "None or a finite number of seconds >= 0"
    else:
        ok, rule = value in STATUSES, "one of 'finished', 'error'"
    if not ok:
        msg = f"{label} must be {rule} (got {value!r})"
        raise ConfigError(msg)


def check_index(index: object, label: str) -> dict[str, Any]:
    """Return ``index`` if it has NeuronPerf's index structure; else raise ConfigError naming ``label``."""
    if not isinstance(index, dict):
        msg = f"{label} must be a dict with keys {', '.join(INDEX_KEYS)} (got {type(index).__name__})"
        raise ConfigError(msg)
    for key in INDEX_KEYS:
        if key not in index:
            msg = f"{label} must have the key {key!r} (got keys {sorted(index)})"
            raise ConfigError(msg)
    for key in ("NeuronPerf_version", "model_name"):
        if not isinstance(index[key], str):
            msg = f"{label}[{key!r}] must be a str (got {index[key]!r})"
            raise ConfigError(msg)
    configs = index["model_configs"]
    if not isinstance(configs, list):
        msg = f"{label}['model_configs'] must be a list (got {type(configs).__name__})"
        raise ConfigError(msg)
    for i, config in enumerate(configs):
        where = f"{label}['model_configs'][{i}]"
        if not isinstance(config, dict):
            msg = f"{where} must be a dict (got {type(config).__name__})"
            raise ConfigError(msg)
        for field in CONFIG_KEYS:
            if field not in config:
                msg = f"{where} must have the key {field!r} (got keys {sorted(config)})"
                raise ConfigError(msg)
            _check_field(f"{where}[{field!r}]", field, config[field])
    return index


def _version() -> str:
    return f"raybench-{__version__}"


def _new_index(model_name: str, configs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"NeuronPerf_version": _version(), "model_name": model_name, "model_configs": configs}


def create(
    filename: str | os.PathLike[str],
    model_name: str | None = None,
    batch_size: int = 1,
    pipeline_size: int = 1,
    performance_level: int = 3,
    compile_s: float | None = None,
    status: str = STATUS_FINISHED,
    cast_mode: str | None = None,
) -> dict[str, Any]:
    """Build an index holding one config for one model file (the file need not exist yet).

    Args:
        filename: The model file or directory (a TF SavedModel), stored as given.
        model_name: The index's model name; default the file's base name without extension.
        batch_size: The batch size the model was compiled for (positive).
        pipeline_size: NeuronCores per pipelined copy (positive).
        performance_level: The compiler's performance level, 0 to 3.
        compile_s: How long the compile took, in seconds, or None.
        status: "finished", or "error" for a compile that failed.
        cast_mode: The cast mode it was compiled with (``compile``'s ``cast_modes``); the key
            is written only when given, so other indexes stay NeuronPerf's format.

    Returns:
        A new index dict.

    Raises:
        ConfigError: an argument breaks its rule.
    """
    if not isinstance(filename, (str, os.PathLike)):
        msg = f"filename must be a str or os.PathLike (got {filename!r})"
        raise ConfigError(msg)
    path = os.fspath(filename)
    _check_field("filename", "filename", path)
    if model_name is None:
        # rstrip: "models/saved_model/" names the directory, not an empty base name.
        model_name = os.path.splitext(os.path.basename(path.rstrip("/" + os.sep)))[0]
    elif not isinstance(model_name, str) or not model_name:
        msg = f"model_name must be a non-empty str or None (got {model_name!r})"
        raise ConfigError(msg)
    values = {"batch_size": batch_size, "pipeline_size": pipeline_size,
              "performance_level": performance_level, "compile_s": compile_s, "status": status}
    for field, value in values.items():
        _check_field(field, field, value)
    config = {"filename": path, **values}
    config["compile_s"] = None if compile_s is None else float(compile_s)
    if cast_mode is not None:
        if not isinstance(cast_mode, str) or not cast_mode:
            raise ConfigError(f"cast_mode must be a non-empty str or None (got {cast_mode!r})")
        config["cast_mode"] = cast_mode
    return _new_index(model_name, [config])


def append(*indexes: dict[str, Any]) -> dict[str, Any]:
    """Combine indexes into one holding all their configs in order, exact duplicates dropped.

    Args:
        *indexes: Index dicts; the result takes the first one's model name.

    Returns:
        A new index dict (the inputs are not changed).

    Raises:
        ConfigError: no index given, or one is not an index.
    """
    if not indexes:
        msg = "indexes must hold at least one index (got none)"
        raise ConfigError(msg)
    configs: list[dict[str, Any]] = []
    for i, index in enumerate(indexes):
        for config in check_index(index, f"indexes[{i}]")["model_configs"]:
            if config not in configs:
                configs.append(dict(config))
    return _new_index(indexes[0]["model_name"], configs)


# Shadows the builtin on purpose: NeuronPerf's name, and this module never calls the builtin.
def filter(index: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Keep the configs whose fields match every keyword given.

    Args:
        index: An index dict (not changed).
        **kwargs: Field name to a value, or to a list/tuple/set of accepted values; None is no
            filter on that field (as in NeuronPerf). Fields: filename, batch_size,
            pipeline_size, performance_level, compile_s, status; the plurals filenames,
            batch_sizes, pipeline_sizes, performance_levels and statuses mean the same field.

    Returns:
        A new index dict with the matching configs, in their order.

    Raises:
        ConfigError: ``index`` is not an index, a key is unknown, or a field is given twice.
    """
    check_index(index, "index")
    wanted: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key not in _FILTER_KEYS:
            msg = f"filter keys must be among {', '.join(_FILTER_KEYS)} (got {key!r})"
            raise ConfigError(msg)
        field = _PLURALS.get(key, key)
        if value is None:
            continue  # NeuronPerf: "a value of None is treated as no filter"
        if field in wanted:
            msg = f"filter keys must name each field once (got {field!r} both as singular and plural)"
            raise ConfigError(msg)
        values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
        wanted[field] = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in values]
    kept = [dict(c) for c in index["model_configs"] if all(c[f] in vals for f, vals in wanted.items())]
    return {**index, "model_configs": kept}


def save(
    index: dict[str, Any],
    filename: str | os.PathLike[str] | None = None,
    root_dir: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
) -> str:
    """Write an index as JSON, atomically (readers never see a half-written file).

    Args:
        index: The index dict, written as given (its ``NeuronPerf_version`` included); only
            the keys of NeuronPerf's format are written.
        filename: The file to write; default ``{model_name}.json``, the model name made safe as
            a file name (no path separators, no leading dot: see ``safe_file_stem``).
        root_dir: A directory to write ``filename`` into (created if missing); default the
            working directory, or ``filename``'s own path.
        overwrite: Replace the file if it exists (else it is refused, like the other writers).

    Returns:
        The path written.

    Raises:
        ConfigError: ``index`` is not an index, or the file exists and ``overwrite`` is False.
        OSError: the file cannot be written; no partial file is left.
    """
    check_index(index, "index")
    name = os.fspath(filename) if filename is not None else f"{safe_file_stem(index['model_name'])}.json"
    path = os.path.join(os.fspath(root_dir), name) if root_dir is not None else name
    ordered = {key: index[key] for key in INDEX_KEYS}
    # NeuronPerf's keys in its order, then any others an entry carries (``cast_mode``), kept.
    ordered["model_configs"] = [{**{key: c[key] for key in CONFIG_KEYS},
                                 **{key: value for key, value in c.items() if key not in CONFIG_KEYS}}
                                for c in index["model_configs"]]
    text = json.dumps(ordered, indent=4, allow_nan=False)
    with atomic_write_path(path, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    return path


def load(filename: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an index file and check its structure.

    Args:
        filename: The index file (NeuronPerf's or raybench's).

    Returns:
        The index dict.

    Raises:
        ConfigError: the file is missing, is not JSON, or is not an index; the message names it.
    """
    if not isinstance(filename, (str, os.PathLike)):
        msg = f"filename must be a str or os.PathLike naming a model index file (got {filename!r})"
        raise ConfigError(msg)
    path = os.fspath(filename)
    if not os.path.isfile(path):
        msg = f"filename must name an existing model index file (got {path!r})"
        raise ConfigError(msg)
    try:
        index = read_json(path)
    except ValueError as err:  # not JSON, not UTF-8, or nested too deeply (read_json)
        msg = f"filename must name a JSON model index (got {path!r}: {err})"
        raise ConfigError(msg) from err
    return check_index(index, f"model index {path!r}")


def read_index_json(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The JSON of ``path`` if it is a model index (an object holding ``model_configs``), None if
    it is JSON of another kind (an MXNet ``-symbol.json``), unchecked beyond that (``load`` checks).

    Raises:
        ValueError: the file is not JSON (or nested too deeply to read).
        OSError: it cannot be read.
    """
    content = read_json(path)
    return content if isinstance(content, dict) and "model_configs" in content else None


def resolve_model_path(index_filename: str | os.PathLike[str], model_filename: str) -> str:
    """Find a config's model file: as given, else relative to the index file's directory.

    Args:
        index_filename: The index file the config came from.
        model_filename: The config's ``filename``.

    Returns:
        ``model_filename`` if it is absolute or exists from the working directory; else the
        path relative to the index's directory, whether or not it exists (callers report a
        missing file).
    """
    if os.path.isabs(model_filename) or os.path.exists(model_filename):
        return model_filename
    return os.path.join(os.path.dirname(os.fspath(index_filename)), model_filename)
