"""The sweep, planned against the cluster: which model artifacts run at which batch and pipeline
sizes (variants), and the configs they expand to once ``"max"`` is a number.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

from raybench.backends import model_index
from raybench.core.errors import ConfigError
from raybench.core.log import logger
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
    cast_mode: str | None = None


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

    ``batch_sizes``/``pipeline_sizes``/``performance_levels``/``cast_modes`` filter the index;
    without ``batch_sizes`` every batch size of the index runs. ``inputs`` is matched to the
    selected batch sizes by :func:`match_index_inputs`.

    Returns:
        ``(variants, input sets, the index's model name)``.

    Raises:
        ConfigError: nothing selected, a selected artifact is missing, or the inputs cannot be
            matched to the batch sizes unambiguously.
    """
    axes = options.axes
    index = model_index.load(index_file)
    wanted = {key: list(value) for key, value in (("batch_size", axes.batch_sizes), ("pipeline_size", axes.pipeline_sizes),
                                                  ("performance_level", axes.performance_levels)) if value is not None}
    entries = model_index.filter(model_index.filter(index, status=STATUS_FINISHED), **wanted)["model_configs"]
    if axes.cast_modes is not None:  # entries without a cast_mode were compiled without one: they stay
        entries = [e for e in entries if e.get("cast_mode") is None or e["cast_mode"] in axes.cast_modes]
    if not entries:
        msg = (
            f"the model index {index_file!r} has no finished config with batch_sizes={_given(axes.batch_sizes)!r}, "
            f"pipeline_sizes={_given(axes.pipeline_sizes)!r}, performance_levels={_given(axes.performance_levels)!r}"
        )
        raise ConfigError(msg)
    selected = list(wanted.get("batch_size") or dict.fromkeys(int(e["batch_size"]) for e in entries))
    selected = [size for size in selected if any(int(e["batch_size"]) == size for e in entries)]
    index_sizes = list(dict.fromkeys(int(c["batch_size"]) for c in index["model_configs"]))
    input_sets, input_index = match_index_inputs(inputs, index_sizes, selected)
    variants = []
    for entry in entries:
        path = model_index.resolve_model_path(index_file, entry["filename"])
        if not os.path.exists(path):
            raise ConfigError(f"model_filename must name an existing file (got {path!r}, listed in {index_file!r})")
        variants.append(ModelVariant(path, int(entry["batch_size"]), input_index[int(entry["batch_size"])],
                                     int(entry["pipeline_size"]), entry.get("performance_level"), entry.get("cast_mode")))
    return variants, input_sets, str(index.get("model_name") or "model")


def leading_dimension(input_set: tuple[Any, ...]) -> int | None:
    """The leading (batch) dimension of an input set's first argument, when it has a shape."""
    shape = getattr(input_set[0], "shape", None) if input_set else None
    try:
        return int(shape[0]) if shape is not None and len(shape) >= 1 else None
    except (TypeError, ValueError):  # a symbolic or unknown dimension
        return None


def match_index_inputs(inputs: Any, index_sizes: list[int],
                       selected: list[int]) -> tuple[list[tuple[Any, ...]], dict[int, int]]:
    """Pair each selected batch size of a model index with its input set.

    ``inputs`` is what ``compile`` was given (one input set per batch size of the index, in the
    index's order) or one input set per selected batch size, or a single input set. NeuronPerf
    pairs by position even after ``batch_sizes`` filtered the index, feeding the batch-1 input to
    the batch-4 model; here an input set whose first argument has a leading dimension equal to
    the batch size is the match. Otherwise the position decides, in the index's order when there
    is one input set per batch size of the index, else in the selected order.

    Returns:
        ``(input sets, {batch size: index into them})``.

    Raises:
        ConfigError: the number of input sets fits neither the index nor the selection, or both
            orders fit and disagree with no leading dimension to decide.
    """
    if inputs is None:
        normalise_inputs(inputs, None)  # raises its message
    sets = [x if isinstance(x, tuple) else (x,) for x in (inputs if isinstance(inputs, list) else [inputs])]
    if not sets:
        raise ConfigError("inputs must not be an empty list (got [])")
    if len(sets) == 1:
        if len(selected) > 1:
            raise ConfigError(f"inputs has 1 input set but the model index selection has batch sizes {selected}; "
                              "give a list of inputs with one input set per batch size")
        _check_leading_dimension(sets, 0, selected[0])
        return sets, {selected[0]: 0}
    dims = [leading_dimension(s) for s in sets]
    orders = [order for order in (index_sizes, selected) if len(order) == len(sets)]
    if not orders:
        raise ConfigError(
            f"inputs has {len(sets)} input sets, but the model index has batch sizes {index_sizes} and the selection "
            f"{selected}: give one input set per batch size of the index (as given to compile) or per selected size")
    chosen: dict[int, int] = {}
    for size in selected:
        by_dim = [i for i, dim in enumerate(dims) if dim == size]
        if len(by_dim) == 1:
            chosen[size] = by_dim[0]
            continue
        positions = {order.index(size) for order in orders if size in order}
        if len(positions) > 1:  # both orders fit the count, and they disagree
            raise ConfigError(
                f"inputs has {len(sets)} input sets, which pair with batch size {size} at position "
                f"{index_sizes.index(size)} in the index's order {index_sizes} and at {selected.index(size)} in the "
                f"selected order {selected}; give inputs whose leading dimension is the batch size, or one input set "
                "per batch size of the index")
        chosen[size] = positions.pop()
        _check_leading_dimension(sets, chosen[size], size)
    return sets, chosen


def _check_leading_dimension(sets: list[tuple[Any, ...]], i: int, batch_size: int) -> None:
    """Warn when the input paired with a batch size has another leading dimension: its throughput
    counts ``batch_size`` samples a call (a model whose inputs lead with another axis is fine)."""
    dim = leading_dimension(sets[i])
    if dim is not None and dim != batch_size:
        logger.warning("input set %d has leading dimension %d but runs the batch-%d artifact of the model index; "
                       "throughput counts %d samples per call", i, dim, batch_size, batch_size)


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
    """Expand the sweep into configs: variant (batch size x pipeline size) x cast mode x n_models x
    workers.

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
        # An artifact compiled with a cast mode has it; any other runs once per cast mode asked
        # for (a label the setup functions read from the config dict).
        modes = (variant.cast_mode,) if variant.cast_mode is not None else options.axes.cast_modes or (None,)
        for cast_mode, n_models, workers_per_model in itertools.product(modes, counts, workers):
            configs.append(RunConfig(
                config_id=len(configs), model_filename=variant.model_filename, model_name=model_name,
                device_type=device_type, batch_size=variant.batch_size, input_index=variant.input_index,
                n_models=n_models, workers_per_model=workers_per_model, pipeline_size=variant.pipeline_size,
                performance_level=variant.performance_level, cast_mode=cast_mode,
                multiprocess=options.placement.multiprocess,
                multiinterpreter=options.placement.multiinterpreter, measure=options.measure, load=options.load,
                stop=options.stop,
            ))
    return configs
