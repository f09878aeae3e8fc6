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
        warmup_s: Warmup by time: seconds each worker warms up (``warmup`` is then 0).
        arrival: "closed" (call again when the last call returns), or open-loop "constant" /
            "poisson" sends at ``rate``.
        rate: Open-loop sends per second of each copy.
        min_infs: Keep measuring until at least this many ok inferences (and ``duration``).
        stability: End once the last three windows agree within this fraction on throughput
            and p50.
        max_duration_s: The bound on a config that ``min_infs``/``stability`` may extend or end.
        stability_window_s: Length of one stability window.
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
    warmup_s: float | None = None
    arrival: str = "closed"
    rate: float | None = None
    min_infs: int | None = None
    stability: float | None = None
    max_duration_s: float | None = None
    stability_window_s: float = 1.0

    @property
    def adaptive(self) -> bool:
        """The collector decides when measuring ends (``min_infs`` or ``stability``)."""
        return self.min_infs is not None or self.stability is not None

    @property
    def longest_s(self) -> float:
        """The longest the measurement can last."""
        return self.max_duration_s if self.adaptive and self.max_duration_s is not None else self.duration_s


DEVICE_TYPES = ("auto", "cpu", "cuda", "gpu", "neuron")
DEFAULT_DURATION_S = 60.0
#: ``max_duration`` when ``min_infs``/``stability`` is given without one: this many durations.
DEFAULT_MAX_DURATION_FACTOR = 10
#: Arrival processes: "closed" (a worker calls again as soon as its call returns), or open-loop
#: sends at fixed intervals ("constant") or with exponential gaps ("poisson").
ARRIVALS = ("closed", "constant", "poisson")
RATE_PER = ("copy", "config")
#: The largest copy or worker id: timer rows carry them as int16.
MAX_ID = 32767
#: A copy's workers ship their rows at least this often (so a copy that dies loses at most this
#: much).
FLUSH_INTERVAL_NS = 500_000_000
#: The shortest ``stability_window``: a fifth of the flush interval. Windows are judged as the
#: rows arrive, a flush at a time; far shorter ones (1 µs) would hold a handful of calls each and
#: cost the collector one window per microsecond of measurement.
MIN_STABILITY_WINDOW_S = FLUSH_INTERVAL_NS / 5 / 1e9
#: The highest open-loop rate a copy can be asked for: one send per nanosecond, the clock's
#: resolution. Anything near it is far beyond what a Python caller can send; the config then
#: runs on time and reports how much of the schedule it met.
MAX_RATE_PER_S = 1e9


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
    warmup_s: float | None = None
    arrival: str = "closed"
    rate: float | None = None
    rate_per: str = "copy"
    min_infs: int | None = None
    stability: float | None = None
    max_duration_s: float | None = None
    stability_window_s: float = 1.0


def _fail(msg: str) -> None:
    from raybench.core.errors import ConfigError

    raise ConfigError(msg)


def is_int(value: object) -> bool:
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
        elif is_int(item) and int(item) > 0:  # type: ignore[call-overload]
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


def parse_warmup(warmup: object) -> tuple[int, float | None]:
    """``warmup`` as ``(inferences per worker, seconds or None)``: an int counts inferences, a
    string like ``"2s"`` or ``"500ms"`` is a time each worker warms up for.

    Raises:
        ConfigError: neither a non-negative int nor such a time.
    """
    import re

    if is_int(warmup) and int(warmup) >= 0:  # type: ignore[call-overload]
        return int(warmup), None  # type: ignore[call-overload]
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|ms)\s*", warmup) if isinstance(warmup, str) else None
    if match is None:
        _fail(
            "warmup must be a non-negative int number of inferences per worker or a time like "
            f"'2s' or '500ms' (got {warmup!r})"
        )
    assert match is not None  # _fail raised otherwise
    seconds = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
    return 0, seconds


def _open_loop_options(arrival: object, rate: object, rate_per: object) -> tuple[str, float | None, str]:
    if not isinstance(arrival, str) or arrival.lower() not in ARRIVALS:
        _fail(f"arrival must be one of {', '.join(repr(a) for a in ARRIVALS)} (got {arrival!r})")
    arrival = arrival.lower()  # type: ignore[union-attr]
    if not isinstance(rate_per, str) or rate_per not in RATE_PER:
        _fail(f"rate_per must be 'copy' or 'config' (got {rate_per!r})")
    if arrival == "closed":
        if rate is not None:
            _fail(f"rate needs an open-loop arrival ('constant' or 'poisson'); arrival is 'closed' (got rate={rate!r})")
        return "closed", None, str(rate_per)
    if rate is None:
        _fail(f"rate must be given for arrival {arrival!r}: sends per second (got None)")
    value = check_number("rate", rate, minimum=0, inclusive=False, unit="sends per second")
    if value > MAX_RATE_PER_S:
        _fail(f"rate must be at most {MAX_RATE_PER_S:g} sends per second, one per nanosecond (got {rate!r})")
    return str(arrival), value, str(rate_per)


