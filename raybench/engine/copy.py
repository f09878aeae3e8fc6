"""ModelCopy: one copy of the model, its worker coroutines and its timer shipping.

``ModelCopy`` is a plain class. The runner wraps it with ``ray.remote(...).options(...)`` when it
spawns copies (one Ray actor per copy, bound to its NeuronCores/GPU/CPUs), and uses it as it is
for ``multiprocess=False`` and in unit tests.

Life of a copy: ``load()`` once, then per config ``warmup(config)`` and
``run(config, start_wall_ns)``. A copy is reused by every config that shares its model and
pipeline size, so the model is loaded once per sweep, not once per config.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from time import perf_counter_ns
from typing import Any

import numpy as np

from raybench.backends.base import ModelSpec, get_backend, is_async_model
from raybench.engine.buffers import (
    MIN_BUFFER_ROWS,
    check_budget,
    grown_rows,
    most_rows,
    n_stage_columns,
    planned_rows,
)
from raybench.engine.output_cap import cap_output
from raybench.core.options import FLUSH_INTERVAL_NS, RunConfig
from raybench.run.cluster import bind_neuron_cores
from raybench.core.errors import ModelLoadError, RunError, is_control_flow
from raybench.engine.feeds import DatasetExhausted, DatasetFeed, DatasetInput, SendSchedule
from raybench.engine.hotloop import (
    Feed,
    Stages,
    TimerBuffer,
    run_async_burst,
    run_fed_burst,
    run_plain_burst,
    run_staged_burst,
)
from raybench.core.schema import CopyOutcome
from raybench.engine.sysmon import SystemSampler
from raybench.engine.threads import WorkerThreads
from raybench.engine.wire import BatchEncoder

#: A copy whose every call raised for this long stops measuring (the config then errors with the
#: model's message) instead of recording failures until ``duration`` ends.
FAILING_MODEL_NS = 1_000_000_000


def wall_anchor_ns(samples: int = 5) -> int:
    """Return ``wall - monotonic`` in ns: add it to a ``perf_counter_ns`` stamp to get wall time.

    Takes the tightest of a few bracketed readings so the offset is good to about a microsecond.
    """
    best_gap, best_offset = None, 0
    for _ in range(samples):
        before = perf_counter_ns()
        wall = time.time_ns()
        after = perf_counter_ns()
        gap = after - before
        if best_gap is None or gap < best_gap:
            best_gap, best_offset = gap, wall - (before + after) // 2
    return best_offset


def current_node_id() -> str:
    """The Ray node id of this actor's host, or ``"local"`` for a copy in the calling process."""
    ray = sys.modules.get("ray")  # a copy never imports Ray itself: only Ray actors have a node
    if ray is None or not ray.is_initialized():
        return "local"
    context = ray.get_runtime_context()
    if context.get_actor_id() is None:  # the driver, running copies in-process
        return "local"
    return str(context.get_node_id())


#: The collector's answers to a batch that stop the copy: the run's timer budget is used up, or
#: the config has measured enough (``min_infs``/``stability``). Anything falsy: go on.
STOP_BUDGET = "budget"
STOP_DONE = "done"

BUDGET_MESSAGE = (
    "stopped early: the run holds max_timer_rows raw timers, its memory budget; "
    "later rows were not recorded"
)


