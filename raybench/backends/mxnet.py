"""The MXNet backend: Apache MXNet 1.x checkpoints, plain or compiled for Inf1 with mx_neuron.

A checkpoint is ``prefix-symbol.json`` plus ``prefix-NNNN.params`` (``mx.model.save_checkpoint``;
the Neuron compiler's output is saved the same way). It is loaded with
``mx.model.load_checkpoint`` and run through the Symbol executor API (``simple_bind``,
``forward``), the one API both MXNet-Neuron releases support (1.5 has no Gluon/NDArray support on
Neuron). MXNet is imported only inside these functions.

A copy binds one executor per input shape, on the first call with that shape (the warmup).
MXNet 1.x executors are not thread-safe — a call writes the inputs into the executor's own
arrays and its outputs are overwritten by the next call — so a copy's workers take turns, and
each call returns its outputs copied out as numpy arrays; ``asnumpy`` also waits for MXNet's
asynchronous engine, so a call's time includes its completion. For parallelism, run more copies.

Inputs map to the symbol's *data* arguments: those without parameters in the checkpoint and
whose names do not end in ``label`` (MXNet's convention, e.g. ``softmax_label``; label
arguments are given zeros by ``simple_bind``). Positional inputs follow ``sym.list_arguments()``
order; one dict input names them.
"""

from __future__ import annotations

import glob
import importlib
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from raybench.backends.base import ModelSpec, register
from raybench.backends.neuron import import_extension
from raybench.core.errors import ConfigError, MissingDependencyError, ModelLoadError

_PARAMS_RE = re.compile(r"^(?P<prefix>.+)-(?P<epoch>\d{4,})\.params$")


def import_mxnet() -> Any:
    """Import MXNet, or raise an error saying how to install it.

    Raises:
        MissingDependencyError: MXNet is not installed, or is installed but fails to import
            (MXNet 1.9 uses ``np.bool``, which numpy removed in 1.24).
    """
    try:
        return importlib.import_module("mxnet")
    except ImportError as exc:
        raise MissingDependencyError("the mxnet backend needs MXNet: pip install mxnet") from exc
    except Exception as exc:  # installed, but broken by its environment: say why
        import numpy

        msg = (f"the mxnet backend could not import MXNet ({type(exc).__name__}: {exc}); MXNet 1.x needs "
               f"numpy older than 1.24 (this is numpy {numpy.__version__})")
        raise MissingDependencyError(msg) from exc


def resolve_checkpoint(model_filename: Any) -> tuple[str, int]:
    """Find the checkpoint ``(prefix, epoch)`` that a model file name refers to.

    Args:
        model_filename: ``prefix-symbol.json`` (the newest epoch's params are used),
            ``prefix-NNNN.params``, or ``prefix``.

    Returns:
        The prefix and epoch that ``mx.model.load_checkpoint`` takes.

    Raises:
        ModelLoadError: not a path, the symbol file is missing, or no params file exists.
    """
    if not isinstance(model_filename, (str, os.PathLike)):
        msg = f"model_filename must be an MXNet checkpoint's -symbol.json or .params file (got {model_filename!r})"
        raise ModelLoadError(msg)
    path = os.fspath(model_filename)
    match = _PARAMS_RE.match(path)
    if match:
        prefix, epoch = match["prefix"], int(match["epoch"])
    else:
        prefix = path.removesuffix("-symbol.json")
        epochs = [int(m["epoch"]) for m in map(_PARAMS_RE.match, glob.glob(f"{glob.escape(prefix)}-*.params"))
                  if m and m["prefix"] == prefix]
        if not epochs:
            raise ModelLoadError(f"model_filename {path!r} needs a {prefix}-NNNN.params file next to it (found none)")
        epoch = max(epochs)
    for needed in (f"{prefix}-symbol.json", f"{prefix}-{epoch:04d}.params"):
        if not os.path.isfile(needed):
            raise ModelLoadError(f"model_filename {path!r} needs the checkpoint file {needed!r} (not found)")
    return prefix, epoch


def _context(mx: Any, device_type: str) -> Any:
    if device_type == "neuron":
        return mx.neuron()
    return mx.gpu(0) if device_type == "gpu" else mx.cpu()


