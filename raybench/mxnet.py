"""``raybench.mxnet``: benchmark Apache MXNet 1.x checkpoints (``prefix-symbol.json`` +
``prefix-NNNN.params``; Neuron-compiled ones with mx_neuron on Inf1).

MXNet is imported only inside the copies, so ``import raybench`` does not pull it in.
"""

from __future__ import annotations

import os
from typing import Any

from raybench.report.results import Results
from raybench.run.api import run_benchmark

__all__ = ["benchmark"]


def benchmark(model_filename: str | os.PathLike[str], inputs: Any, **kwargs: Any) -> list[dict[str, Any]] | Results:
    """Benchmark an MXNet checkpoint; every copy binds it once per input shape and runs it.

    Args:
        model_filename: The checkpoint's ``prefix-NNNN.params`` file (``mx.model.save_checkpoint``
            writes it beside ``prefix-symbol.json``); a Neuron-compiled checkpoint with
            ``device_type="neuron"``. A ``.json`` name is read as a model index.
        inputs: One numpy array; a tuple of arrays for the model's data inputs in the symbol's
            argument order; a dict ``{input_name: array}``; a list with one per batch size.
        **kwargs: Every option of :func:`raybench.benchmark`.

    Returns:
        The reports, or a :class:`~raybench.Results` with ``return_timers=True``.

    Raises:
        ConfigError: a bad argument, e.g. a missing model file.
        MissingDependencyError: MXNet (or, for neuron, mx_neuron) is missing.
    """
    return run_benchmark("mxnet", model_filename, os.fspath(model_filename), inputs, **kwargs)
