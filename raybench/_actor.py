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
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from time import perf_counter_ns
from typing import Any

import numpy as np

from raybench._backends import ModelSpec, get_backend, is_async_model
from raybench._config import RunConfig
from raybench._devices import bind_neuron_cores
from raybench._hotloop import Stages, TimerBuffer, run_async_burst, run_plain_burst, run_staged_burst
from raybench._schema import CopyOutcome
from raybench._sysmon import SystemSampler
from raybench._wire import BatchEncoder

#: Rows per worker buffer. Two buffers per worker (one filling while the other ships):
#: 2 x 2^20 rows x 17 bytes is ~36 MB per worker at most, whatever the duration.
BUFFER_ROWS = 1 << 20
#: A worker ships its rows at least this often, so a copy that dies loses at most this much.
FLUSH_INTERVAL_NS = 500_000_000

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


BUDGET_MESSAGE = (
    "stopped early: the run holds max_timer_rows raw timers, its memory budget; "
    "later rows were not recorded"
)


async def _answer(reply: Any) -> Any:
    """The collector's answer to ``add``: awaited from a Ray actor, as is in-process."""
    return await reply if hasattr(reply, "__await__") else reply


class ModelCopy:
    """One model copy: loads the model, runs worker coroutines, ships timers to the collector.

    Args:
        copy_id: Index of this copy in its pool (0-based).
        spec: How to build the model (see :class:`~raybench._backends.ModelSpec`).
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
        self._stage_names = tuple(
            name
            for name, present in (
                ("preprocess_ns", preprocess_fn is not None),
                ("infer_ns", True),
                ("postprocess_ns", postprocess_fn is not None),
            )
            if present
        )
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
        config_dict = asdict(self._first_config) if self._first_config else {}
        if self._env_setup_fn is not None:
            t0 = perf_counter_ns()
            self._env_setup_fn(self.copy_id, config_dict)
            self._env_setup_ns = perf_counter_ns() - t0
        t0 = perf_counter_ns()
        self._model = self._backend.load(self._spec)
        self._inputs = [self._backend.prepare_inputs(x, self._spec) for x in self._raw_inputs]
        self._load_ns = perf_counter_ns() - t0
        if self._setup_fn is not None:
            t0 = perf_counter_ns()
            self._setup_fn(self.copy_id, config_dict, self._model)
            self._setup_ns = perf_counter_ns() - t0
        # The first Arrow encode and the first call to the collector cost ~0.5 s in a fresh
        # process (imports, resolving the actor handle): pay that now, not while measuring.
        self._encoder.encode(TimerBuffer(1, self._with_stages), {})
        self._encoder.reserve(BUFFER_ROWS)
        self._ping = self._collector.ping.remote() if hasattr(self._collector.ping, "remote") else None
        return {"copy_id": self.copy_id, "node_id": self._node_id, "pid": os.getpid(),
                "visible_cores": self._visible_cores}

    def stop(self) -> None:
        """Ask the workers to stop at the end of their current burst."""
        self._stop = True

    # -- per config ------------------------------------------------------------------------

    async def warmup(self, config: RunConfig) -> tuple[tuple[int, ...], str | None]:
        """Run ``config.warmup`` inferences on each worker thread; return their durations.

        Returns:
            ``(durations_ns, error)``: ``error`` is the model's message if a warmup call raised
            (the runner then fails the config at once instead of measuring a broken model).
        """
        model, args = self._model_and_args(config)
        if self._ping is not None:
            await self._ping  # the collector is reachable before anything is measured
            self._ping = None
        for worker_id in range(config.workers_per_model):
            self._worker_buffers(worker_id)  # allocated and touched before measuring
        loop = asyncio.get_running_loop()
        burst = self._burst_fn(model)
        durations: list[int] = []
        with self._executor(config) as pool:
            for _ in range(config.warmup):
                bufs = [TimerBuffer(1, self._with_stages) for _ in range(config.workers_per_model)]
                if self._is_async(model):
                    await asyncio.gather(*(run_async_burst(model, args, b, 0) for b in bufs))
                else:
                    await asyncio.gather(*(loop.run_in_executor(pool, burst, model, args, b, 0) for b in bufs))
                durations.extend(int(b.ends[0] - b.starts[0]) for b in bufs)
                failed = next((b for b in bufs if b.n_errors), None)
                if failed is not None:
                    return tuple(durations), f"model raised during warmup: {failed.first_error}"
        return tuple(durations), None

    async def run(self, config: RunConfig, start_wall_ns: int) -> CopyOutcome:
        """Measure from ``start_wall_ns`` for ``config.duration_s``; ship timers as they fill.

        All copies of a config get the same ``start_wall_ns`` (the barrier); each converts it
        to its own monotonic clock, so they start together.
        """
        self._stop = False
        model, args = self._model_and_args(config)
        start_pc = start_wall_ns - self._offset_ns
        end_pc = start_pc + int(config.duration_s * 1e9)
        ids = {"run_id": self._run_id, "config_id": str(config.config_id), "copy_id": str(self.copy_id),
               "node_id": self._node_id}
        pending: list[Any] = []
        cpu: list[float] = []
        mem: list[float] = []
        sampler_task = asyncio.ensure_future(self._sample_system(cpu, mem))
        delay_s = (start_pc - perf_counter_ns()) / 1e9
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        with self._executor(config) as pool:
            results = await asyncio.gather(
                *(self._worker(w, model, args, end_pc, ids, pool, pending)
                  for w in range(config.workers_per_model))
            )
        sampler_task.cancel()
        await asyncio.gather(*(_answer(ack) for ack in pending))  # the collector has every batch
        errors = [e for _, _, e in results if e]
        return CopyOutcome(
            copy_id=self.copy_id,
            node_id=self._node_id,
            visible_cores=self._visible_cores,
            env_setup_ns=self._env_setup_ns,
            load_ns=self._load_ns,
            setup_ns=self._setup_ns,
            n_infs=sum(n for n, _, _ in results),
            n_errors=sum(e for _, e, _ in results),
            error=errors[0] if errors else None,
            cpu_percent=tuple(cpu),
            mem_percent=tuple(mem),
        )

    # -- internals -------------------------------------------------------------------------

    async def _worker(
        self,
        worker_id: int,
        model: Callable[..., Any],
        args: tuple[Any, ...],
        end_pc: int,
        ids: dict[str, str],
        pool: ThreadPoolExecutor,
        pending: list[Any],
    ) -> tuple[int, int, str | None]:
        """One worker: bursts of inferences until ``end_pc``; returns (n, n_errors, error).

        Two buffers per worker: when one is due for shipping, the next burst starts on the
        other first, so encoding and sending happen while the model keeps being measured.
        """
        loop = asyncio.get_running_loop()
        filling, spare = self._worker_buffers(worker_id)
        ids = {**ids, "worker_id": str(worker_id)}
        burst = self._burst_fn(model)

        def start(buf: TimerBuffer, deadline: int) -> Any:
            if self._is_async(model):
                return asyncio.ensure_future(run_async_burst(model, args, buf, deadline))
            return loop.run_in_executor(pool, burst, model, args, buf, deadline)

        n_total = n_errors = 0
        first_error: str | None = None
        started = perf_counter_ns()
        next_flush = started + FLUSH_INTERVAL_NS
        running = start(filling, min(end_pc, next_flush))
        while True:
            await running
            now = perf_counter_ns()
            if n_errors + filling.n_errors == n_total + filling.n > 0 and now - started >= FAILING_MODEL_NS:
                self._stop = True  # every call so far raised: a broken model, not a flaky one
            done = now >= end_pc or self._stop
            if not (done or now >= next_flush or filling.n == filling.capacity):
                running = start(filling, min(end_pc, next_flush))
                continue
            full, filling, spare = filling, spare, filling
            next_flush = now + FLUSH_INTERVAL_NS
            if not done:
                running = start(filling, min(end_pc, next_flush))
            n_total += full.n
            n_errors += full.n_errors
            first_error = first_error or full.first_error
            if full.n:
                ack = self._send(self._encoder.encode(full, ids))
                # The previous batch's answer (long since back): is the run's timer budget used up?
                if pending and await _answer(pending[-1]):
                    self._stop = True
                    first_error = BUDGET_MESSAGE
                pending.append(ack)
            full.clear()
            if done:
                return n_total, n_errors, first_error

    def _burst_fn(self, model: Callable[..., Any]) -> Callable[..., None]:
        if not self._with_stages:
            return run_plain_burst
        stages = self._stages

        def staged(model: Callable[..., Any], args: tuple[Any, ...], buf: TimerBuffer, deadline: int) -> None:
            run_staged_burst(model, args, buf, deadline, stages)

        return staged

    def _worker_buffers(self, worker_id: int) -> tuple[TimerBuffer, TimerBuffer]:
        # Buffers outlive configs: a copy reused by the next config does not reallocate.
        while len(self._buffers) <= worker_id:
            self._buffers.append((TimerBuffer(BUFFER_ROWS, self._with_stages),
                                  TimerBuffer(BUFFER_ROWS, self._with_stages)))
        return self._buffers[worker_id]

    def _executor(self, config: RunConfig) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(
            max_workers=config.workers_per_model,
            thread_name_prefix=f"raybench-copy{self.copy_id}",
            initializer=self._backend.thread_init,
            initargs=(self._spec,),
        )

    def _model_and_args(self, config: RunConfig) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if self._model is None:
            self.load()
        assert self._model is not None
        return self._model, self._inputs[config.input_index]

    def _is_async(self, model: Callable[..., Any]) -> bool:
        return not self._with_stages and is_async_model(model)

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
