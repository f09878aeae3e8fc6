"""``raybench run``'s MODEL and inputs: which entry point takes the model, and what it is fed.

MODEL is one of:

- a model index (a ``.json`` file holding ``model_configs``): torch or TensorFlow, told from its
  model files (``.pt``/``.pth``/``.ts``/``.torchscript`` -> torch; a SavedModel directory or a
  ``.keras``/``.h5`` file -> TensorFlow);
- a TorchScript file -> ``raybench.torch.benchmark``;
- a SavedModel directory or a Keras file -> ``raybench.tensorflow.benchmark``;
- a transformers model directory (``save_pretrained``: it holds ``config.json``) ->
  ``raybench.llm.benchmark``;
- ``package.module:Class`` -> ``raybench.torch.benchmark`` for an ``nn.Module`` subclass, else
  ``raybench.cpu.benchmark``. A class from a module that is not installed (a local file) is
  pickled by value, so Ray workers that cannot import that module still get it.

Inputs are random arrays of the given shapes and dtypes (seeded), or ``.npy`` files; torch
models get torch tensors, the others numpy arrays.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import sysconfig
from dataclasses import dataclass
from typing import Any

import raybench.model_index as model_index
from raybench.backends.model_index import read_index_json
from raybench.core.errors import ConfigError, MissingDependencyError
from raybench.core.schema import STATUS_FINISHED
from raybench.tensorflow import KERAS_SUFFIXES

TORCH_EXTENSIONS: tuple[str, ...] = (".pt", ".pth", ".ts", ".torchscript")
KINDS = (
    "a TorchScript file (.pt, .pth, .ts, .torchscript), a SavedModel directory, a Keras file (.keras, .h5, .hdf5), "
    "a model index (.json holding model_configs), a transformers model directory (config.json) or "
    "package.module:Class"
)


def _config_error(msg: str) -> Exception:
    return ConfigError(msg)


@dataclass(frozen=True)
class ModelTarget:
    """What MODEL resolved to.

    Attributes:
        entry: The ``raybench`` module whose ``benchmark`` runs it: "torch", "tensorflow", "llm"
            or "cpu".
        model: The path, or the class.
        name: The model name for reports and file names.
    """

    entry: str
    model: Any
    name: str


def _file_framework(path: str) -> str | None:
    """"torch" or "tensorflow" for a model file or directory, None when it is neither."""
    if os.path.isdir(path):
        has_pb = any(os.path.isfile(os.path.join(path, f)) for f in ("saved_model.pb", "saved_model.pbtxt"))
        return "tensorflow" if has_pb else None
    extension = os.path.splitext(path)[1].lower()
    if extension in TORCH_EXTENSIONS:
        return "torch"
    if extension in KERAS_SUFFIXES:
        return "tensorflow"
    return None


def _index_target(path: str) -> ModelTarget:
    try:
        content = read_index_json(path)
    except ValueError as err:
        raise _config_error(f"MODEL must be {KINDS} (got {path!r}, which is not valid JSON: {err})") from None
    if content is None:
        raise _config_error(f"MODEL must be {KINDS} (got {path!r}, a JSON file without 'model_configs')")
    index = model_index.load(path)
    entries = sorted(index["model_configs"], key=lambda entry: entry["status"] != STATUS_FINISHED)
    for entry in entries:
        framework = _file_framework(model_index.resolve_model_path(path, entry["filename"]))
        if framework is not None:
            return ModelTarget(framework, path, index["model_name"])
    msg = (
        f"MODEL {path!r} is a model index whose model files are neither torch ({', '.join(TORCH_EXTENSIONS)}) "
        f"nor TensorFlow (SavedModel directories, {', '.join(KERAS_SUFFIXES)}), so its framework is unknown"
    )
    raise _config_error(msg)


def _installed(module: Any) -> bool:
    """Whether ``module`` comes from an installed distribution or the standard library (Ray
    workers can import it), rather than from a local file found through the working directory."""
    filename = getattr(module, "__file__", None)
    if filename is None:  # builtin, frozen or a namespace package without its own file
        return module.__name__ in sys.builtin_module_names
    real = os.path.realpath(filename)
    if {"site-packages", "dist-packages"} & set(real.split(os.sep)):
        return True
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    return real.startswith(stdlib + os.sep)


def _class_target(spec: str) -> ModelTarget:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise _config_error(f"MODEL must be {KINDS} (got {spec!r})")
    # The console script does not put the working directory on sys.path (python -m does).
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 - the user's module: whatever its import raises is the reason
        msg = f"MODEL {spec!r}: cannot import module {module_name!r} ({type(err).__name__}: {err})"
        raise _config_error(msg) from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise _config_error(f"MODEL {spec!r}: {getattr(obj, '__name__', obj)!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    if not inspect.isclass(obj):
        raise _config_error(f"MODEL {spec!r} must name a class (got {type(obj).__name__} {obj!r})")
    defining = sys.modules.get(obj.__module__)
    if defining is not None and not _installed(defining):
        from ray import cloudpickle

        # The whole top-level package: the class may use sibling modules that are local too.
        cloudpickle.register_pickle_by_value(sys.modules[obj.__module__.split(".")[0]])
    torch = sys.modules.get("torch")  # an nn.Module subclass means its module imported torch
    entry = "torch" if torch is not None and issubclass(obj, torch.nn.Module) else "cpu"
    return ModelTarget(entry, obj, obj.__name__)


def resolve_model(text: str) -> ModelTarget:
    """Resolve MODEL (see the module docstring).

    Raises:
        ConfigError: MODEL is none of the kinds, or a class cannot be imported.
    """
    if os.path.isdir(text):
        if _file_framework(text) is None:
            if os.path.isfile(os.path.join(text, "config.json")):
                return ModelTarget("llm", text, _base_name(text))
            raise _config_error(f"MODEL must be {KINDS} (got the directory {text!r}, which holds no saved_model.pb "
                                "nor config.json)")
        return ModelTarget("tensorflow", text, _base_name(text))
    if os.path.isfile(text):
        if text.lower().endswith(".json"):
            return _index_target(text)
        framework = _file_framework(text)
        if framework is None:
            raise _config_error(f"MODEL must be {KINDS} (got {text!r})")
        return ModelTarget(framework, text, _base_name(text))
    if ":" in text and not os.path.splitext(text)[1].lower() in (*TORCH_EXTENSIONS, *KERAS_SUFFIXES, ".json"):
        return _class_target(text)
    raise _config_error(f"MODEL must be {KINDS} (got {text!r}, which does not exist)")


def _base_name(path: str) -> str:
    """The file name up to its first dot, as raybench names a model file's reports."""
    base = os.path.basename(os.path.normpath(path))
    return base.split(".")[0] or base