class CheckpointModel:
    """One loaded checkpoint, called as ``model(*inputs)``; binds an executor per input shape."""

    def __init__(self, symbol: Any, arg_params: dict[str, Any], aux_params: dict[str, Any], ctx: Any) -> None:
        self._symbol = symbol
        self._arg_params = arg_params
        self._aux_params = aux_params
        self._ctx = ctx
        self.data_names = [name for name in symbol.list_arguments()
                           if name not in arg_params and not name.endswith("label")]
        self._executors: dict[tuple[tuple[str, tuple[int, ...]], ...], Any] = {}
        self._lock = threading.Lock()  # MXNet 1.x executors are not thread-safe

    def __call__(self, *inputs: Any) -> Any:
        """Run one inference; return the output (a list of them if several) as numpy arrays."""
        feed = inputs[0] if len(inputs) == 1 and isinstance(inputs[0], Mapping) else self._by_name(inputs)
        key = tuple((name, tuple(value.shape)) for name, value in feed.items())
        with self._lock:
            executor = self._executors.get(key) or self._bind(key, feed)
            executor.forward(is_train=False, **feed)
            outputs = [out.asnumpy() for out in executor.outputs]  # waits, and survives the next call
        return outputs[0] if len(outputs) == 1 else outputs

    def _by_name(self, inputs: tuple[Any, ...]) -> dict[str, Any]:
        if len(inputs) != len(self.data_names):
            msg = (f"inputs must hold one array per data input of the MXNet model {self.data_names} "
                   f"(got {len(inputs)})")
            raise ConfigError(msg)
        return dict(zip(self.data_names, inputs, strict=True))

    def _bind(self, key: tuple[tuple[str, tuple[int, ...]], ...], feed: Mapping[str, Any]) -> Any:
        executor = self._symbol.simple_bind(
            ctx=self._ctx, grad_req="null", type_dict={name: value.dtype for name, value in feed.items()}, **dict(key),
        )
        executor.copy_params_from(self._arg_params, self._aux_params, allow_extra_params=True)
        self._executors[key] = executor
        return executor


class MXNetBackend:
    """An MXNet checkpoint on the CPU, a GPU, or (compiled with mx_neuron) NeuronCores."""

    def load(self, spec: ModelSpec, device_id: int = 0) -> Callable[..., Any]:
        """Load the checkpoint ``spec.model`` names and return ``model(*inputs)``.

        Raises:
            MissingDependencyError: MXNet (or, for neuron, mx_neuron) is missing.
            ModelLoadError: the checkpoint could not be found or loaded.
        """
        mx = import_mxnet()
        if spec.device_type == "neuron":
            import_extension("mxnet")  # registers the Neuron op and mx.neuron() before loading
        prefix, epoch = resolve_checkpoint(spec.model)
        try:
            symbol, arg_params, aux_params = mx.model.load_checkpoint(prefix, epoch)
        except Exception as exc:
            msg = f"could not load MXNet checkpoint {prefix!r} epoch {epoch}: {exc!r}"
            raise ModelLoadError(msg) from exc
        return CheckpointModel(symbol, arg_params, aux_params, _context(mx, spec.device_type))

    def prepare_inputs(self, inputs: tuple[Any, ...], spec: ModelSpec) -> tuple[Any, ...]:
        """Turn arrays into ``mx.nd.NDArray`` once (on the GPU for gpu; Neuron reads host memory)."""
        mx = import_mxnet()
        ctx = mx.gpu(0) if spec.device_type == "gpu" else mx.cpu()

        def convert(value: Any) -> Any:
            if isinstance(value, mx.nd.NDArray):
                return value.as_in_context(ctx)
            return mx.nd.array(value, ctx=ctx, dtype=getattr(value, "dtype", None))

        return tuple({k: convert(v) for k, v in x.items()} if isinstance(x, Mapping) else convert(x) for x in inputs)

    def thread_init(self, spec: ModelSpec) -> None:
        """Nothing to do: the model's lock already keeps its executors to one thread at a time."""


register("mxnet", MXNetBackend())