def _stop_options(
    min_infs: object, stability: object, max_duration: object, stability_window: object, duration_s: float
) -> tuple[int | None, float | None, float | None, float]:
    if min_infs is not None and not (is_int(min_infs) and int(min_infs) > 0):  # type: ignore[call-overload]
        _fail(f"min_infs must be a positive int or None (got {min_infs!r})")
    stability_f = None
    if stability is not None:
        stability_f = check_number("stability", stability, minimum=0, inclusive=False, unit="a fraction like 0.1")
        if stability_f >= 1:
            _fail(f"stability must be a fraction between 0 and 1, like 0.1 for 10 % (got {stability!r})")
    window = check_number("stability_window", stability_window, minimum=MIN_STABILITY_WINDOW_S, inclusive=True,
                          unit="seconds: a fifth of the 0.5 s interval at which copies ship their rows")
    adaptive = min_infs is not None or stability is not None
    max_s = None
    if max_duration is not None:
        max_s = check_number("max_duration", max_duration, minimum=0, inclusive=False, unit="seconds")
        if not adaptive:
            _fail(f"max_duration bounds min_infs or stability; give one of them (got max_duration={max_duration!r})")
        if max_s < duration_s and min_infs is not None:
            _fail(f"max_duration must be at least duration ({duration_s:g} s) with min_infs (got {max_duration!r})")
    elif adaptive:
        max_s = duration_s * DEFAULT_MAX_DURATION_FACTOR
    return (None if min_infs is None else int(min_infs)), stability_f, max_s, window  # type: ignore[call-overload]


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
    arrival: object = "closed",
    rate: object = None,
    rate_per: object = "copy",
    min_infs: object = None,
    stability: object = None,
    max_duration: object = None,
    stability_window: object = 1.0,
) -> SweepOptions:
    """Validate the sweep arguments (everything that does not need the cluster)."""
    if not isinstance(device_type, str) or device_type.lower() not in DEVICE_TYPES:
        allowed = ", ".join(repr(d) for d in DEVICE_TYPES)
        _fail(f"device_type must be one of {allowed} (got {device_type!r})")
    for flag_name, flag in (("multiprocess", multiprocess), ("multiinterpreter", multiinterpreter)):
        if not isinstance(flag, bool):
            _fail(f"{flag_name} must be True or False (got {flag!r})")
    warmup_n, warmup_s = parse_warmup(warmup)
    duration_s = check_number("duration", duration, minimum=0, inclusive=False, unit="seconds")
    arrival_mode, rate_value, rate_scope = _open_loop_options(arrival, rate, rate_per)
    min_n, stability_f, max_s, window_s = _stop_options(min_infs, stability, max_duration, stability_window, duration_s)
    n_models_values = None if n_models is None else positive_ints("n_models", n_models, allow_max=True)
    workers_values = None if workers_per_model is None else positive_ints("workers_per_model", workers_per_model)
    for name, values in (("n_models", n_models_values), ("workers_per_model", workers_values)):
        too_many = [v for v in values or () if v != "max" and int(v) > MAX_ID]
        if too_many:
            _fail(f"{name} must be at most {MAX_ID:,}: timer rows carry it as a 16-bit id (got {too_many[0]!r})")
    return SweepOptions(
        batch_sizes=batch_sizes,
        n_models=n_models_values,
        workers_per_model=workers_values,  # type: ignore[arg-type]
        pipeline_sizes=(1,) if pipeline_sizes is None else positive_ints("pipeline_sizes", pipeline_sizes),  # type: ignore[arg-type]
        duration_s=duration_s,
        warmup=warmup_n,
        device_type=device_type.lower(),
        multiprocess=bool(multiprocess),
        multiinterpreter=bool(multiinterpreter),
        warmup_s=warmup_s,
        arrival=arrival_mode,
        rate=rate_value,
        rate_per=rate_scope,
        min_infs=min_n,
        stability=stability_f,
        max_duration_s=max_s,
        stability_window_s=window_s,
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
                        warmup_s=options.warmup_s,
                        arrival=options.arrival,
                        rate=_rate_per_copy(options, n_models),
                        min_infs=options.min_infs,
                        stability=options.stability,
                        max_duration_s=options.max_duration_s,
                        stability_window_s=options.stability_window_s,
                    )
                )
    return configs


def _rate_per_copy(options: SweepOptions, n_models: int) -> float | None:
    """Each copy's open-loop rate: ``rate`` per copy, or a config's ``rate`` shared by its copies."""
    if options.rate is None:
        return None
    return options.rate / n_models if options.rate_per == "config" else options.rate
