"""How to load and call one model inside a copy: one small backend per framework.

A backend turns a picklable :class:`ModelSpec` into a callable, prepares the inputs for the
device, and sets up each worker thread. Heavy frameworks are imported only inside the backend
that needs them, so ``import raybench`` stays light and a missing framework fails with an error
that says what to install.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from raybench.core.errors import MissingDependencyError, ModelLoadError, is_control_flow

NEURON_REPO_HINT = (
    "install the AWS Neuron SDK from the Neuron pip repository "
    "(pip install --extra-index-url=https://pip.repos.neuron.amazonaws.com {package}); "
    "the packages of that name on PyPI are placeholders"
)


@dataclass(frozen=True)
class ModelSpec:
    """What a copy needs to build its model; plain data, shipped to every copy.

    Attributes:
        framework: Backend name: ``"callable"`` (a user ``load_fn``), ``"class"`` (a no-arg
            model class) or ``"torch"`` (a TorchScript file or an ``nn.Module`` class).
        model: The file name, the class, or the ``load_fn``.
        model_filename: The file the model loads from, if any (given to ``load_fn``).
        device_type: Resolved device: ``"cpu"``, ``"neuron"`` or ``"gpu"``.
    """

    framework: str
    model: Any
    model_filename: str | None
    device_type: str


class Backend(Protocol):
    """Loads a model and adapts inputs and threads for one framework."""

    def load(self, spec: ModelSpec) -> Callable[..., Any]:
        """Return the callable that runs one inference: ``model(*inputs)``."""

    def prepare_inputs(self, inputs: tuple[Any, ...], spec: ModelSpec) -> tuple[Any, ...]:
        """Move one input set to the device the model runs on."""

    def thread_init(self, spec: ModelSpec) -> None:
        """Per-thread setup, run once in every worker thread before it calls the model."""


def describe_model(model: Any) -> tuple[str, str]:
    """Return ``(model_filename, model_name)`` for reports, for a path, class or callable."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        base = os.path.basename(os.path.normpath(path))
        return path, base.split(".")[0] or base
    name = getattr(model, "__qualname__", None) or type(model).__name__
    return f"{getattr(model, '__module__', '?')}.{name}", getattr(model, "__name__", name)


def _construct(model_class: Any) -> Any:
    try:
        return model_class()
    except BaseException as exc:  # the user's constructor, SystemExit too: report what it raised
        if is_control_flow(exc):
            raise
        msg = f"could not construct model class {describe_model(model_class)[0]}: {exc!r}"
        raise ModelLoadError(msg) from exc


class CallableBackend:
    """``benchmark(load_fn, model_filename, ...)``: the user's ``load_fn(model_filename)``."""

    def load(self, spec: ModelSpec) -> Callable[..., Any]:
        try:
            model = spec.model(spec.model_filename)
        except BaseException as exc:  # the user's load_fn, SystemExit too
            if is_control_flow(exc):
                raise
            msg = f"load_fn failed for {spec.model_filename!r}: {exc!r}"
            raise ModelLoadError(msg) from exc
        if not callable(model):
            msg = f"load_fn must return a callable model (got {type(model).__name__})"
            raise ModelLoadError(msg)
        return model  # type: ignore[no-any-return]

    def prepare_inputs(self, inputs: tuple[Any, ...], spec: ModelSpec) -> tuple[Any, ...]:
        return inputs

    def thread_init(self, spec: ModelSpec) -> None:
        return None


class ClassBackend(CallableBackend):
    """``raybench.cpu.benchmark(ModelClass, ...)``: a no-arg class constructed in each copy."""

    def load(self, spec: ModelSpec) -> Callable[..., Any]:
        return _construct(spec.model)  # type: ignore[no-any-return]


def import_torch() -> Any:
    """Import torch, or raise an error naming the extra to install."""
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        msg = "the torch backend needs PyTorch: pip install 'raybench[torch]' (or torch)"
        raise MissingDependencyError(msg) from exc


def import_torch_neuron() -> Any:
    """Import the Neuron extension for torch: ``torch_neuron`` (Inf1) or ``torch_neuronx``.

    Importing it registers the Neuron ops that a compiled TorchScript artifact needs before
    ``torch.jit.load`` can read it.

    Raises:
        MissingDependencyError: neither package is installed (or only PyPI's placeholder is).
    """
    for package in ("torch_neuron", "torch_neuronx"):
        try:
            return importlib.import_module(package)
        except Exception:  # PyPI's placeholders raise on import with "WRONG PACKAGE"
            continue
    hint = NEURON_REPO_HINT.format(package="torch-neuron (Inf1) or torch-neuronx (Inf2/Trn1)")
    msg = f"device_type 'neuron' with torch needs torch-neuron or torch-neuronx: {hint}"
    raise MissingDependencyError(msg)


class TorchBackend:
    """A TorchScript file or an ``nn.Module`` class, run under ``no_grad``."""

    def load(self, spec: ModelSpec) -> Callable[..., Any]:
        torch = import_torch()
        if spec.device_type == "neuron":
            import_torch_neuron()
        if isinstance(spec.model, (str, os.PathLike)):
            try:
                model = torch.jit.load(os.fspath(spec.model), map_location="cpu")
            except Exception as exc:
                msg = f"could not load TorchScript file {os.fspath(spec.model)!r}: {exc!r}"
                raise ModelLoadError(msg) from exc
        else:
            model = _construct(spec.model)
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
        import_torch().set_grad_enabled(False)


def _synchronized(model: Any, torch: Any) -> Callable[..., Any]:
    """Wrap a CUDA model so each call returns only once the GPU has finished the work."""

    def call(*inputs: Any) -> Any:
        out = model(*inputs)
        torch.cuda.synchronize()
        return out

    return call


BACKENDS: dict[str, Backend] = {
    "callable": CallableBackend(),
    "class": ClassBackend(),
    "torch": TorchBackend(),
}

#: Backends whose module imports a framework's glue: loaded on first use, in the copy.
LAZY_BACKENDS: dict[str, tuple[str, str]] = {
    "tensorflow": ("raybench.backends.tensorflow", "TensorFlowBackend"),
    "mxnet": ("raybench.backends.mxnet", "MXNetBackend"),
}


def get_backend(framework: str) -> Backend:
    """Return the backend registered for ``framework`` (importing a lazy one on first use)."""
    if framework not in BACKENDS and framework in LAZY_BACKENDS:
        module, name = LAZY_BACKENDS[framework]
        BACKENDS[framework] = getattr(importlib.import_module(module), name)()
    return BACKENDS[framework]


def is_async_model(model: Any) -> bool:
    """True when calling the model returns an awaitable (an ``async def`` model)."""
    call = model if inspect.isfunction(model) or inspect.ismethod(model) else type(model).__call__
    return inspect.iscoroutinefunction(call)
