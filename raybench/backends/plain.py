"""The backends for plain Python models: the user's ``load_fn(model_filename)``, and a class
built with no arguments in each copy (``raybench.cpu``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raybench.backends.base import ModelSpec, construct, register
from raybench.core.errors import ModelLoadError, is_control_flow


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
        return construct(spec.model)  # type: ignore[no-any-return]




register("callable", CallableBackend())
register("class", ClassBackend())
