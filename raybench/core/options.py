"""The options of a ``benchmark`` call, as a few small frozen groups, each validated in one place.

================  ==========================================================================
group             the keyword arguments it takes
================  ==========================================================================
``SweepAxes``     what to sweep: batch_sizes, n_models, workers_per_model, pipeline_sizes,
                  performance_levels, cast_modes
``Measure``       how each config measures: duration, warmup, streaming
``LoadShape``     the load: arrival, rate, rate_per, loop_dataset
``StopRule``      when a config has measured enough: min_infs, stability, max_duration,
                  stability_window
``Placement``     where to run: device_type, multiprocess, multiinterpreter, address,
                  ray_init_kwargs, stats_interval
``Hooks``         the user's functions: preprocess_fn, postprocess_fn, env_setup_fn, setup_fn,
                  dataset_loader_fn, count_tokens, count_input_tokens
``Limits``        what a run may cost: max_timer_rows, load_timeout, warmup_timeout,
                  keep_going
``Reporting``     what comes back: return_timers, verbosity, model_name, cost_per_hour, slo
``SearchRule``    a capacity search (``raybench.core.search``): search, search_tolerance,
                  max_steps
================  ==========================================================================

Each group's ``from_user`` takes exactly its keyword arguments (their names and defaults are
the API's), validates them and returns the group; ``__post_init__`` is not used for it, so a
group built by raybench itself (from a results file) is taken as it is. :meth:`Options.from_kwargs`
hands every keyword to its group, so adding an option means adding it to one group, its check
and the docs. Turning ``"max"`` and ``"auto"`` into numbers needs the cluster and happens later
(``raybench.run.plan``).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raybench.core.checks import (
    check_bool,
    check_callable,
    check_number,
    is_int,
    parse_warmup,
    positive_ints,
)
from raybench.core.checks import cast_modes as check_cast_modes
from raybench.core.checks import performance_levels as check_performance_levels
from raybench.core.errors import ConfigError
from raybench.core.search import SearchRule, resolve_search
from raybench.core.slo import check_slo
from raybench.core.log import check_verbosity

DEVICE_TYPES = ("auto", "cpu", "cuda", "gpu", "neuron")
#: Arrival processes: "closed" (a worker calls again as soon as its call returns), or open-loop
#: sends at fixed intervals ("constant") or with exponential gaps ("poisson").
ARRIVALS = ("closed", "constant", "poisson")
RATE_PER = ("copy", "config")
DEFAULT_DURATION_S = 60.0
#: ``max_duration`` when ``min_infs``/``stability`` is given without one: this many durations.
DEFAULT_MAX_DURATION_FACTOR = 10
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
#: Raw timers a run may hold at once unless ``max_timer_rows`` says otherwise: 200M rows is
#: ~3.2 GB while configs run and ~4.4 GB when all are kept for ``return_timers``.
DEFAULT_MAX_TIMER_ROWS = 200_000_000
#: Default ``load_timeout``: how long a copy may take to load its model (compiled Neuron models
#: can take minutes).
DEFAULT_LOAD_TIMEOUT_S = 300.0
#: Default ``warmup_timeout``: how long a config's warmup may take (plus ``warmup`` when it is a time).
DEFAULT_WARMUP_TIMEOUT_S = 60.0
DEFAULT_STATS_INTERVAL_S = 0.5


@dataclass(frozen=True)
class SweepAxes:
    """What to sweep; None means NeuronPerf's default for that axis (or, for ``batch_sizes``,
    the inputs' own convention)."""

    batch_sizes: tuple[int, ...] | None = None
    n_models: tuple[int | str, ...] | None = None  # ints or "max"
    workers_per_model: tuple[int, ...] | None = None
    pipeline_sizes: tuple[int, ...] | None = None
    performance_levels: tuple[int, ...] | None = None
    cast_modes: tuple[str, ...] | None = None

    @classmethod
    def from_user(cls, batch_sizes: object = None, n_models: object = None, workers_per_model: object = None,
                  pipeline_sizes: object = None, performance_levels: object = None,
                  cast_modes: object = None) -> SweepAxes:
        counts = None if n_models is None else positive_ints("n_models", n_models, allow_max=True)
        workers = None if workers_per_model is None else positive_ints("workers_per_model", workers_per_model)
        for name, values in (("n_models", counts), ("workers_per_model", workers)):
            too_many = [v for v in values or () if v != "max" and int(v) > MAX_ID]
            if too_many:
                msg = f"{name} must be at most {MAX_ID:,}: timer rows carry it as a 16-bit id (got {too_many[0]!r})"
                raise ConfigError(msg)
        return cls(
            batch_sizes=None if batch_sizes is None else positive_ints("batch_sizes", batch_sizes),  # type: ignore[arg-type]
            n_models=counts,
            workers_per_model=workers,  # type: ignore[arg-type]
            pipeline_sizes=None if pipeline_sizes is None else positive_ints("pipeline_sizes", pipeline_sizes),  # type: ignore[arg-type]
            performance_levels=None if performance_levels is None else check_performance_levels(performance_levels),
            cast_modes=None if cast_modes is None else check_cast_modes(cast_modes),
        )


