"""The plain data that crosses stage and process boundaries.

One declared Arrow schema for the raw timers (:data:`TIMER_SCHEMA`), and frozen dataclasses for
what a model copy says about itself (:class:`CopyOutcome`) and how a config ended
(:class:`ConfigOutcome`). Reports are pure functions of these plus the
:class:`~raybench.core.options.RunConfig`.

All times are integer nanoseconds. ``start_ns``/``end_ns`` in the timers are wall-clock
(Unix epoch) nanoseconds: each copy reads ``perf_counter_ns`` in its hot loop and converts with one
monotonic-to-wall anchor taken when it starts, so windows from different processes and nodes line
up (up to the clock skew between nodes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from raybench.core.options import LoadShape, Measure, StopRule

#: Columns that identify where a timer row came from. Constant within one shipped batch, so the
#: copies send them once per batch (in the batch's schema metadata) and the collector expands
#: them only when the full table is asked for.
#: int16 ids keep a kept row at 8 + 16 bytes (ids + start/end) plus the ok bit; 32767 configs,
#: copies, workers per copy and nodes are far beyond any sweep.
ID_FIELDS: tuple[pa.Field, ...] = (
    pa.field("config_id", pa.int16(), nullable=False),
    pa.field("copy_id", pa.int16(), nullable=False),
    pa.field("worker_id", pa.int16(), nullable=False),
    pa.field("node_id", pa.dictionary(pa.int16(), pa.string()), nullable=False),
)

#: Per-stage durations, present only when the stage exists (e.g. ``preprocess_ns`` needs a
#: ``preprocess_fn``); null otherwise. ``queue_ns`` (open-loop load) is how late a send went out
#: after its scheduled time; ``input_ns`` is fetching a dataset item.
STAGE_COLUMNS: tuple[str, ...] = ("queue_ns", "input_ns", "preprocess_ns", "infer_ns", "postprocess_ns")

#: Columns measured per inference.
MEASUREMENT_FIELDS: tuple[pa.Field, ...] = (
    pa.field("start_ns", pa.int64(), nullable=False),
    pa.field("end_ns", pa.int64(), nullable=False),
    *(pa.field(name, pa.int64()) for name in STAGE_COLUMNS),
    pa.field("ok", pa.bool_(), nullable=False),
)

#: Columns of a streaming call (a model that returns a generator or iterator): the wall-clock
#: arrival of every chunk it yielded (``chunk_ns``), and how many tokens each chunk carried
#: (``chunk_tokens``, only when a chunk may carry more than one; absent, every chunk is one
#: token). A call that raised keeps no chunks. 8 bytes per chunk, plus 4 for the token count
#: when there is one, plus a 4-byte list offset per call.
STREAM_FIELDS: tuple[pa.Field, ...] = (
    pa.field("chunk_ns", pa.list_(pa.int64())),
    pa.field("chunk_tokens", pa.list_(pa.int32())),
)
STREAM_COLUMNS: tuple[str, ...] = tuple(f.name for f in STREAM_FIELDS)

#: The raw timer table: one row per measured inference (warmup excluded). A run's table holds
#: these columns in this order, leaving out the stage columns of stages the run did not have
#: (an all-null int64 column would still cost 8 bytes a row); a streaming model's table adds
#: the :data:`STREAM_FIELDS` at the end: see :func:`timer_schema`.
TIMER_SCHEMA: pa.Schema = pa.schema([*ID_FIELDS, *MEASUREMENT_FIELDS])


def timer_schema(stages: tuple[str, ...] | list[str] = (), streams: tuple[str, ...] | list[str] = ()) -> pa.Schema:
    """TIMER_SCHEMA with only the given stage columns (a subset of :data:`STAGE_COLUMNS`), then
    the given stream columns (of :data:`STREAM_COLUMNS`)."""
    fields = [f for f in TIMER_SCHEMA if f.name not in STAGE_COLUMNS or f.name in stages]
    return pa.schema([*fields, *(f for f in STREAM_FIELDS if f.name in streams)])


def stages_of(schema: pa.Schema) -> tuple[str, ...]:
    """The stage columns a timer table's schema holds."""
    return tuple(name for name in STAGE_COLUMNS if name in schema.names)


def streams_of(schema: pa.Schema) -> tuple[str, ...]:
    """The stream columns a timer table's schema holds."""
    return tuple(name for name in STREAM_COLUMNS if name in schema.names)

@dataclass(frozen=True)
class RunConfig:
    """One point of the sweep: a model run by ``n_models`` copies, measured as ``measure`` says,
    under the load ``load`` and the stop rule ``stop`` (the option groups of the call).

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
        cast_mode: NeuronPerf's cast mode label of the config (``cast_modes``), if given.
        cpus_per_copy: CPUs Ray reserves for each copy: 1 on CPU (a fraction when ``n_models``
            exceeds the CPUs and copies share cores), 0 for NeuronCore and GPU copies; None
            for copies in the calling process.
        multiprocess: Copies run as Ray actors (True) or in the calling process (False).
        multiinterpreter: Accepted for NeuronPerf compatibility; a Ray actor is always a fresh
            interpreter.
        search: A probe of a capacity search (``"rate"`` or ``"concurrency"``), else None.
        search_id: Which config of the sweep the probe searches for (0-based), else None.
        probe: The probe's place in its search (1-based), else None.

    As a dict (:meth:`to_dict`: NeuronPerf's config dict of a results pair, and the results
    file's form) the groups' fields sit beside these, flat, as they always did.
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
    cast_mode: str | None = None
    cpus_per_copy: float | None = None
    multiprocess: bool = True
    multiinterpreter: bool = False
    search: str | None = None
    search_id: int | None = None
    probe: int | None = None
    measure: Measure = Measure()
    load: LoadShape = LoadShape()
    stop: StopRule = StopRule()

    @property
    def longest_s(self) -> float:
        """The longest the measurement can last."""
        if self.stop.adaptive and self.stop.max_duration_s is not None:
            return self.stop.max_duration_s
        return self.measure.duration_s

    @property
    def rate(self) -> float | None:
        """Each copy's open-loop sends per second (None in a closed loop)."""
        return self.load.rate_per_copy(self.n_models)

    def to_dict(self) -> dict[str, Any]:
        """The config as one flat dict of plain values."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _GROUPS}
        for name in _GROUPS:
            flat.update(dataclasses.asdict(getattr(self, name)))
        return flat

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Rebuild a config from :meth:`to_dict`'s form (older files lack some group fields:
        they take the group's defaults).

        Raises:
            TypeError: a key belongs to no field.
        """
        rest = dict(data)
        groups = {name: group(**{f.name: rest.pop(f.name) for f in dataclasses.fields(group) if f.name in rest})
                  for name, group in _GROUPS.items()}
        return cls(**rest, **groups)