async def _answer(reply: Any) -> Any:
    """The collector's answer to ``add``: awaited from a Ray actor, as is in-process."""
    return await reply if hasattr(reply, "__await__") else reply


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
    """One model copy: loads the model, runs worker coroutines, ships timers to the collector.

    Args:
        copy_id: Index of this copy in its pool (0-based).
        spec: How to build the model (see :class:`~raybench.backends.base.ModelSpec`).
        input_sets: Every normalised input set of the sweep; a config picks one by index.
        collector: The collector, as a Ray actor handle or an in-process ``Collector``.
        preprocess_fn, postprocess_fn: Optional stages around the model call.
        env_setup_fn: Called as ``env_setup_fn(copy_id, config_dict)`` before loading.
        setup_fn: Called as ``setup_fn(copy_id, config_dict, model)`` after loading.
        stats_interval_s: Seconds between CPU/memory samples while measuring.
        first_config: The config this copy was spawned for (given to the setup functions).
        run_id: The benchmark run this copy belongs to (the collector keeps runs apart).
    """

    def __init__(
        self,
        copy_id: int,
        spec: ModelSpec,
        input_sets: list[tuple[Any, ...]],
        collector: Any,
        *,
        preprocess_fn: Callable[..., Any] | None = None,
        postprocess_fn: Callable[[Any], Any] | None = None,
        env_setup_fn: Callable[..., Any] | None = None,
        setup_fn: Callable[..., Any] | None = None,
        stats_interval_s: float = 0.5,
        first_config: RunConfig | None = None,
        run_id: str = "run",
    ) -> None:
        self.copy_id = copy_id
        self._run_id = run_id
        self._spec = spec
        self._backend = get_backend(spec.framework)
        self._raw_inputs = input_sets
        self._collector = collector
        self._send: Callable[[np.ndarray], Any] = (
            collector.add.remote if hasattr(collector.add, "remote") else collector.add
        )
        self._stages = Stages(preprocess_fn, postprocess_fn)
        # Dataset items or open-loop sends go through the fed loop; a fixed input in a closed
        # loop through the fast plain/staged loops. Every config of a sweep shares the mode.
        self._dataset: DatasetInput | None = next((x for x in input_sets if isinstance(x, DatasetInput)), None)
        self._open_loop = first_config is not None and first_config.arrival != "closed"
        self._fed = self._dataset is not None or self._open_loop
        present = {
            "queue_ns": self._open_loop,
            "input_ns": self._dataset is not None,
            "preprocess_ns": preprocess_fn is not None,
            "infer_ns": True,
            "postprocess_ns": postprocess_fn is not None,
        }
        self._stage_names = tuple(name for name, here in present.items() if here)
        self._stage_columns = n_stage_columns(dataset=self._dataset is not None, open_loop=self._open_loop,
                                              preprocess=preprocess_fn is not None,
                                              postprocess=postprocess_fn is not None)
        self._with_stages = preprocess_fn is not None or postprocess_fn is not None
        self._env_setup_fn = env_setup_fn
        self._setup_fn = setup_fn
        self._stats_interval_s = stats_interval_s
        self._first_config = first_config
        self._model: Callable[..., Any] | None = None
        self._inputs: list[tuple[Any, ...]] = []
        self._offset_ns = wall_anchor_ns()
        self._encoder = BatchEncoder(self._stage_names, self._offset_ns)
        self._node_id = current_node_id()
        # A Ray actor's prints go to Ray's log folder: a chatty model must not fill the disk.
        self._output = cap_output(copy_id) if self._node_id != "local" else None
        # Before the model (and with it the Neuron runtime) is loaded.
        self._visible_cores = bind_neuron_cores(spec.device_type)
        self._buffers: list[tuple[TimerBuffer, TimerBuffer]] = []
        self._stop = False
        self._load_ns: int | None = None
        self._env_setup_ns: int | None = None
        self._setup_ns: int | None = None
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
        config_dict = asdict(self._first_config) if self._first_config else {}
        if self._env_setup_fn is not None:
            t0 = perf_counter_ns()
            _user_setup("env_setup_fn", self._env_setup_fn, self.copy_id, config_dict)
            self._env_setup_ns = perf_counter_ns() - t0
        t0 = perf_counter_ns()
        self._model = self._backend.load(self._spec)
        self._inputs = [x if isinstance(x, DatasetInput) else self._backend.prepare_inputs(x, self._spec)
                        for x in self._raw_inputs]
        self._load_ns = perf_counter_ns() - t0
        if self._setup_fn is not None:
            t0 = perf_counter_ns()
            _user_setup("setup_fn", self._setup_fn, self.copy_id, config_dict, self._model)
            self._setup_ns = perf_counter_ns() - t0
        # The first Arrow encode and the first call to the collector cost ~0.5 s in a fresh
        # process (imports, resolving the actor handle): pay that now, not while measuring.
        self._encoder.encode(self._new_buffer(1), {})
        self._encoder.reserve(MIN_BUFFER_ROWS)
        self._ping = self._collector.ping.remote() if hasattr(self._collector.ping, "remote") else None
        return {"copy_id": self.copy_id, "node_id": self._node_id, "pid": os.getpid(),
                "visible_cores": self._visible_cores}

    def stop(self) -> None:
        """Ask the workers to stop at the end of their current burst."""
        self._stop = True

    # -- per config ------------------------------------------------------------------------

    @_reports_base_exceptions
    async def warmup(self, config: RunConfig) -> tuple[tuple[int, int, int], str | None]:
        """Warm every worker up: ``config.warmup`` inferences each, or for ``config.warmup_s``.

        Warmup runs the loop the measurement will run (closed loop, as fast as the model goes;
        a dataset benchmark calls the model on the dataset's first item) and is not measured.

        Returns:
            ``((inferences, summed duration ns, wall ns), error)``: ``error`` is the model's
            message if a warmup call raised (the runner then fails the config at once instead
            of measuring a broken model).
        """
        model, args = self._model_and_args(config)
        if self._ping is not None:
            await self._ping  # the collector is reachable before anything is measured
            self._ping = None
        self._fit_buffers(config.workers_per_model, None)  # allocated and touched before measuring
        if self._dataset is not None:
            first = DatasetFeed(self._dataset, config.workers_per_model).first_item()
            feed = Feed(next_item=lambda: first, take_slot=None, prepare=self._prepare)
        else:
            feed = Feed(next_item=None, take_slot=None, args=args)
        if self._fed and is_async_model(model):
            return (0, 0, 0), "an async model cannot be fed a dataset or open-loop sends; give a synchronous model"
        burst = self._burst_fn(model, feed)
        started = perf_counter_ns()
        with self._executor(config) as pool:
            results = await asyncio.gather(
                *(self._warm_worker(w, model, burst, config, pool) for w in range(config.workers_per_model))
            )
        wall_ns = perf_counter_ns() - started
        n = sum(r[0] for r in results)
        total_ns = sum(r[1] for r in results)
        error = next((r[2] for r in results if r[2]), None)
        self._fit_buffers(config.workers_per_model, total_ns / n if n else None)
        return (n, total_ns, wall_ns), (f"model raised during warmup: {error}" if error else None)

    async def _warm_worker(
        self, worker_id: int, model: Callable[..., Any], burst: Callable[..., None], config: RunConfig,
        pool: WorkerThreads,
    ) -> tuple[int, int, str | None]:
        """One worker's warmup on its spare buffer: ``(inferences, summed ns, first error)``."""
        buf = self._worker_buffers(worker_id)[1]
        full = buf.capacity
        remaining = config.warmup
        until = perf_counter_ns() + int((config.warmup_s or 0) * 1e9)
        n = total_ns = 0
        try:
            while remaining > 0 if config.warmup_s is None else perf_counter_ns() < until:
                if config.warmup_s is None:
                    buf.capacity = min(remaining, full)
                    deadline = 1 << 62  # stop at the count
                else:
                    deadline = min(until, perf_counter_ns() + FLUSH_INTERVAL_NS)
                await self._run_burst(model, burst, buf, deadline, pool)
                n += buf.n
                total_ns += int((buf.ends[: buf.n] - buf.starts[: buf.n]).sum())
                remaining -= buf.n
                if buf.n_errors:
                    return n, total_ns, buf.first_error
                if buf.n == 0 or buf.ended:
                    break
                buf.clear()
        finally:
            buf.capacity = full
            buf.clear()
        return n, total_ns, None

    @_reports_base_exceptions
    async def run(self, config: RunConfig, start_wall_ns: int) -> CopyOutcome:
        """Measure from ``start_wall_ns`` for ``config.duration_s``; ship timers as they fill.

        All copies of a config get the same ``start_wall_ns`` (the barrier); each converts it
        to its own monotonic clock, so they start together. With ``min_infs``/``stability`` the
        copy measures until the collector says the config is done (at most
        ``max_duration_s``); a dataset run once ends when its items are used up.
        """
        self._stop = False
        model, args = self._model_and_args(config)
        dropped_before = self._output.dropped if self._output is not None else 0
        start_pc = start_wall_ns - self._offset_ns
        end_pc = start_pc + int(config.longest_s * 1e9)
        dataset = DatasetFeed(self._dataset, config.workers_per_model) if self._dataset is not None else None
        schedule = None
        if self._open_loop:
            assert config.rate is not None  # validated with the arrival
            schedule = SendSchedule(config.arrival, config.rate, start_pc, end_pc,
                                    seed=config.config_id * 1_000_003 + self.copy_id)
        feed = Feed(
            next_item=dataset.next_item if dataset is not None else None,
            take_slot=schedule.take if schedule is not None else None,
            args=args, prepare=self._prepare if dataset is not None else None,
            exhausted=DatasetExhausted,
        )
        ids = {"run_id": self._run_id, "config_id": str(config.config_id), "copy_id": str(self.copy_id),
               "node_id": self._node_id}
        pending: list[Any] = []
        cpu: list[float] = []
        mem: list[float] = []
        sampler_task = asyncio.ensure_future(self._sample_system(cpu, mem))
        delay_s = (start_pc - perf_counter_ns()) / 1e9
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        burst = self._burst_fn(model, feed)
        with self._executor(config) as pool:
            results = await asyncio.gather(
                *(self._worker(w, model, burst, end_pc, ids, pool, pending, config.workers_per_model)
                  for w in range(config.workers_per_model))
            )
        stopped_pc = perf_counter_ns()
        sampler_task.cancel()
        await asyncio.gather(*(_answer(ack) for ack in pending))  # the collector has every batch
        errors = [e for _, _, e, _ in results if e]
        open_loop: dict[str, Any] = {}
        if schedule is not None:
            scheduled, taken = schedule.counts(min(stopped_pc, end_pc))
            open_loop = {"n_scheduled": scheduled, "n_dropped": max(scheduled - taken, 0),
                         "queue_depth_max": schedule.queue_depth_max}
        return CopyOutcome(
            copy_id=self.copy_id,
            node_id=self._node_id,
            visible_cores=self._visible_cores,
            env_setup_ns=self._env_setup_ns,
            load_ns=self._load_ns,
            setup_ns=self._setup_ns,
            n_infs=sum(r[0] for r in results),
            n_errors=sum(r[1] for r in results),
            error=errors[0] if errors else None,
            cpu_percent=tuple(cpu),
            mem_percent=tuple(mem),
            dataset_exhausted=dataset.exhausted if dataset is not None else None,
            output_dropped=(self._output.dropped - dropped_before) if self._output is not None else 0,
            **open_loop,
        )

    # -- internals -------------------------------------------------------------------------

    async def _worker(
        self,
        worker_id: int,
        model: Callable[..., Any],
        burst: Callable[..., None],
        end_pc: int,
        ids: dict[str, str],
        pool: WorkerThreads,
        pending: list[Any],
        workers: int,
    ) -> tuple[int, int, str | None, bool]:
        """One worker: bursts of inferences until ``end_pc``; returns (n, n_errors, error, ran out).

        Two buffers per worker: when one is due for shipping, the next burst starts on the
        other first, so encoding and sending happen while the model keeps being measured.
        """
        filling, spare = self._worker_buffers(worker_id)
        ids = {**ids, "worker_id": str(worker_id)}

        def start(buf: TimerBuffer, deadline: int) -> Any:
            return asyncio.ensure_future(self._run_burst(model, burst, buf, deadline, pool))

        n_total = n_errors = 0
        first_error: str | None = None
        ran_out = False
        started = perf_counter_ns()
        next_flush = started + FLUSH_INTERVAL_NS
        running = start(filling, min(end_pc, next_flush))
        while True:
            await running
            now = perf_counter_ns()
            if n_errors + filling.n_errors == n_total + filling.n > 0 and now - started >= FAILING_MODEL_NS:
                self._stop = True  # every call so far raised: a broken model, not a flaky one
            ran_out = ran_out or filling.ended  # the dataset or the send schedule is used up
            done = now >= end_pc or self._stop or ran_out
            if not (done or now >= next_flush or filling.n == filling.capacity):
                running = start(filling, min(end_pc, next_flush))
                continue
            filled_early = filling.n == filling.capacity and now < next_flush and not done
            full, filling, spare = filling, spare, filling
            next_flush = now + FLUSH_INTERVAL_NS
            if not done:
                running = start(filling, min(end_pc, next_flush))
            n_total += full.n
            n_errors += full.n_errors
            first_error = first_error or full.first_error
            if full.n:
                ack = self._send(self._encoder.encode(full, ids))
                # The previous batch's answer (long since back): may the config go on?
                verdict = await _answer(pending[-1]) if pending else ""
                if verdict:
                    self._stop = True
                    if verdict == STOP_BUDGET:
                        first_error = BUDGET_MESSAGE
                pending.append(ack)
            full.clear()
            if filled_early:  # the pace outgrew the buffer: give it room (between bursts)
                full.resize(grown_rows(full.rows, workers, self._stage_columns))
            if done:
                return n_total, n_errors, first_error, ran_out

    async def _run_burst(
        self, model: Callable[..., Any], burst: Callable[..., None], buf: TimerBuffer, deadline: int,
        pool: WorkerThreads,
    ) -> None:
        """One burst: awaited directly for an ``async`` model, else in a worker thread."""
        if self._is_async(model):
            await burst(buf, deadline)  # the async burst: a coroutine on this copy's event loop
        else:
            await asyncio.get_running_loop().run_in_executor(pool, burst, buf, deadline)

    def _burst_fn(self, model: Callable[..., Any], feed: Feed) -> Callable[[TimerBuffer, int], None]:
        """The loop a worker thread runs for one burst, bound to the model and its input."""
        if self._fed:
            stages = self._stages

            def fed(buf: TimerBuffer, deadline: int) -> None:
                run_fed_burst(model, feed, buf, deadline, stages)

            return fed
        args = feed.args
        if self._is_async(model):
            return lambda buf, deadline: run_async_burst(model, args, buf, deadline)  # type: ignore[return-value]
        if not self._with_stages:
            return lambda buf, deadline: run_plain_burst(model, args, buf, deadline)
        staged_stages = self._stages
        return lambda buf, deadline: run_staged_burst(model, args, buf, deadline, staged_stages)

    def _prepare(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """A dataset item's model inputs on the model's device (the backend's conversion)."""
        return self._backend.prepare_inputs(args, self._spec)

    def _new_buffer(self, capacity: int) -> TimerBuffer:
        return TimerBuffer(capacity, self._with_stages, self._stage_names if self._fed else None)

    def _worker_buffers(self, worker_id: int) -> tuple[TimerBuffer, TimerBuffer]:
        # Buffers outlive configs: a copy reused by the next config does not reallocate.
        while len(self._buffers) <= worker_id:
            self._buffers.append((self._new_buffer(MIN_BUFFER_ROWS), self._new_buffer(MIN_BUFFER_ROWS)))
        return self._buffers[worker_id]

    def _fit_buffers(self, workers: int, mean_call_ns: float | None) -> None:
        """Give each of ``workers`` workers buffers for one flush interval at ``mean_call_ns`` a
        call (see :mod:`raybench.engine.buffers`): grown to that, shrunk only to stay in the budget."""
        check_budget(workers, self._stage_columns)
        planned = planned_rows(mean_call_ns, workers, self._stage_columns)
        most = most_rows(workers, self._stage_columns)
        for worker_id in range(workers):
            for buf in self._worker_buffers(worker_id):
                target = planned if buf.rows < planned else min(buf.rows, most)
                if target != buf.rows:
                    buf.resize(target)
        self._encoder.reserve(max(planned, MIN_BUFFER_ROWS))

    def _executor(self, config: RunConfig) -> WorkerThreads:
        return WorkerThreads(config.workers_per_model, f"raybench-copy{self.copy_id}",
                             initializer=self._backend.thread_init, initargs=(self._spec,))

    def _model_and_args(self, config: RunConfig) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if self._model is None:
            self.load()
        assert self._model is not None
        return self._model, self._inputs[config.input_index]

    def _is_async(self, model: Callable[..., Any]) -> bool:
        return not self._with_stages and not self._fed and is_async_model(model)

    async def _sample_system(self, cpu: list[float], mem: list[float]) -> None:
        """Append CPU/memory samples every ``stats_interval_s`` until cancelled."""
        sampler = SystemSampler()
        sampler.sample()
        while True:
            await asyncio.sleep(self._stats_interval_s)
            sample = sampler.sample()
            if sample is not None:
                cpu.append(sample[0])
                mem.append(sample[1])