@dataclass(frozen=True)
class Measure:
    """How each config measures.

    Attributes:
        duration_s: Seconds of measurement (load and warmup happen before).
        warmup: Warmup inferences per worker before measuring (0 with ``warmup_s``).
        warmup_s: Warmup by time: seconds each worker warms up, or None.
        streaming: The model's call returns a stream of chunks (True), returns one output
            (False), or None: found out by one call at each copy's first warmup.
    """

    duration_s: float = DEFAULT_DURATION_S
    warmup: int = 1
    warmup_s: float | None = None
    streaming: bool | None = None

    @classmethod
    def from_user(cls, duration: object = DEFAULT_DURATION_S, warmup: object = 1, streaming: object = None) -> Measure:
        warmup_n, warmup_s = parse_warmup(warmup)
        stream = None if streaming is None else check_bool("streaming", streaming)
        return cls(check_number("duration", duration, minimum=0, inclusive=False, unit="seconds"), warmup_n, warmup_s,
                   stream)


@dataclass(frozen=True)
class LoadShape:
    """The load a config offers.

    Attributes:
        arrival: "closed" (call again when the last call returns), or open-loop "constant" /
            "poisson" sends at ``rate``.
        rate: Open-loop sends per second: of each copy (``rate_per="copy"``) or shared by the
            config's copies (``"config"``).
        rate_per: What ``rate`` is for.
        loop_dataset: A dataset is cycled through (True), run once per copy (False), or ``inputs``
            is a dataset only when it looks like one (None).
    """

    arrival: str = "closed"
    rate: float | None = None
    rate_per: str = "copy"
    loop_dataset: bool | None = None

    @classmethod
    def from_user(cls, arrival: object = "closed", rate: object = None, rate_per: object = "copy",
                  loop_dataset: object = None) -> LoadShape:
        if not isinstance(arrival, str) or arrival.lower() not in ARRIVALS:
            raise ConfigError(f"arrival must be one of {', '.join(repr(a) for a in ARRIVALS)} (got {arrival!r})")
        if not isinstance(rate_per, str) or rate_per not in RATE_PER:
            raise ConfigError(f"rate_per must be 'copy' or 'config' (got {rate_per!r})")
        if loop_dataset is not None and not isinstance(loop_dataset, bool):
            raise ConfigError(f"loop_dataset must be True, False or None (got {loop_dataset!r})")
        mode = arrival.lower()
        if mode == "closed":
            if rate is not None:
                msg = f"rate needs an open-loop arrival ('constant' or 'poisson'); arrival is 'closed' (got rate={rate!r})"
                raise ConfigError(msg)
            return cls("closed", None, rate_per, loop_dataset)
        if rate is None:
            raise ConfigError(f"rate must be given for arrival {mode!r}: sends per second (got None)")
        value = check_number("rate", rate, minimum=0, inclusive=False, unit="sends per second")
        if value > MAX_RATE_PER_S:
            raise ConfigError(f"rate must be at most {MAX_RATE_PER_S:g} sends per second, one per nanosecond (got {rate!r})")
        return cls(mode, value, rate_per, loop_dataset)

    def rate_per_copy(self, n_models: int) -> float | None:
        """Each copy's open-loop rate: ``rate`` per copy, or a config's ``rate`` shared by its copies."""
        if self.rate is None:
            return None
        return self.rate / n_models if self.rate_per == "config" else self.rate


