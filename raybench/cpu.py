"""``raybench.cpu.benchmark``: a plain Python model class on CPU copies."""

from __future__ import annotations

from typing import Any

from raybench.report.results import Results
from raybench.run.api import run_benchmark

__all__ = ["benchmark"]


def benchmark(model_class: type, inputs: Any, **kwargs: Any) -> list[dict[str, Any]] | Results:
    """Benchmark a model class on CPU; each copy constructs ``model_class()`` and calls it.

    Args:
        model_class: A top-level class whose no-argument constructor builds the model and whose
            instances are called as ``model(*inputs)`` (an ``async def __call__`` is awaited).
        inputs: One input; a tuple for a multi-input call; a list with one per batch size; or a
            dataset (see ``loop_dataset`` and ``dataset_loader_fn``).
        **kwargs: Every option of :func:`raybench.benchmark` (``device_type`` is "cpu").

    Returns:
        The reports, or a :class:`~raybench.Results` with ``return_timers=True``.

    Raises:
        ConfigError: a bad argument (the message names it).
        ClusterError: the cluster cannot place the copies a config asks for.
    """
    kwargs.setdefault("device_type", "cpu")
    return run_benchmark("class", model_class, None, inputs, **kwargs)
