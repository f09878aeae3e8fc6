"""The backends for plain Python models: the user's ``load_fn(model_filename[, device_id])``,
and a class built with no arguments in each copy (``raybench.cpu``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from raybench.backends.base import ModelSpec, construct, register
from raybench.core.errors import ConfigError, ModelLoadError, is_control_flow

#: How a ``load_fn`` is given the device id: by keyword (NeuronPerf's ``device_id=``), as its
#: second positional argument, or not at all (a one-argument loader).
DEVICE_ID_BY_KEYWORD = "keyword"
DEVICE_ID_BY_POSITION = "position"


def device_id_passing(load_fn: Callable[..., Any]) -> str | None:
    """How to call ``load_fn``, decided once from its signature.

    NeuronPerf calls ``load_fn(filename, device_id=...)``. A loader that names a ``device_id``
    parameter (or takes ``**kwargs``) gets it by keyword; one whose second parameter is required
    gets it by position; a loader of one argument (or whose further parameters have defaults of
    their own, such as ``cache=True``) is called with the file name alone.

    Returns:
        :data:`DEVICE_ID_BY_KEYWORD`, :data:`DEVICE_ID_BY_POSITION` or None.

    Raises:
        ConfigError: ``load_fn`` cannot be called with a file name (and maybe a device id).
    """
    try:
        signature = inspect.signature(load_fn)
    except (TypeError, ValueError):  # a builtin without a signature: the one-argument form
        return None
    for passing, args, kwargs in ((DEVICE_ID_BY_KEYWORD, ("m",), {"device_id": 0}),
                                  (DEVICE_ID_BY_POSITION, ("m", 0), {}), (None, ("m",), {})):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            continue
        if passing == DEVICE_ID_BY_POSITION and not _second_is_required(signature):
            continue  # (filename, cache=True) or (filename, *args): do not fill it with a device id
        if passing == DEVICE_ID_BY_KEYWORD and "device_id" not in bound.arguments and not _takes_kwargs(signature):
            continue
        return passing
    msg = (f"load_fn must accept the model file name, and optionally a device id: load_fn(model_filename) or "
           f"load_fn(model_filename, device_id) (got {getattr(load_fn, '__qualname__', load_fn)}{signature})")
    raise ConfigError(msg)


def _second_is_required(signature: inspect.Signature) -> bool:
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 and positional[1].default is inspect.Parameter.empty


def _takes_kwargs(signature: inspect.Signature) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())


class CallableBackend:
    """``benchmark(load_fn, model_filename, ...)``: the user's ``load_fn(model_filename)``, or
    ``load_fn(model_filename, device_id=...)`` for a NeuronPerf-style loader."""

    def load(self, spec: ModelSpec, device_id: int = 0) -> Callable[..., Any]:
        try:
            if spec.device_id_passing == DEVICE_ID_BY_KEYWORD:
                model = spec.model(spec.model_filename, device_id=device_id)
            elif spec.device_id_passing == DEVICE_ID_BY_POSITION:
                model = spec.model(spec.model_filename, device_id)
            else:
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

    def load(self, spec: ModelSpec, device_id: int = 0) -> Callable[..., Any]:
        return construct(spec.model)  # type: ignore[no-any-return]




register("callable", CallableBackend())
register("class", ClassBackend())