@dataclass(frozen=True)
class StopRule:
    """When a config has measured enough.

    Attributes:
        min_infs: Keep measuring until at least this many ok inferences (and ``duration``).
        stability: End once the last three windows agree within this fraction on throughput
            and p50.
        max_duration_s: The bound on a config that ``min_infs``/``stability`` may extend or end.
        stability_window_s: Length of one stability window.
    """

    min_infs: int | None = None
    stability: float | None = None
    max_duration_s: float | None = None
    stability_window_s: float = 1.0

    @property
    def adaptive(self) -> bool:
        """The collector decides when measuring ends (``min_infs`` or ``stability``)."""
        return self.min_infs is not None or self.stability is not None

    @classmethod
    def from_user(cls, min_infs: object = None, stability: object = None, max_duration: object = None,
                  stability_window: object = 1.0, *, duration_s: float = DEFAULT_DURATION_S) -> StopRule:
        if min_infs is not None and not (is_int(min_infs) and int(min_infs) > 0):  # type: ignore[call-overload]
            raise ConfigError(f"min_infs must be a positive int or None (got {min_infs!r})")
        stability_f = None
        if stability is not None:
            stability_f = check_number("stability", stability, minimum=0, inclusive=False, unit="a fraction like 0.1")
            if stability_f >= 1:
                raise ConfigError(f"stability must be a fraction between 0 and 1, like 0.1 for 10 % (got {stability!r})")
        window = check_number("stability_window", stability_window, minimum=MIN_STABILITY_WINDOW_S, inclusive=True,
                              unit="seconds: a fifth of the 0.5 s interval at which copies ship their rows")
        adaptive = min_infs is not None or stability is not None
        max_s = None
        if max_duration is not None:
            max_s = check_number("max_duration", max_duration, minimum=0, inclusive=False, unit="seconds")
            if not adaptive:
                msg = f"max_duration bounds min_infs or stability; give one of them (got max_duration={max_duration!r})"
                raise ConfigError(msg)
            if max_s < duration_s and min_infs is not None:
                raise ConfigError(f"max_duration must be at least duration ({duration_s:g} s) with min_infs "
                                  f"(got {max_duration!r})")
        elif adaptive:
            max_s = duration_s * DEFAULT_MAX_DURATION_FACTOR
        return cls(None if min_infs is None else int(min_infs), stability_f, max_s, window)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Placement:
    """Where the copies run (``"auto"`` is decided against the cluster later)."""

    device_type: str = "auto"
    multiprocess: bool = True
    multiinterpreter: bool = False
    address: str | None = None
    ray_init_kwargs: dict[str, Any] | None = None
    stats_interval_s: float = DEFAULT_STATS_INTERVAL_S

    @classmethod
    def from_user(cls, device_type: object = "auto", multiprocess: object = True, multiinterpreter: object = False,
                  address: object = None, ray_init_kwargs: object = None,
                  stats_interval: object = DEFAULT_STATS_INTERVAL_S) -> Placement:
        if not isinstance(device_type, str) or device_type.lower() not in DEVICE_TYPES:
            allowed = ", ".join(repr(d) for d in DEVICE_TYPES)
            raise ConfigError(f"device_type must be one of {allowed} (got {device_type!r})")
        if ray_init_kwargs is not None and not (
                isinstance(ray_init_kwargs, dict) and all(isinstance(key, str) for key in ray_init_kwargs)):
            raise ConfigError(f"ray_init_kwargs must be a dict of ray.init keyword arguments (got {ray_init_kwargs!r})")
        return cls(device_type.lower(), check_bool("multiprocess", multiprocess),
                   check_bool("multiinterpreter", multiinterpreter), address, ray_init_kwargs,  # type: ignore[arg-type]
                   check_number("stats_interval", stats_interval, minimum=0, inclusive=False, unit="seconds"))


@dataclass(frozen=True)
class Hooks:
    """The user's functions around the model (see ``raybench.benchmark`` for when each runs)."""

    preprocess_fn: Callable[..., Any] | None = None
    postprocess_fn: Callable[[Any], Any] | None = None
    env_setup_fn: Callable[..., Any] | None = None
    setup_fn: Callable[..., Any] | None = None
    dataset_loader_fn: Callable[[Any, int], Any] | None = None
    count_tokens: Callable[[Any], int] | None = None
    count_input_tokens: Callable[..., int] | None = None

    @classmethod
    def from_user(cls, preprocess_fn: object = None, postprocess_fn: object = None, env_setup_fn: object = None,
                  setup_fn: object = None, dataset_loader_fn: object = None, count_tokens: object = None,
                  count_input_tokens: object = None) -> Hooks:
        hooks = {"preprocess_fn": preprocess_fn, "postprocess_fn": postprocess_fn, "env_setup_fn": env_setup_fn,
                 "setup_fn": setup_fn, "dataset_loader_fn": dataset_loader_fn, "count_tokens": count_tokens,
                 "count_input_tokens": count_input_tokens}
        for name, fn in hooks.items():
            check_callable(name, fn)
        return cls(**hooks)  # type: ignore[arg-type]

    def named(self) -> dict[str, Any]:
        """The hooks that were given, by argument name."""
        return {name: fn for name, fn in vars(self).items() if fn is not None}


