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
