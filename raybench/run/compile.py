"""compile(): build one model artifact per (batch size, pipeline size, performance level) and
record them in a model index, as NeuronPerf's ``compile`` does.

Each framework supplies ``compile_one(model, input_set, pipeline_size, performance_level,
compiler_args, artifact_path, device_type) -> path`` (``compiler_args`` are the user's; a
neuron-cc compiler adds :func:`~raybench.backends.neuron.neuron_compiler_args`'s pipeline and fast-math flags); this
module runs the sweep, names the
artifacts ``{model_name}_b{batch}_p{pipeline}_{8 random chars}``, rewrites the index after
every compile (so an interrupted sweep keeps what it built) and keeps failures in the index with
``status: "error"``.
"""

from __future__ import annotations

import itertools
import os
import secrets
import string
import time
from collections.abc import Callable, Sequence
from typing import Any

from raybench.backends import model_index
from raybench.core.checks import cast_modes as check_cast_modes
from raybench.core.checks import performance_levels as check_performance_levels
from raybench.core.checks import positive_ints
from raybench.core.errors import ConfigError
from raybench.core.files import safe_file_stem
from raybench.core.inputs import normalise_inputs
from raybench.core.log import logger, set_verbosity
from raybench.core.schema import STATUS_ERROR, STATUS_FINISHED

COMPILE_DEVICE_TYPES = ("cpu", "neuron")

#: ``compile_one(model, input_set, pipeline_size, performance_level, compiler_args, artifact_path,
#: device_type, cast_mode=None) -> path``.
CompileOne = Callable[..., str]


def artifact_name(model_name: str, batch_size: int, pipeline_size: int) -> str:
    """``{model_name}_b{batch}_p{pipeline}_{8 random lowercase letters and digits}``."""
    alphabet = string.ascii_lowercase + string.digits
    suffix = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"{safe_file_stem(model_name)}_b{batch_size}_p{pipeline_size}_{suffix}"


def compile_sweep(
    compile_one: CompileOne,
    model: Any,
    inputs: Any,
    *,
    default_model_name: str,
    extension: str,
    batch_sizes: int | list[int] | None = None,
    pipeline_sizes: int | list[int] | None = None,
    performance_levels: int | list[int] | None = None,
    models_dir: str | os.PathLike[str] = "models",
    model_name: str | None = None,
    filename: str | os.PathLike[str] | None = None,
    compiler_args: Sequence[str] | None = None,
    verbosity: int = 1,
    device_type: str = "neuron",
    cast_modes: str | list[str] | None = None,
) -> str:
    """Compile every combination and write the model index; return the index's file name.

    Args:
        compile_one: The framework's compiler for one artifact.
        model: What to compile (framework-specific: a module/class/file).
        inputs: Example inputs, as for ``benchmark`` (a list holds one per batch size).
        default_model_name: Name to use when ``model_name`` is not given.
        extension: Artifact file extension ("" for directories such as SavedModels).
        batch_sizes, pipeline_sizes, performance_levels: The sweep (defaults [1], [1], [3]).
        models_dir: Folder for the artifacts.
        model_name: Artifact and index name prefix.
        filename: Index file name (default ``{model_name}.json``).
        compiler_args: Extra compiler flags.
        verbosity: 0, 1 or 2.
        device_type: "neuron" (the Neuron compiler) or "cpu" (TorchScript / SavedModel).
        cast_modes: Cast modes to compile each config with (neuronx-cc's ``--auto-cast``), one
            artifact per mode, recorded in the index as ``cast_mode``; default none.

    Raises:
        ConfigError: a bad argument.
    """
    set_verbosity(verbosity)
    if device_type not in COMPILE_DEVICE_TYPES:
        raise ConfigError(f"device_type must be one of 'cpu', 'neuron' for compile (got {device_type!r})")
    if compiler_args is not None and (isinstance(compiler_args, str) or not all(isinstance(a, str) for a in compiler_args)):
        raise ConfigError(f"compiler_args must be a list of strings (got {compiler_args!r})")
    input_sets, sizes = normalise_inputs(inputs, batch_sizes)
    pipelines = (1,) if pipeline_sizes is None else positive_ints("pipeline_sizes", pipeline_sizes)
    levels = (3,) if performance_levels is None else check_performance_levels(performance_levels)
    modes: tuple[str | None, ...] = (None,) if cast_modes is None else check_cast_modes(cast_modes)
    name = model_name or default_model_name
    index_path = os.fspath(filename) if filename is not None else f"{safe_file_stem(name)}.json"
    os.makedirs(models_dir, exist_ok=True)

    index: dict[str, Any] | None = None
    for input_set, batch_size in zip(input_sets, sizes):
        for pipeline_size, level, mode in itertools.product(pipelines, levels, modes):
            artifact = os.path.join(os.fspath(models_dir), artifact_name(name, batch_size, int(pipeline_size)) + extension)
            logger.info("compiling %s (batch %d, pipeline %d, level %d, cast mode %s)", artifact, batch_size,
                        pipeline_size, level, mode)
            t0 = time.perf_counter()
            status = STATUS_FINISHED
            try:
                artifact = compile_one(model, input_set, int(pipeline_size), level, list(compiler_args or []),
                                       artifact, device_type, cast_mode=mode)
            except Exception as exc:  # a failed compile is kept in the index, as NeuronPerf does
                status = STATUS_ERROR
                logger.warning("compiling %s failed: %s: %s", artifact, type(exc).__name__, exc)
            entry = model_index.create(
                artifact, model_name=name, batch_size=batch_size, pipeline_size=int(pipeline_size),
                performance_level=level, compile_s=time.perf_counter() - t0, status=status, cast_mode=mode,
            )
            index = entry if index is None else model_index.append(index, entry)
            model_index.save(index, index_path, overwrite=True)  # rewritten after every compile
    return index_path