@dataclass(frozen=True)
class Limits:
    """What one run may cost: raw timers held at once, how long loading and warmup may take, and
    whether a sweep whose first configs all fail the same way before measuring goes on
    (``keep_going``) or stops."""

    max_timer_rows: int = DEFAULT_MAX_TIMER_ROWS
    load_timeout_s: float = DEFAULT_LOAD_TIMEOUT_S
    warmup_timeout_s: float = DEFAULT_WARMUP_TIMEOUT_S
    keep_going: bool = False

    @classmethod
    def from_user(cls, max_timer_rows: object = DEFAULT_MAX_TIMER_ROWS, load_timeout: object = DEFAULT_LOAD_TIMEOUT_S,
                  warmup_timeout: object = DEFAULT_WARMUP_TIMEOUT_S, keep_going: object = False) -> Limits:
        if not (is_int(max_timer_rows) and int(max_timer_rows) > 0):  # type: ignore[call-overload]
            raise ConfigError(f"max_timer_rows must be a positive int (got {max_timer_rows!r})")
        return cls(int(max_timer_rows),  # type: ignore[call-overload]
                   check_number("load_timeout", load_timeout, minimum=0, inclusive=False, unit="seconds"),
                   check_number("warmup_timeout", warmup_timeout, minimum=0, inclusive=False, unit="seconds"),
                   check_bool("keep_going", keep_going))


@dataclass(frozen=True)
class Reporting:
    """What the call gives back and how it names and prices it."""

    return_timers: bool = False
    verbosity: int = 1
    model_name: str | None = None
    cost_per_hour: float | None = None
    slo: dict[str, float] | None = None

    @classmethod
    def from_user(cls, return_timers: object = False, verbosity: object = 1, model_name: object = None,
                  cost_per_hour: object = None, slo: object = None) -> Reporting:
        cost = None if cost_per_hour is None else check_number("cost_per_hour", cost_per_hour, minimum=0, inclusive=True)
        return cls(check_bool("return_timers", return_timers), check_verbosity(verbosity),
                   model_name, cost, check_slo(slo))  # type: ignore[arg-type]  # a name, used as given


@dataclass(frozen=True)
class Options:
    """Every option of one ``benchmark`` call, by group."""

    axes: SweepAxes = SweepAxes()
    measure: Measure = Measure()
    load: LoadShape = LoadShape()
    stop: StopRule = StopRule()
    placement: Placement = Placement()
    hooks: Hooks = Hooks()
    limits: Limits = Limits()
    reporting: Reporting = Reporting()
    search: SearchRule = SearchRule()

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Options:
        """Validate the keyword arguments of a ``benchmark`` call, each in its group.

        Raises:
            ConfigError: an unknown keyword (the message suggests the closest known one), or a
                value that breaks its rule.
        """
        names = option_names()
        unknown = sorted(set(kwargs) - {name for group in names.values() for name in group})
        if unknown:
            known = [name for group in names.values() for name in group]
            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"benchmark got an unknown argument {unknown[0]!r}{hint}")
        given = {field: {name: kwargs[name] for name in group if name in kwargs} for field, group in names.items()}
        measure = Measure.from_user(**given["measure"])
        reporting = Reporting.from_user(**given["reporting"])
        search, load = resolve_search(SearchRule.from_user(**given["search"]), reporting.slo, given["load"])
        return cls(
            axes=SweepAxes.from_user(**given["axes"]),
            measure=measure,
            load=LoadShape.from_user(**load),
            stop=StopRule.from_user(**given["stop"], duration_s=measure.duration_s),
            placement=Placement.from_user(**given["placement"]),
            hooks=Hooks.from_user(**given["hooks"]),
            limits=Limits.from_user(**given["limits"]),
            reporting=reporting,
            search=search,
        )


#: The groups of :class:`Options`, by field.
GROUPS: dict[str, type] = {"axes": SweepAxes, "measure": Measure, "load": LoadShape, "stop": StopRule,
                           "placement": Placement, "hooks": Hooks, "limits": Limits, "reporting": Reporting,
                           "search": SearchRule}


def option_names() -> dict[str, tuple[str, ...]]:
    """The keyword arguments each group takes (its ``from_user`` parameters), by Options field."""
    return {
        field: tuple(name for name, p in inspect.signature(group.from_user).parameters.items()  # type: ignore[attr-defined]
                     if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for field, group in GROUPS.items()
    }
