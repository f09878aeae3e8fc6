"""The torch backend: TorchScript files and ``nn.Module`` classes, plain or compiled for
NeuronCores with torch-neuron (Inf1) / torch-neuronx (Inf2/Trn1); and its compiler.

torch is imported only inside these functions, in the copies and in ``compile``.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from typing import Any

from raybench.backends.base import ModelSpec, construct, register
from raybench.backends.neuron import cast_compiler_args, import_extension, neuron_compiler_args
from raybench.core.errors import MissingDependencyError, ModelLoadError


def import_torch() -> Any:
    """Import torch, or raise an error naming the extra to install."""
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        msg = "the torch backend needs PyTorch: pip install 'raybench[torch]' (or torch)"
        raise MissingDependencyError(msg) from exc


class TorchBackend:
    """A TorchScript file or an ``nn.Module`` class, run under ``no_grad``."""

    def load(self, spec: ModelSpec, device_id: int = 0) -> Callable[..., Any]:
        torch = import_torch()
        if spec.device_type == "neuron":
            import_extension("torch")
        if isinstance(spec.model, (str, os.PathLike)):
            try:
                model = torch.jit.load(os.fspath(spec.model), map_location="cpu")
            except Exception as exc:
                msg = f"could not load TorchScript file {os.fspath(spec.model)!r}: {exc!r}"
                raise ModelLoadError(msg) from exc
        else:
            model = construct(spec.model)
        if hasattr(model, "eval"):
            model.eval()
        if spec.device_type == "gpu":
            model = model.to("cuda")
            return _synchronized(model, torch)
        return model  # type: ignore[no-any-return]

    def prepare_inputs(self, inputs: tuple[Any, ...], spec: ModelSpec) -> tuple[Any, ...]:
        if spec.device_type != "gpu":
            return inputs
        return tuple(x.to("cuda") if hasattr(x, "to") else x for x in inputs)

    def thread_init(self, spec: ModelSpec) -> None:
        # Grad mode is thread-local in torch: switch it off in every worker thread once,
        # instead of entering no_grad() around each call in the hot loop.
        torch = import_torch()
        torch.set_grad_enabled(False)
        # So is the intra-op pool's size for OpenMP/oneDNN, though get_num_threads() reports the
        # value set in any thread: a torch.set_num_threads(n) in setup_fn (the copy's event-loop
        # thread) would not reach the worker threads that call the model without this.
        torch.set_num_threads(torch.get_num_threads())


def _synchronized(model: Any, torch: Any) -> Callable[..., Any]:
    """Wrap a CUDA model so each call returns only once the GPU has finished the work."""

    def call(*inputs: Any) -> Any:
        out = model(*inputs)
        torch.cuda.synchronize()
        return out

    return call


def compile_torch(
    model: Any,
    input_set: tuple[Any, ...],
    pipeline_size: int,
    performance_level: int,
    compiler_args: list[str],
    artifact_path: str,
    device_type: str,
    cast_mode: str | None = None,
) -> str:
    """Trace one artifact: ``torch.neuron.trace`` (Inf1), ``torch_neuronx.trace`` (Inf2/Trn1),
    or ``torch.jit.trace`` on CPU; save it as TorchScript at ``artifact_path``.

    Args:
        model: An ``nn.Module`` instance or class, or a TorchScript file.
        input_set: Example inputs for one call, ``model(*input_set)``.
        pipeline_size: NeuronCores the artifact spans (Inf1 only).
        performance_level: 0-3, mapped to neuron-cc's ``--fast-math`` (Inf1 only).
        compiler_args: The user's extra compiler flags.
        artifact_path: Where to write the TorchScript file.
        device_type: ``"neuron"`` or ``"cpu"``.
        cast_mode: neuronx-cc's ``--auto-cast`` mode (Inf2/Trn1; no effect on Inf1 and CPU).

    Returns:
        ``artifact_path``.
    """
    torch = import_torch()
    if isinstance(model, (str, os.PathLike)):
        model = torch.jit.load(os.fspath(model), map_location="cpu")
    elif inspect.isclass(model):
        model = model()
    model.eval()
    example = input_set[0] if len(input_set) == 1 else input_set
    with torch.no_grad():
        if device_type == "neuron":
            neuron = import_extension("torch")
            if neuron.__name__ == "torch_neuron":  # Inf1: neuron-cc takes pipeline/fast-math flags
                args = neuron_compiler_args(pipeline_size, performance_level, compiler_args)
                traced = torch.neuron.trace(model, example_inputs=example, compiler_args=args)
            else:  # Inf2/Trn1: neuronx-cc has other flags; the user's and the cast mode's go through
                traced = neuron.trace(model, example,
                                      compiler_args=[*compiler_args, *cast_compiler_args(neuron, cast_mode)])
        elif isinstance(model, torch.jit.ScriptModule):
            traced = model  # already TorchScript: nothing to trace on CPU
        else:
            traced = torch.jit.trace(model, example)
    torch.jit.save(traced, artifact_path)
    return artifact_path


register("torch", TorchBackend())