def _random(rng: Any, shape: tuple[int, ...], dtype_name: str) -> Any:
    import numpy as np

    if dtype_name == "bfloat16":  # numpy has no bfloat16: made as float32, cast by torch
        return rng.standard_normal(shape, dtype=np.float32)
    try:
        dtype = np.dtype(dtype_name)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "fcuib":
        raise _config_error(f"--dtype must be a numeric numpy dtype such as float32, int64 or bool (got {dtype_name!r})")
    if dtype.kind in "fc":
        return rng.standard_normal(shape).astype(dtype)
    # 0/1 for ints and bools: valid token ids for any vocabulary, and valid masks.
    return rng.integers(0, 2, size=shape).astype(dtype)


def _dtypes(dtypes: list[str] | None, n: int) -> list[str]:
    if not dtypes:
        return ["float32"] * n
    if len(dtypes) == 1:
        return dtypes * n
    if len(dtypes) != n:
        raise _config_error(
            f"--dtype must be given once (for every input) or once per --input-shape "
            f"(got {len(dtypes)} --dtype for {n} --input-shape)"
        )
    return dtypes


def _load_npy(paths: list[str]) -> list[Any]:
    import numpy as np

    arrays = []
    for path in paths:
        try:
            arrays.append(np.load(path, allow_pickle=False))
        except (OSError, ValueError) as err:
            raise _config_error(f"--input must name a .npy file (got {path!r}: {err})") from None
    return arrays


def _to_torch(arrays: list[Any], dtype_names: list[str]) -> list[Any]:
    try:
        import torch
    except ImportError:
        msg = "torch models need torch: pip install 'raybench[torch]'"
        raise MissingDependencyError(msg) from None
    tensors = [torch.from_numpy(a) for a in arrays]
    return [t.to(torch.bfloat16) if d == "bfloat16" else t for t, d in zip(tensors, dtype_names)]


def build_inputs(
    entry: str, shapes: list[tuple[int, ...]] | None, dtypes: list[str] | None, files: list[str] | None,
    batch_sizes: list[int] | None, seed: int,
) -> tuple[Any, list[int]]:
    """The ``inputs`` and ``batch_sizes`` arguments of a run.

    Random inputs: one array per ``--input-shape``; with ``batch_sizes`` given, one input set per
    batch size whose arrays have that batch size as their first dimension; else one input set
    whose batch size is the first dimension of the first shape. ``.npy`` files: one input set,
    used as they are, whose batch size is the one ``batch_sizes`` entry or the first file's
    first dimension.

    Returns:
        ``(inputs, batch_sizes)``: one input (or a tuple for several), or a list of them with
        one per batch size.

    Raises:
        ConfigError: neither or both input kinds given, a bad dtype, an unreadable file, or
            several batch sizes with ``.npy`` inputs.
    """
    if bool(shapes) == bool(files):
        which = "both" if shapes else "neither"
        raise _config_error(f"inputs must come from --input-shape or from --input files (got {which})")
    if files:
        if dtypes:
            raise _config_error("--dtype applies to --input-shape; .npy files keep their own dtype")
        arrays = _load_npy(files)
        if batch_sizes is not None and len(batch_sizes) > 1:
            raise _config_error(f"--batch-sizes must be one value with --input files (got {batch_sizes}); "
                                "use --input-shape to sweep batch sizes")
        sizes = batch_sizes or [int(arrays[0].shape[0]) if arrays[0].ndim else 1]
        sets, dtype_names = [arrays], [str(a.dtype) for a in arrays]
    else:
        import numpy as np

        shapes = shapes or []  # not empty here (checked above); narrows the type
        dtype_names = _dtypes(dtypes, len(shapes))
        sizes = batch_sizes or [shapes[0][0]]
        rng = np.random.default_rng(seed)
        sets = [[_random(rng, (size, *s[1:]) if batch_sizes else s, d) for s, d in zip(shapes, dtype_names)]
                for size in sizes]
    if "bfloat16" in dtype_names and entry != "torch":
        raise _config_error(f"--dtype bfloat16 needs a torch model (got a {entry} model)")
    if entry in ("torch", "llm"):
        sets = [_to_torch(arrays, dtype_names) for arrays in sets]
    packed = [arrays[0] if len(arrays) == 1 else tuple(arrays) for arrays in sets]
    return (packed[0] if len(packed) == 1 else packed), list(sizes)
