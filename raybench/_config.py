"""Benchmark configuration: validate every argument, normalise the inputs, expand the sweep."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass


@dataclass(frozen=True)
class RunConfig:
    """One point of the sweep: a model run by ``n_models`` copies for ``duration_s`` seconds.

    Attributes:
        config_id: Position in the sweep (0-based); ties timers and outcomes to the config.
        model_filename: What was benchmarked (a file name, or ``module.Class`` for a class).
        model_name: Name used in reports and default file names.
        device_type: Resolved device: ``"cpu"``, ``"neuron"`` or ``"gpu"``.
        batch_size: Samples per inference; scales throughput.
        input_index: Which of the normalised input sets this config feeds the model.
        n_models: Number of model copies.
        workers_per_model: Concurrent callers inside each copy.
        pipeline_size: NeuronCores per copy.
        performance_level: Compiler performance level of the artifact, if known.
        duration_s: Seconds of measurement (load and warmup happen before).
        warmup: Warmup inferences per worker before measuring.
        multiprocess: Copies run as Ray actors (True) or in the calling process (False).
        multiinterpreter: Accepted for NeuronPerf compatibility; a Ray actor is always a fresh
            interpreter.
    """

    config_id: int
    model_filename: str
    model_name: str
    device_type: str
    batch_size: int
    input_index: int
    n_models: int
    workers_per_model: int
    pipeline_size: int = 1
    performance_level: int | None = None
    duration_s: float = 60.0
    warmup: int = 1
    multiprocess: bool = True
    multiinterpreter: bool = False


DEVICE_TYPES = ("auto", "cpu", "cuda", "gpu", "neuron")
DEFAULT_DURATION_S = 60.0


@dataclass(frozen=True)
class SweepOptions:
    """The validated sweep arguments of one ``benchmark`` call, before MAX is known.

    ``n_models`` entries are ints or ``"max"`` (resolved against the cluster by
    :func:`expand_sweep`); ``None`` means NeuronPerf's default for that argument.
    """

    batch_sizes: tuple[int, ...]
    n_models: tuple[int | str, ...] | None
    workers_per_model: tuple[int, ...] | None
    pipeline_sizes: tuple[int, ...]
    duration_s: float
    warmup: int
    device_type: str
    multiprocess: bool
    multiinterpreter: bool


def _fail(msg: str) -> None:
    from raybench._exceptions import ConfigError

    raise ConfigError(msg)


def _is_int(value: object) -> bool:
    # bool is an int subclass, but n_models=True is a mistake, not a count; numpy ints are fine.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_ints(name: str, value: object, *, allow_max: bool = False) -> tuple[int | str, ...]:
    """Validate an int-or-list-of-ints argument; return it as a tuple.

    Raises:
        ConfigError: an entry is not a positive int (nor ``"max"`` where allowed).
    """
    rule = f"{name} must be a positive int or a list of them"
    if allow_max:
        rule += ' (or "max")'
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        _fail(f"{rule} (got {value!r})")
    out: list[int | str] = []
    for item in values:
        if allow_max and isinstance(item, str) and item.lower() == "max":
            out.append("max")
        elif _is_int(item) and int(item) > 0:  # type: ignore[call-overload]
            out.append(int(item))  # type: ignore[call-overload]
        else:
            _fail(f"{rule} (got {value!r})")
    return tuple(out)


def check_callable(name: str, fn: object) -> None:
    """Raise ConfigError unless ``fn`` is None or callable."""
    if fn is not None and not callable(fn):
        _fail(f"{name} must be callable (got {fn!r})")


def check_number(name: str, value: object, *, minimum: float, inclusive: bool, unit: str = "") -> float:
    """Validate a finite real number against a lower bound; return it as float."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value >= minimum if inclusive else value > minimum  # type: ignore[operator]
    if not ok:  # also NaN and infinity: neither is a duration
        bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        what = f"a finite number {bound}" + (f" ({unit})" if unit else "")
        _fail(f"{name} must be {what} (got {value!r})")
    return float(value)  # type: ignore[arg-type]


