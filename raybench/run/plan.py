"""The sweep, planned against the cluster: which model artifacts run at which batch and pipeline
sizes (variants), and the configs they expand to once ``"max"`` is a number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from raybench.backends import model_index
from raybench.core.errors import ConfigError
from raybench.core.inputs import normalise_inputs
from raybench.core.options import Options
from raybench.core.schema import STATUS_FINISHED, RunConfig


def default_workers(pipeline_size: int) -> tuple[int, ...]:
    """NeuronPerf's default workers per copy: [1, 2], or [1, p - 1] for pipeline size p > 1."""
    if pipeline_size == 1:
        return (1, 2)
    return tuple(sorted({1, pipeline_size - 1}))


@dataclass(frozen=True)
class ModelVariant:
    """One model artifact at one batch size and pipeline size: what a config runs.

    A plain benchmark has one model at every batch size x pipeline size; a model index has one
    artifact per entry.
    """

    model_filename: str
    batch_size: int
    input_index: int
    pipeline_size: int
    performance_level: int | None = None


def plain_variants(batch_sizes: tuple[int, ...], pipeline_sizes: tuple[int, ...],
                   model_filename: str) -> list[ModelVariant]:
    """The variants of a single model: every batch size (with its input set) x pipeline size."""
    return [
        ModelVariant(model_filename, batch_size, input_index, int(pipeline_size))
        for input_index, batch_size in enumerate(batch_sizes)
        for pipeline_size in pipeline_sizes
    ]


def index_variants(index_file: str, inputs: Any, options: Options) -> tuple[list[ModelVariant], list[tuple[Any, ...]],
                                                                            str]:
    """Select the index's finished configs that match the sweep axes; pair inputs by batch size.

    ``batch_sizes``/``pipeline_sizes``/``performance_levels`` filter the index; without
    ``batch_sizes`` the index's own batch sizes are used (sorted), and ``inputs`` holds one input
    set per batch size in that order (or one input set when there is one batch size).

    Returns:
        ``(variants, input sets, the index's model name)``.

    Raises:
        ConfigError: nothing selected, or a selected artifact is missing.
    """
    axes = options.axes
    index = model_index.load(index_file)
    wanted = {key: list(value) for key, value in (("batch_size", axes.batch_sizes), ("pipeline_size", axes.pipeline_sizes),
                                                  ("performance_level", axes.performance_levels)) if value is not None}
    entries = model_index.filter(model_index.filter(index, status=STATUS_FINISHED), **wanted)["model_configs"]
    if not entries:
        msg = (
            f"the model index {index_file!r} has no finished config with batch_sizes={_given(axes.batch_sizes)!r}, "
            f"pipeline_sizes={_given(axes.pipeline_sizes)!r}, performance_levels={_given(axes.performance_levels)!r}"
        )
        raise ConfigError(msg)
    wanted_sizes = wanted.get("batch_size") or sorted({int(e["batch_size"]) for e in entries})
    input_sets, sizes = normalise_inputs(inputs, list(wanted_sizes))
    input_index = {size: i for i, size in enumerate(sizes)}
    variants = []
    for entry in entries:
        path = model_index.resolve_model_path(index_file, entry["filename"])
        if not os.path.exists(path):
            raise ConfigError(f"model_filename must name an existing file (got {path!r}, listed in {index_file!r})")
        variants.append(ModelVariant(path, int(entry["batch_size"]), input_index[int(entry["batch_size"])],
                                     int(entry["pipeline_size"]), entry.get("performance_level")))
    return variants, input_sets, str(index.get("model_name") or "model")


def _given(values: tuple[int, ...] | None) -> list[int] | None:
    """An axis for messages: a list, or None when not given."""
    return None if values is None else list(values)


def expand_sweep(
    options: Options,
    variants: list[ModelVariant],
    *,
    model_name: str,
    device_type: str,
    max_copies: dict[int, int],
) -> list[RunConfig]:
    """Expand the sweep into configs: variant (batch size x pipeline size) x n_models x workers.

    Args:
        options: The validated arguments.
        variants: The model artifacts to run, in order.
        model_name: For the reports.
        device_type: The resolved device (``"auto"`` already decided).
        max_copies: MAX copies per pipeline size, from the cluster.
    """
    configs: list[RunConfig] = []
    for variant in variants:
        most = max_copies[variant.pipeline_size]
        if options.axes.n_models is None:
            counts: list[int] = sorted({1, most}) if most >= 1 else [1]
        else:
            counts = list(dict.fromkeys(most if n == "max" else int(n) for n in options.axes.n_models))
        workers = options.axes.workers_per_model or default_workers(variant.pipeline_size)
        for n_models in counts:
            for workers_per_model in workers:
                configs.append(RunConfig(
                    config_id=len(configs), model_filename=variant.model_filename, model_name=model_name,
                    device_type=device_type, batch_size=variant.batch_size, input_index=variant.input_index,
                    n_models=n_models, workers_per_model=workers_per_model, pipeline_size=variant.pipeline_size,
                    performance_level=variant.performance_level, multiprocess=options.placement.multiprocess,
                    multiinterpreter=options.placement.multiinterpreter, measure=options.measure, load=options.load,
                    stop=options.stop,
                ))
    return configs
