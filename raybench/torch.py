"""``raybench.torch.benchmark``: a TorchScript file or an ``nn.Module`` class.

torch is imported only inside the copies (and when this module's functions need it), so
``import raybench`` does not pull it in.
"""

from __future__ import annotations

import os
from typing import Any

from raybench._api import run_benchmark
from raybench._results import Results


def benchmark(model: str | os.PathLike[str] | type, inputs: Any, **kwargs: Any) -> list[dict[str, Any]] | Results:
    """Benchmark a torch model; every call runs with autograd off (``no_grad``).

    Args:
        model: A TorchScript file (``torch.jit.save``; a Neuron-compiled one with
            ``device_type="neuron"``) or a top-level ``nn.Module`` class with a no-argument
            constructor.
        inputs: One tensor; a tuple of tensors for ``model(*inputs)``; a list with one per
            batch size.
        **kwargs: Every option of :func:`raybench.benchmark`.

    Returns:
        The reports, or a :class:`~raybench.Results` with ``return_timers=True``.

    Raises:
        ConfigError: a bad argument, e.g. a missing model file.
        MissingDependencyError: torch (or, for neuron, torch-neuron/torch-neuronx) is missing.
    """
    filename = os.fspath(model) if isinstance(model, (str, os.PathLike)) else None
    return run_benchmark("torch", model, filename, inputs, **kwargs)
