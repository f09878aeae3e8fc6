"""``raybench.torch``: benchmark and compile torch models (TorchScript files, ``nn.Module``
classes; Neuron-compiled artifacts with torch-neuron / torch-neuronx).

torch is imported only inside the copies and inside ``compile``, so ``import raybench`` does not
pull it in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from raybench.backends.base import describe_model
from raybench.backends.neuron import import_extension
from raybench.backends.torch import compile_torch
from raybench.report.results import Results
from raybench.run.api import run_benchmark
from raybench.run.compile import compile_sweep

__all__ = ["benchmark", "compile"]


def benchmark(model: str | os.PathLike[str] | type, inputs: Any, **kwargs: Any) -> list[dict[str, Any]] | Results:
    """Benchmark a torch model; every call runs with autograd off (``no_grad``).

    Args:
        model: A TorchScript file (``torch.jit.save``; a Neuron-compiled one with
            ``device_type="neuron"``), a model index JSON file (from :func:`compile`), or a
            top-level ``nn.Module`` class with a no-argument constructor.
        inputs: One tensor; a tuple of tensors for ``model(*inputs)``; a list with one per
            batch size; or a dataset (a torch ``Dataset``/``DataLoader``, see ``loop_dataset``).
        **kwargs: Every option of :func:`raybench.benchmark`.

    Returns:
        The reports, or a :class:`~raybench.Results` with ``return_timers=True``.

    Raises:
        ConfigError: a bad argument, e.g. a missing model file.
        MissingDependencyError: torch (or, for neuron, torch-neuron/torch-neuronx) is missing.
    """
    filename = os.fspath(model) if isinstance(model, (str, os.PathLike)) else None
    return run_benchmark("torch", model, filename, inputs, **kwargs)


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
    """Compile a torch model for every batch size x pipeline size x performance level.

    Writes ``{model_name}_b{batch}_p{pipeline}_{random}.pt`` into ``models_dir`` and a model
    index (NeuronPerf's JSON format) that ``benchmark`` accepts in place of a model file. The
    index is rewritten after every compile; failed compiles stay in it with ``status: "error"``.

    Args:
        model: An ``nn.Module`` instance or class, or a TorchScript file.
        inputs: Example inputs, as for ``benchmark``.
        batch_sizes: One per input set (default [1]).
        pipeline_sizes: NeuronCores per artifact (``--neuroncore-pipeline-cores``; default [1]).
        performance_levels: 0-3, mapped to ``--fast-math`` (default [3]).
        models_dir: Folder for the artifacts.
        model_name: Prefix of artifacts and index (default: the model's name).
        filename: Index file (default ``{model_name}.json``).
        compiler_args: Extra compiler flags.
        verbosity: 0, 1 or 2.
        cast_modes: Cast modes to compile each config with: neuronx-cc's ``--auto-cast`` on
            Inf2/Trn1 (e.g. "matmult", "all"), recorded in the index as ``cast_mode``; no effect
            on neuron-cc (Inf1: ``performance_levels``) or CPU.
        device_type: "neuron" (torch-neuron / torch-neuronx trace) or "cpu" (``torch.jit.trace``).

    Returns:
        The index file name.

    Raises:
        ConfigError: a bad argument.
    """
    if device_type == "neuron":
        import_extension("torch")  # a missing SDK fails the call, not every compile of the sweep
    default_name = describe_model(model if isinstance(model, (str, os.PathLike, type)) else type(model))[1]
    return compile_sweep(
        compile_torch, model, inputs, default_model_name=default_name, extension=".pt",
        batch_sizes=batch_sizes, pipeline_sizes=pipeline_sizes, performance_levels=performance_levels,
        models_dir=models_dir, model_name=model_name, filename=filename, compiler_args=compiler_args,
        verbosity=verbosity, device_type=device_type, cast_modes=cast_modes,
    )