def normalise_inputs(inputs: object, batch_sizes: object) -> tuple[list[tuple[object, ...]], tuple[int, ...]]:
    """Turn NeuronPerf's ``inputs``/``batch_sizes`` conventions into input sets and batch sizes.

    One value is one input; a tuple is a multi-input call ``model(*inputs)``; a list holds one
    input (or tuple) per batch size. ``batch_sizes`` defaults to ``[1]`` for a single input set.

    Returns:
        ``(input_sets, batch_sizes)`` of equal length; each input set is a tuple of arguments.

    Raises:
        ConfigError: missing inputs, or a list of inputs whose length differs from batch_sizes.
    """
    if inputs is None:
        _fail("inputs must be given: one input, a tuple of inputs, or a list with one per batch size (got None)")
    sets = list(inputs) if isinstance(inputs, list) else [inputs]
    if not sets:
        _fail("inputs must not be an empty list (got [])")
    input_sets = [x if isinstance(x, tuple) else (x,) for x in sets]
    if batch_sizes is None:
        if len(input_sets) > 1:
            _fail(f"batch_sizes is required when inputs holds several input sets (got {len(input_sets)} input sets)")
        sizes: tuple[int, ...] = (1,)
    else:
        sizes = positive_ints("batch_sizes", batch_sizes)  # type: ignore[assignment]
    if len(input_sets) == 1 and len(sizes) > 1:
        _fail(
            f"inputs has 1 input set but batch_sizes has {len(sizes)} entries; "
            "give a list of inputs with one input set per batch size"
        )
    if len(input_sets) != len(sizes):
        entries = "entry" if len(sizes) == 1 else "entries"
        _fail(
            f"inputs has {len(input_sets)} input sets but batch_sizes has {len(sizes)} {entries}; "
            "give one input set per batch size"
        )
    return input_sets, sizes


def sweep_options(
    *,
    batch_sizes: tuple[int, ...],
    n_models: object,
    workers_per_model: object,
    pipeline_sizes: object,
    duration: object,
    warmup: object,
    device_type: object,
    multiprocess: object,
    multiinterpreter: object,
) -> SweepOptions:
    """Validate the sweep arguments (everything that does not need the cluster)."""
    if not isinstance(device_type, str) or device_type.lower() not in DEVICE_TYPES:
        allowed = ", ".join(repr(d) for d in DEVICE_TYPES)
        _fail(f"device_type must be one of {allowed} (got {device_type!r})")
    for flag_name, flag in (("multiprocess", multiprocess), ("multiinterpreter", multiinterpreter)):
        if not isinstance(flag, bool):
            _fail(f"{flag_name} must be True or False (got {flag!r})")
    if not (_is_int(warmup) and int(warmup) >= 0):  # type: ignore[call-overload]
        _fail(f"warmup must be a non-negative int number of inferences per worker (got {warmup!r})")
    return SweepOptions(
        batch_sizes=batch_sizes,
        n_models=None if n_models is None else positive_ints("n_models", n_models, allow_max=True),
        workers_per_model=None
        if workers_per_model is None
        else positive_ints("workers_per_model", workers_per_model),  # type: ignore[arg-type]
        pipeline_sizes=(1,) if pipeline_sizes is None else positive_ints("pipeline_sizes", pipeline_sizes),  # type: ignore[arg-type]
        duration_s=check_number("duration", duration, minimum=0, inclusive=False, unit="seconds"),
        warmup=int(warmup),  # type: ignore[call-overload]
        device_type=device_type.lower(),
        multiprocess=bool(multiprocess),
        multiinterpreter=bool(multiinterpreter),
    )


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


def plain_variants(options: SweepOptions, model_filename: str) -> list[ModelVariant]:
    """The variants of a single model: every batch size (with its input set) x pipeline size."""
    return [
        ModelVariant(model_filename, batch_size, input_index, int(pipeline_size))
        for input_index, batch_size in enumerate(options.batch_sizes)
        for pipeline_size in options.pipeline_sizes
    ]


def expand_sweep(
    options: SweepOptions,
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
        if options.n_models is None:
            counts: list[int] = sorted({1, most}) if most >= 1 else [1]
        else:
            counts = list(dict.fromkeys(most if n == "max" else int(n) for n in options.n_models))
        workers = options.workers_per_model or default_workers(variant.pipeline_size)
        for n_models in counts:
            for workers_per_model in workers:
                configs.append(
                    RunConfig(
                        config_id=len(configs),
                        model_filename=variant.model_filename,
                        model_name=model_name,
                        device_type=device_type,
                        batch_size=variant.batch_size,
                        input_index=variant.input_index,
                        n_models=n_models,
                        workers_per_model=workers_per_model,
                        pipeline_size=variant.pipeline_size,
                        performance_level=variant.performance_level,
                        duration_s=options.duration_s,
                        warmup=options.warmup,
                        multiprocess=options.multiprocess,
                        multiinterpreter=options.multiinterpreter,
                    )
                )
    return configs