#: The option groups a config carries, by field.
_GROUPS: dict[str, type] = {"measure": Measure, "load": LoadShape, "stop": StopRule}

STATUS_FINISHED = "finished"
STATUS_ERROR = "error"
STATUS_TIMEOUT = "timeout"


@dataclass(frozen=True)
class CopyOutcome:
    """What one model copy reports about itself for one config.

    Attributes:
        copy_id: Index of the copy within the config (0-based).
        node_id: Ray node id of the copy's host ("local" when run in-process).
        visible_cores: ``NEURON_RT_VISIBLE_CORES`` as the copy saw it, or None.
        niceness: The scheduling niceness the copy measured at (0 is normal priority; Ray
            starts its workers at 15), or None in files written before it was recorded.
        env_setup_ns: Time spent in the user's ``env_setup_fn``, if any.
        load_ns: Time to load/construct the model.
        setup_ns: Time spent in the user's ``setup_fn``, if any.
        warmup_infs: Warmup inferences this copy ran before the config (all workers).
        warmup_sum_ns: Their summed durations (for the mean warmup latency).
        warmup_wall_ns: Wall time of the copy's warmup.
        n_infs: Inferences measured (errors included).
        n_errors: Measured inferences that raised.
        error: The first error message, or None.
        cpu_percent: System CPU utilisation samples (0-100) taken during the measurement.
        mem_percent: System memory utilisation samples (0-100) taken during the measurement.
        dataset_exhausted: The copy ran out of dataset items before ``duration`` (None without
            a dataset).
        n_scheduled: Open-loop sends due before the measurement ended (None in a closed loop).
        n_dropped: Of those, sends never made: still queued when the measurement ended.
        queue_depth_max: Most sends due but not yet made at once (1 = the copy kept up).
        output_dropped: Characters the copy printed beyond its output ceiling during the config,
            dropped rather than written to Ray's log folder.
        streaming: The model's calls returned streams of chunks (their stamps are in the
            timers' ``chunk_ns``); None in files written before streams were measured.
        input_tokens: ``count_input_tokens(*inputs)`` of the config's input, if given.
        copy_cpu_avg_percent: The copy's own process CPU during the measurement, in percent of
            one core (its threads summed), from its telemetry.
        copy_rss_max_mb: The copy process's largest resident memory sampled, in MB (10^6 B).
        host_cpus: CPUs of the copy's node (what 100 % of ``cpu_percent`` means).
        pid: The copy's process (copies run in the calling process share one, and its CPU).
        device_info: The node's Neuron hardware as neuron-monitor reported it, from the copy that
            ran the node's monitor (None elsewhere).
        telemetry: The copy's raw telemetry samples (``raybench.telemetry.Sample``), moved into
            the run's telemetry table (``Results.telemetry``) and then dropped from here.
    """

    copy_id: int
    node_id: str
    visible_cores: str | None = None
    niceness: int | None = None
    env_setup_ns: int | None = None
    load_ns: int | None = None
    setup_ns: int | None = None
    warmup_infs: int = 0
    warmup_sum_ns: int = 0
    warmup_wall_ns: int | None = None
    n_infs: int = 0
    n_errors: int = 0
    error: str | None = None
    cpu_percent: tuple[float, ...] = ()
    mem_percent: tuple[float, ...] = ()
    dataset_exhausted: bool | None = None
    n_scheduled: int | None = None
    n_dropped: int | None = None
    queue_depth_max: int | None = None
    output_dropped: int = 0
    streaming: bool | None = None
    input_tokens: int | None = None
    copy_cpu_avg_percent: float | None = None
    copy_rss_max_mb: float | None = None
    host_cpus: int | None = None
    pid: int | None = None
    device_info: dict[str, Any] | None = None
    telemetry: tuple[Any, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class ConfigOutcome:
    """How one config ended.

    Attributes:
        config_id: The config's id (matches ``RunConfig.config_id`` and the timers).
        status: ``"finished"``, ``"error"`` or ``"timeout"``.
        error: Why the config did not finish, or None.
        start_ns: Wall-clock ns at which all copies started measuring (the barrier).
        stop_ns: Wall-clock ns at which measuring was due to stop.
        instance_type: The host's instance type, or ``"unknown"``.
        copies: One outcome per copy that reported back.
        converged: With ``stability``: whether the last windows agreed before ``max_duration``
            (None without ``stability``).
    """

    config_id: int
    status: str
    error: str | None = None
    start_ns: int | None = None
    stop_ns: int | None = None
    instance_type: str = "unknown"
    copies: tuple[CopyOutcome, ...] = field(default_factory=tuple)
    converged: bool | None = None
