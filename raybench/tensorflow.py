"""``raybench.tensorflow``: benchmark and compile TF2 models (SavedModel directories, Keras files; Neuron-compiled
artifacts with tensorflow-neuron / tensorflow-neuronx).

TensorFlow is imported only inside the copies, so ``import raybench`` does not pull it in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from raybench.backends.base import describe_model
from raybench.backends.neuron import import_extension
from raybench.backends.tensorflow import KERAS_SUFFIXES, compile_tensorflow
from raybench.report.results import Results
from raybench.run.api import run_benchmark
from raybench.run.compile import compile_sweep

__all__ = ["KERAS_SUFFIXES", "benchmark", "compile"]


def benchmark(model_filename: str | os.PathLike[str], inputs: Any, **kwargs: Any) -> list[dict[str, Any]] | Results:
    """Benchmark a TensorFlow model; every copy loads it and calls it in inference mode.

    Args:
        model_filename: A TF2 SavedModel directory (a Neuron-compiled one with
            ``device_type="neuron"``; it is called through its ``serving_default`` signature) or
            a Keras file (``.keras``, ``.h5``).
        inputs: One numpy array; a tuple of arrays for ``model(*inputs)`` (a SavedModel's
            signature takes them in natural name order: ``input_0, input_1, ...``); a dict
            ``{input_name: array}`` to name a signature's inputs; a list with one per batch size.
        **kwargs: Every option of :func:`raybench.benchmark`.

    Returns:
        The reports, or a :class:`~raybench.Results` with ``return_timers=True``.

    Raises:
        ConfigError: a bad argument, e.g. a missing model file.
        MissingDependencyError: TensorFlow (or, for neuron, tensorflow-neuron /
            tensorflow-neuronx) is missing.
    """
    return run_benchmark("tensorflow", model_filename, os.fspath(model_filename), inputs, **kwargs)


def compile(  # noqa: A001 - NeuronPerf's name
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
    device_type: str = "neuron",
    cast_modes: str | list[str] | None = None,
) -> str:
    """Compile a TensorFlow model for every batch size x pipeline size x performance level.

    Writes one SavedModel directory ``{model_name}_b{batch}_p{pipeline}_{random}`` per
    combination into ``models_dir`` and a model index (NeuronPerf's JSON format) that
    :func:`benchmark` accepts. Neuron: ``tensorflow_neuron.trace`` (Inf1, with pipeline and
    fast-math flags) or ``tensorflow_neuronx.trace`` (Inf2/Trn1); ``device_type="cpu"`` saves a
    SavedModel, so the flow runs without the SDK.

    Args:
        model: A ``keras.Model`` or ``tf.Module``, a class building one, or a SavedModel/Keras path.
        inputs: Example inputs, as for ``benchmark``.
        batch_sizes, pipeline_sizes, performance_levels: The sweep (defaults [1], [1], [3]).
        models_dir: Folder for the artifacts.
        model_name: Prefix of artifacts and index (default: the model's name).
        filename: Index file (default ``{model_name}.json``).
        compiler_args: Extra compiler flags.
        verbosity: 0, 1 or 2.
        cast_modes: Cast modes to compile each config with: neuronx-cc's ``--auto-cast`` on
            Inf2/Trn1 (e.g. "matmult", "all"), recorded in the index as ``cast_mode``; no effect
            on neuron-cc (Inf1: ``performance_levels``) or CPU.
        device_type: "neuron" or "cpu".

    Returns:
        The index file name.

    Raises:
        ConfigError: a bad argument.
        MissingDependencyError: TensorFlow, or for neuron its Neuron extension, is missing.
    """
    if device_type == "neuron":
        import_extension("tensorflow")  # a missing SDK fails the call, not every compile of the sweep
    named = model if isinstance(model, (str, os.PathLike, type)) else type(model)
    default_name = getattr(model, "name", None) if not isinstance(model, (str, os.PathLike, type)) else None
    return compile_sweep(
        compile_tensorflow, model, inputs, default_model_name=default_name or describe_model(named)[1],
        extension="", batch_sizes=batch_sizes, pipeline_sizes=pipeline_sizes,
        performance_levels=performance_levels, models_dir=models_dir, model_name=model_name, filename=filename,
        compiler_args=compiler_args, verbosity=verbosity, device_type=device_type, cast_modes=cast_modes,
    )
