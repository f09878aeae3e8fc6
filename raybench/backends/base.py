"""The backend interface: a picklable model spec, the protocol one framework implements (load a
spec into a callable, prepare inputs for the device, set up each worker thread), the registry the
framework modules join when imported, and what every backend shares.

Heavy frameworks are imported only inside the backend that needs them, so ``import raybench``
stays light and a missing framework fails with an error that says what to install.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from raybench.core.errors import ModelLoadError, is_control_flow


@dataclass(frozen=True)
class ModelSpec:
    """What a copy needs to build its model; plain data, shipped to every copy.

    Attributes:
        framework: Backend name: ``"callable"`` (a user ``load_fn``), ``"class"`` (a no-arg
            model class) or ``"torch"`` (a TorchScript file or an ``nn.Module`` class).
        model: The file name, the class, or the ``load_fn``.
        model_filename: The file the model loads from, if any (given to ``load_fn``).
        device_type: Resolved device: ``"cpu"``, ``"neuron"`` or ``"gpu"``.
        device_id_passing: For a ``load_fn``: how it takes the device id (``"keyword"``,
            ``"position"``, or None for a one-argument loader), decided once from its signature
            (:func:`raybench.backends.plain.device_id_passing`).
    """

    framework: str
    model: Any
    model_filename: str | None
    device_type: str
    device_id_passing: str | None = None


class Backend(Protocol):
    """Loads a model and adapts inputs and threads for one framework."""

    def load(self, spec: ModelSpec, device_id: int = 0) -> Callable[..., Any]:
        """Return the callable that runs one inference: ``model(*inputs)``.

        ``device_id`` is the copy's NeuronPerf device number (see :func:`device_id_of`); only a
        user's ``load_fn`` is given it.
        """

    def prepare_inputs(self, inputs: tuple[Any, ...], spec: ModelSpec) -> tuple[Any, ...]:
        """Move one input set to the device the model runs on."""

    def thread_init(self, spec: ModelSpec) -> None:
        """Per-thread setup, run once in every worker thread before it calls the model."""


def device_id_of(copy_id: int, pipeline_size: int, device_type: str) -> int:
    """The ``device_id`` NeuronPerf gives a copy's ``load_fn``: the copy's first NeuronCore
    (copy index x pipeline size) on Neuron, the copy index elsewhere.

    A ``load_fn`` gets it by keyword when it names a ``device_id`` parameter (or takes
    ``**kwargs``), by position when its second parameter is required, and not at all when it
    takes one argument. Under Ray this is a number, not an address: each copy sees only its own
    cores or GPU (Ray sets ``NEURON_RT_VISIBLE_CORES`` or ``CUDA_VISIBLE_DEVICES`` to them), so
    inside the copy its first core or GPU is always index 0 (``cuda:0``).
    """
    return copy_id * pipeline_size if device_type == "neuron" else copy_id


def describe_model(model: Any) -> tuple[str, str]:
    """Return ``(model_filename, model_name)`` for reports, for a path, class or callable."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        base = os.path.basename(os.path.normpath(path))
        return path, base.split(".")[0] or base
    name = getattr(model, "__qualname__", None) or type(model).__name__
    return f"{getattr(model, '__module__', '?')}.{name}", getattr(model, "__name__", name)


def construct(model_class: Any) -> Any:
    try:
        return model_class()
    except BaseException as exc:  # the user's constructor, SystemExit too: report what it raised
        if is_control_flow(exc):
            raise
        msg = f"could not construct model class {describe_model(model_class)[0]}: {exc!r}"
        raise ModelLoadError(msg) from exc



#: Backends by framework name; each backend module adds its own when imported.
_REGISTRY: dict[str, Backend] = {}


def register(framework: str, backend: Backend) -> None:
    """Make ``backend`` the one that loads ``framework``'s models."""
    _REGISTRY[framework] = backend


def get_backend(framework: str) -> Backend:
    """The backend registered for ``framework`` (``raybench.backends`` imports every one)."""
    return _REGISTRY[framework]


def is_async_model(model: Any) -> bool:
    """True when calling the model returns an awaitable (an ``async def`` model)."""
    call = model if inspect.isfunction(model) or inspect.ismethod(model) else type(model).__call__
    return inspect.iscoroutinefunction(call)