def compile(  # noqa: A001 - NeuronPerf's name; this module never calls the builtin
    compile_fn: Callable[..., Any],
    model: Any,
    inputs: Any,
    batch_sizes: int | list[int] | None = None,
    pipeline_sizes: int | list[int] | None = None,
    performance_levels: int | list[int] | None = None,
    models_dir: str | os.PathLike[str] = "models",
    model_name: str | None = None,
    filename: str | os.PathLike[str] | None = None,
    compiler_args: Sequence[str] | None = None,
    verbosity: int = 1,
    extension: str = "",
    cast_modes: str | list[str] | None = None,
) -> str:
    """NeuronPerf's framework-free ``compile``: your ``compile_fn`` builds each artifact, raybench
    runs the sweep and writes the model index (``raybench.torch.compile`` and
    ``raybench.tensorflow.compile`` bring their own).

    ``compile_fn(model, input_set, artifact_path, pipeline_size=..., performance_level=...,
    compiler_args=[...])`` writes one artifact for one input set (a tuple of arguments) at
    ``artifact_path`` (``{model_name}_b{batch}_p{pipeline}_{8 chars}{extension}`` in
    ``models_dir``) and may return the path it wrote instead; an exception marks that entry
    ``status: "error"`` and the sweep goes on. With ``cast_modes`` it is also given
    ``cast_mode=``, once per mode, and the index records each artifact's.

    Returns:
        The model index's file name.

    Raises:
        ConfigError: a bad argument.
    """
    if not callable(compile_fn):
        raise ConfigError(f"compile_fn must be callable (got {compile_fn!r})")

    def compile_one(model: Any, input_set: tuple[Any, ...], pipeline_size: int, performance_level: int,
                    compiler_args: list[str], artifact_path: str, device_type: str, cast_mode: str | None = None) -> str:
        extra = {} if cast_mode is None else {"cast_mode": cast_mode}
        written = compile_fn(model, input_set, artifact_path, pipeline_size=pipeline_size,
                             performance_level=performance_level, compiler_args=compiler_args, **extra)
        return os.fspath(written) if written is not None else artifact_path

    default_name = getattr(model, "__name__", None) or type(model).__name__
    return compile_sweep(compile_one, model, inputs, default_model_name=default_name, extension=extension,
                         batch_sizes=batch_sizes, pipeline_sizes=pipeline_sizes, performance_levels=performance_levels,
                         models_dir=models_dir, model_name=model_name, filename=filename, compiler_args=compiler_args,
                         verbosity=verbosity, device_type="neuron", cast_modes=cast_modes)
