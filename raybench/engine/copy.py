"""ModelCopy: one copy of the model, from load to teardown.

``ModelCopy`` is a plain class. The runner wraps it with ``ray.remote(...).options(...)`` when it
spawns copies (one Ray actor per copy, bound to its NeuronCores/GPU/CPUs), and uses it as it is
for ``multiprocess=False`` and in unit tests.

Life of a copy: ``load()`` once, then per config ``warmup(config)`` and
``run(config, start_wall_ns)``. A copy is reused by every config that shares its model and
pipeline size, so the model is loaded once per sweep, not once per config. The copy keeps only
the lifecycle; its collaborators do the rest: the :class:`~raybench.engine.loops.LoopPlan`
(which loop calls the model), :class:`~raybench.engine.worker.Workers` (bursts and shipping),
:class:`~raybench.engine.buffers.WorkerBuffers`, the feeds and the system sampler.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

from raybench.backends.base import ModelSpec, device_id_of, get_backend, is_async_model
from raybench.core.errors import ModelLoadError, RunError, is_control_flow
from raybench.core.inputs import DatasetInput
from raybench.core.options import Hooks
from raybench.core.schema import CopyOutcome, RunConfig
from raybench.engine.binding import bind_neuron_cores, current_node_id, normal_priority, wall_anchor_ns
from raybench.engine.buffers import MIN_BUFFER_ROWS, WorkerBuffers
from raybench.engine.feeds import DatasetExhausted, DatasetFeed, SendSchedule
from raybench.engine.hotloop import Feed, Stages
from raybench.engine.loops import LoopPlan
from raybench.engine.output_cap import cap_output
from raybench.engine.streaming import StreamKind, declared_stream, probe_stream
from raybench.engine.threads import WorkerThreads
from raybench.engine.wire import BatchEncoder
from raybench.engine.worker import Workers
from raybench.telemetry import Sample
from raybench.telemetry.node import NodeMonitor, tag_process
from raybench.telemetry.sampler import TelemetryThread, copy_sources, mean, peak

ASYNC_FED_MESSAGE = "an async model cannot be fed a dataset or open-loop sends; give a synchronous model"


@dataclass(frozen=True)
class CopySetup:
    """What every copy of a pool is built with: plain data and the user's functions.

    The input sets travel beside it, as the copy's own argument: Ray hands an actor the object
    behind a top-level object ref, so every copy reads the one shared copy of the inputs.

    Attributes:
        spec: How to build the model.
        hooks: The user's functions (pre/postprocess, env_setup_fn, setup_fn).
        stats_interval_s: Seconds between CPU/memory samples while measuring.
        run_id: The benchmark run the copies belong to (the collector keeps runs apart).
        open_loop: Build the copies for open-loop sends even when the config they are spawned
            for is a closed loop (a capacity search measures both on the same copies).
    """

    spec: ModelSpec
    hooks: Hooks = Hooks()
    stats_interval_s: float = 0.5
    run_id: str = "run"
    open_loop: bool = False


def _user_setup(name: str, fn: Callable[..., Any], *args: Any) -> None:
    """Run a user's setup function; its exception fails the copy's load with a clear message
    (in-process as through Ray), rather than ending the whole sweep."""
    try:
        fn(*args)
    except BaseException as exc:  # SystemExit too: the user's function failed
        if is_control_flow(exc):
            raise
        msg = f"{name} raised in copy {args[0]}: {type(exc).__name__}: {exc}"
        raise ModelLoadError(msg) from exc


def _as_run_error(exc: BaseException, copy_id: int) -> BaseException:
    """What a copy method raises for ``exc``: a ``SystemExit`` (or a model's own
    ``KeyboardInterrupt``) escaping user code becomes a ``RunError`` naming it, so it fails the
    config at once instead of ending the actor's process (Ray would report a timeout) or, in the
    calling process, escaping ``benchmark``. Exceptions and control flow go on as they are."""
    if isinstance(exc, Exception) or is_control_flow(exc):
        return exc
    return RunError(f"copy {copy_id}: the model raised {type(exc).__name__}: {exc}")


def _reports_base_exceptions(method: Callable[..., Any]) -> Callable[..., Any]:
    """Apply :func:`_as_run_error` to what an async copy method raises."""

    @functools.wraps(method)
    async def wrapper(self: ModelCopy, *args: Any) -> Any:
        try:
            return await method(self, *args)
        except BaseException as exc:
            error = _as_run_error(exc, self.copy_id)
            if error is exc:
                raise
            raise error from exc

    return wrapper


class ModelCopy:
    """One model copy: loads the model, warms up, measures, reports about itself.

    Args:
        copy_id: Index of this copy in its pool (0-based).
        setup: What the copy is built with.
        input_sets: Every normalised input set of the sweep; a config picks one by index.
        collector: The collector, as a Ray actor handle or an in-process ``Collector``.
        first_config: The config this copy was spawned for (given to the setup functions; its
            load shape tells whether the copy is fed open-loop sends).
    """

    def __init__(self, copy_id: int, setup: CopySetup, input_sets: list[Any], collector: Any, *,
                 first_config: RunConfig | None = None) -> None:
        self.copy_id = copy_id
        self._setup = setup
        self._spec = setup.spec
        self._backend = get_backend(setup.spec.framework)
        self._collector = collector
        self._first_config = first_config
        # Dataset items or open-loop sends go through the fed loop; a fixed input in a closed
        # loop through the fast plain/staged loops. Every config of a sweep shares the mode.
        self._raw_inputs = input_sets
        self._dataset: DatasetInput | None = next((x for x in input_sets if isinstance(x, DatasetInput)), None)
        self._open_loop = setup.open_loop or (first_config is not None and first_config.load.arrival != "closed")
        self._plan = LoopPlan.choose(dataset=self._dataset is not None, open_loop=self._open_loop,
                                     stages=Stages(setup.hooks.preprocess_fn, setup.hooks.postprocess_fn),
                                     count_tokens=setup.hooks.count_tokens)
        self._offset_ns = wall_anchor_ns()
        self._send = collector.add.remote if hasattr(collector.add, "remote") else collector.add
        self._encoder, self._workers = self._encoder_and_workers()
        self._stream_kind: StreamKind | None = None  # found at the first warmup
        self._probed = False  # that warmup's first call was the probe
        self._node_id = current_node_id()
        # A Ray actor's prints go to Ray's log folder: a chatty model must not fill the disk.
        self._output = cap_output(copy_id) if self._node_id != "local" else None
        # Before the model (and with it the Neuron runtime) is loaded.
        self._visible_cores = bind_neuron_cores(setup.spec.device_type)
        if self._node_id != "local":  # a copy's own process: its runtime's tag names the copy
            tag_process(copy_id)
        # Ray starts its workers at niceness 15: a copy runs at 0, as a forked process would.
        self._niceness = normal_priority()
        self._model: Callable[..., Any] | None = None
        self._inputs: list[Any] = []
        self._times: dict[str, int | None] = {"env_setup_ns": None, "load_ns": None, "setup_ns": None}
        self._ping: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        """Run ``env_setup_fn``, load the model, run ``setup_fn``; return where this copy lives.

        Raises:
            ModelLoadError: the model could not be built (the message says why).
        """
        try:
            return self._load()
        except BaseException as exc:
            error = _as_run_error(exc, self.copy_id)
            if error is exc:
                raise
            raise ModelLoadError(str(error)) from exc

    def _load(self) -> dict[str, Any]:
        hooks = self._setup.hooks
        config_dict = self._first_config.to_dict() if self._first_config else {}
        if hooks.env_setup_fn is not None:
            t0 = perf_counter_ns()
            _user_setup("env_setup_fn", hooks.env_setup_fn, self.copy_id, config_dict)
            self._times["env_setup_ns"] = perf_counter_ns() - t0
        t0 = perf_counter_ns()
        pipeline_size = self._first_config.pipeline_size if self._first_config else 1
        self._model = self._backend.load(self._spec, device_id_of(self.copy_id, pipeline_size, self._spec.device_type))
        self._inputs = [x if isinstance(x, DatasetInput) else self._backend.prepare_inputs(x, self._spec)
                        for x in self._raw_inputs]
        self._times["load_ns"] = perf_counter_ns() - t0
        if hooks.setup_fn is not None:
            t0 = perf_counter_ns()
            _user_setup("setup_fn", hooks.setup_fn, self.copy_id, config_dict, self._model)
            self._times["setup_ns"] = perf_counter_ns() - t0
        # The first Arrow encode and the first call to the collector cost ~0.5 s in a fresh
        # process (imports, resolving the actor handle): pay that now, not while measuring.
        self._encoder.encode(self._plan.new_buffer(1), {})
        self._encoder.reserve(MIN_BUFFER_ROWS)
        self._ping = self._collector.ping.remote() if hasattr(self._collector.ping, "remote") else None
        return {"copy_id": self.copy_id, "node_id": self._node_id, "pid": os.getpid(),
                "visible_cores": self._visible_cores, "niceness": self._niceness}

    def stop(self) -> None:
        """Ask the workers to stop at the end of their current burst."""
        self._workers.stopping = True

    # -- per config ------------------------------------------------------------------------

    @_reports_base_exceptions
    async def warmup(self, config: RunConfig) -> tuple[tuple[int, int, int], str | None]:
        """Warm every worker up: ``warmup`` inferences each, or for ``warmup_s``.

        Warmup runs the loop the measurement will run (closed loop, as fast as the model goes;
        a dataset benchmark calls the model on the dataset's first item) and is not measured.
        Afterwards the workers' buffers are sized for the pace it showed.

        Returns:
            ``((inferences, summed duration ns, wall ns), error)``: ``error`` is the model's
            message if a warmup call raised (the runner then fails the config at once instead
            of measuring a broken model).
        """
        model, args = self._model_and_args(config)
        if self._ping is not None:
            await self._ping  # the collector is reachable before anything is measured
            self._ping = None
        workers = config.workers_per_model
        if self._plan.fed and is_async_model(model):
            return (0, 0, 0), ASYNC_FED_MESSAGE
        if self._dataset is not None:
            first = DatasetFeed(self._dataset, workers).first_item()
            feed = Feed(next_item=lambda: first, take_slot=None, prepare=self._prepare)
        else:
            feed = Feed(next_item=None, take_slot=None, args=args)
        probed = probe_ns = 0  # the probe call is the warmup's first inference
        if self._stream_kind is None:
            probe_started = perf_counter_ns()
            problem = await self._find_stream(config, model, feed)
            if problem is not None:
                took = perf_counter_ns() - probe_started
                return (1, took, took), problem
            probed = int(self._probed and config.measure.warmup_s is None)
            probe_ns = (perf_counter_ns() - probe_started) * probed
        self._workers.buffers.fit(workers, None)  # allocated and touched before measuring
        started = perf_counter_ns()
        with self._threads(config) as threads:
            results = await self._workers.warm_up(config, self._plan.build(model, feed), threads, done=probed)
        wall_ns = perf_counter_ns() - started + probe_ns
        n = sum(r[0] for r in results) + probed
        total_ns = sum(r[1] for r in results) + probe_ns
        error = next((r[2] for r in results if r[2]), None)
        chunks = sum(r[3] for r in results)
        self._encoder.reserve(self._workers.buffers.fit(workers, total_ns / n if n else None,
                                                        chunks / n if n and chunks else None))
        return (n, total_ns, wall_ns), (f"model raised during warmup: {error}" if error else None)

    async def _find_stream(self, config: RunConfig, model: Callable[..., Any], feed: Feed) -> str | None:
        """Whether the model streams, from one probe call, the warmup's first (none for
        ``streaming=False`` or an ``async def`` model; with ``warmup=0``, from what the model is:
        :func:`~raybench.engine.streaming.declared_stream`). Returns why the config cannot run
        (the probe call raised, or the model is not what ``streaming=True`` said), or None."""
        self._probed = False
        wanted = config.measure.streaming
        if wanted is False or is_async_model(model):
            self._stream_kind = StreamKind(False)
            return None
        if config.measure.warmup_s is None and config.measure.warmup == 0:  # no call to spare: look, do not call
            return self._use_stream_kind(declared_stream(model, wanted))
        args = feed.args
        if feed.next_item is not None:
            item = feed.next_item()
            pre = self._setup.hooks.preprocess_fn
            x = pre(item) if pre is not None else item
            args = self._prepare(x if type(x) is tuple else (x,))
        elif self._setup.hooks.preprocess_fn is not None:
            x = self._setup.hooks.preprocess_fn(*args)
            args = x if type(x) is tuple else (x,)
        with WorkerThreads(1, f"raybench-copy{self.copy_id}-probe", initializer=self._backend.thread_init,
                           initargs=(self._spec,)) as thread:
            try:
                kind = await asyncio.get_running_loop().run_in_executor(thread, probe_stream, model, args)
            except BaseException as exc:  # the model's error: the warmup reports it
                if is_control_flow(exc):
                    raise
                return f"model raised during warmup: {type(exc).__name__}: {exc}"
        self._probed = True
        if wanted and not kind.streams:
            return "streaming=True, but the model's call returned one output, not an iterator or async iterator"
        return self._use_stream_kind(kind)

    def _use_stream_kind(self, kind: StreamKind) -> str | None:
        """Take ``kind`` as the model's: a streaming model gets the streaming plan and buffers.
        Returns why the config cannot run, or None."""
        self._stream_kind = kind
        if not kind.streams:
            return None
        if self._setup.hooks.postprocess_fn is not None:
            return "postprocess_fn cannot be used with a streaming model (its call returns chunks, not one output)"
        if kind.is_async and self._plan.fed:
            return ASYNC_FED_MESSAGE
        self._plan = self._plan.streaming(async_stream=kind.is_async, token_counts=kind.several_tokens)
        self._encoder, self._workers = self._encoder_and_workers()
        return None

    def _encoder_and_workers(self) -> tuple[BatchEncoder, Workers]:
        """The wire encoder and the workers (with their buffers) for the copy's plan."""
        encoder = BatchEncoder(self._plan.wire_columns, self._offset_ns)
        buffers = WorkerBuffers(self._plan.new_buffer, len(self._plan.buffer_columns))
        return encoder, Workers(buffers, encoder, self._send)

    @_reports_base_exceptions
    async def run(self, config: RunConfig, start_wall_ns: int) -> CopyOutcome:
        """Measure from ``start_wall_ns`` for the config's duration; ship timers as they fill.

        All copies of a config get the same ``start_wall_ns`` (the barrier); each converts it
        to its own monotonic clock, so they start together. With ``min_infs``/``stability`` the
        copy measures until the collector says the config is done (at most
        ``max_duration_s``); a dataset run once ends when its items are used up.
        """
        model, args = self._model_and_args(config)
        dropped_before = self._output.dropped if self._output is not None else 0
        start_pc = start_wall_ns - self._offset_ns
        end_pc = start_pc + int(config.longest_s * 1e9)
        dataset = DatasetFeed(self._dataset, config.workers_per_model) if self._dataset is not None else None
        schedule = None
        if self._open_loop and config.load.arrival != "closed":  # a closed config on open-loop copies has none
            assert config.rate is not None  # an open-loop arrival was validated with its rate
            schedule = SendSchedule(config.load.arrival, config.rate, start_pc, end_pc,
                                    seed=config.config_id * 1_000_003 + self.copy_id)
        feed = Feed(next_item=dataset.next_item if dataset is not None else None,
                    take_slot=schedule.take if schedule is not None else None,
                    args=args, prepare=self._prepare if dataset is not None else None, exhausted=DatasetExhausted)
        ids = {"run_id": self._setup.run_id, "config_id": str(config.config_id), "copy_id": str(self.copy_id),
               "node_id": self._node_id}
        telemetry = TelemetryThread(self._setup.stats_interval_s, copy_sources(self.copy_id),
                                    name=f"raybench-copy{self.copy_id}-telemetry").start()
        monitor = NodeMonitor(f"{self._setup.run_id}-{config.config_id}", self._setup.stats_interval_s).start()
        try:
            delay_s = (start_pc - perf_counter_ns()) / 1e9
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            with self._threads(config) as threads:
                results = await self._workers.measure(config, self._plan.build(model, feed), end_pc, ids, threads)
            stopped_pc = perf_counter_ns()
        finally:
            samples = telemetry.stop() + monitor.stop()  # also when measuring raised: none outlives its config
        errors = [e for _, _, e, _ in results if e]
        open_loop: dict[str, Any] = {}
        if schedule is not None:
            scheduled, taken = schedule.counts(min(stopped_pc, end_pc))
            open_loop = {"n_scheduled": scheduled, "n_dropped": max(scheduled - taken, 0),
                         "queue_depth_max": schedule.queue_depth_max}
        return CopyOutcome(
            copy_id=self.copy_id, node_id=self._node_id, visible_cores=self._visible_cores,
            niceness=os.getpriority(os.PRIO_PROCESS, 0),  # this thread's, which its workers inherit
            env_setup_ns=self._times["env_setup_ns"], load_ns=self._times["load_ns"], setup_ns=self._times["setup_ns"],
            n_infs=sum(r[0] for r in results), n_errors=sum(r[1] for r in results),
            error=errors[0] if errors else None, **_telemetry_fields(samples), device_info=monitor.hardware_info,
            dataset_exhausted=dataset.exhausted if dataset is not None else None,
            streaming=bool(self._stream_kind and self._stream_kind.streams),
            input_tokens=self._input_tokens(args) if dataset is None else None,
            output_dropped=(self._output.dropped - dropped_before) if self._output is not None else 0,
            **open_loop,
        )

    # -- internals -------------------------------------------------------------------------

    def _input_tokens(self, args: tuple[Any, ...]) -> int | None:
        """``count_input_tokens(*inputs)`` of the config's input, if the user gave it."""
        count = self._setup.hooks.count_input_tokens
        return None if count is None else int(count(*args))

    def _prepare(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """A dataset item's model inputs on the model's device (the backend's conversion)."""
        return self._backend.prepare_inputs(args, self._spec)

    def _threads(self, config: RunConfig) -> WorkerThreads:
        return WorkerThreads(config.workers_per_model, f"raybench-copy{self.copy_id}",
                             initializer=self._backend.thread_init, initargs=(self._spec,))

    def _model_and_args(self, config: RunConfig) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if self._model is None:
            self.load()
        assert self._model is not None  # an internal invariant: load() sets it or raises
        return self._model, self._inputs[config.input_index]


def _telemetry_fields(samples: list[Sample]) -> dict[str, Any]:
    """A copy's outcome fields from its telemetry: the host series the reports have always had,
    the copy's own CPU and memory, and the raw samples for the run's telemetry table."""
    host = [s for s in samples if s.source == "host"]
    return {
        "cpu_percent": tuple(s.value for s in host if s.metric == "cpu_percent"),
        "mem_percent": tuple(s.value for s in host if s.metric == "mem_percent"),
        "copy_cpu_avg_percent": mean(samples, "process", "cpu_percent"),
        "copy_rss_max_mb": peak(samples, "process", "rss_mb"),
        "host_cpus": os.cpu_count(),
        "pid": os.getpid(),
        "telemetry": tuple(samples),
    }
