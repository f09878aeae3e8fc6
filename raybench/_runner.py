"""Run a sweep: one config after another — spawn or reuse copies, warm up, barrier, measure,
collect, report — with a deadline on every wait and cancellation that keeps what finished."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any

from raybench._collector import Collector
from raybench._config import RunConfig
from raybench._devices import CopyRequest, NodeResources, check_fits
from raybench._exceptions import ModelLoadError, RunError
from raybench._logging import logger
from raybench._pool import LocalPool, RayPool
from raybench._schema import STATUS_ERROR, STATUS_FINISHED, STATUS_TIMEOUT, ConfigOutcome, CopyOutcome

#: Margin between "all copies warmed up" and the common start, so every copy gets the
#: start time before it passes (Ray's call latency is ~1 ms locally, more across nodes).
BARRIER_NS = 100_000_000
#: Extra time, beyond ``duration``, that a copy may take to finish its last call and flush.
GRACE_S = 10.0
#: How long a copy may take to load its model (compiled Neuron models can take minutes).
LOAD_TIMEOUT_S = 900.0
#: Limit for a warmup round (per warmup inference).
WARMUP_TIMEOUT_S = 300.0


def instance_type() -> str:
    """The host's instance type from ``RAYBENCH_INSTANCE_TYPE``, else ``"unknown"``."""
    return os.environ.get("RAYBENCH_INSTANCE_TYPE", "unknown") or "unknown"


@dataclass(frozen=True)
class SweepResult:
    """What a sweep produced: configs, how each ended, their reports and (maybe) the timers."""

    configs: list[RunConfig]
    outcomes: list[ConfigOutcome]
    reports: list[dict[str, Any]]
    timers: Any  # pyarrow.Table, or None when not kept
    interrupted: bool = False


class SweepRunner:
    """Runs configs one after another on copy pools keyed by pipeline size.

    Args:
        configs: The expanded sweep, in order.
        copy_kwargs: Arguments for every ``ModelCopy`` (spec, input sets, stage functions...).
        requests: The Ray resource request of one copy, per pipeline size.
        nodes: The cluster's nodes (for the fit check).
        multiprocess: Ray actors (True) or in-process copies (False).
        keep_timers: Return raw timers (``return_timers=True``).
        cost_per_hour: For ``cost_per_1m_inf``.
    """

    def __init__(
        self,
        configs: list[RunConfig],
        copy_kwargs: dict[str, Any],
        requests: dict[int, CopyRequest],
        nodes: list[NodeResources],
        *,
        multiprocess: bool,
        keep_timers: bool,
        cost_per_hour: float | None,
    ) -> None:
        self._configs = configs
        self._copy_kwargs = copy_kwargs
        self._requests = requests
        self._nodes = nodes
        self._multiprocess = multiprocess
        self._keep_timers = keep_timers
        self._cost_per_hour = cost_per_hour
        self._instance_type = instance_type()

    def run(self) -> SweepResult:
        """Run every config; Ctrl-C stops the sweep and returns the configs that finished."""
        for config in self._configs:  # refuse the whole sweep up front, not halfway through
            if self._multiprocess:
                check_fits(config.n_models, self._requests[config.pipeline_size], self._nodes,
                           pipeline_size=config.pipeline_size)
        collector, finish, fetch_timers = self._start_collector()
        outcomes: list[ConfigOutcome] = []
        reports: list[dict[str, Any]] = []
        interrupted = False
        pool: Any = None
        pool_key: int | None = None
        try:
            for config in self._configs:
                if pool is None or pool_key != config.pipeline_size:
                    if pool is not None:
                        pool.close()
                    pool, pool_key = self._new_pool(collector, config.pipeline_size), config.pipeline_size
                outcome = self._run_config(pool, config)
                report = finish(config, outcome)
                outcomes.append(outcome)
                reports.append(report)
                _log_report(config, report)
        except KeyboardInterrupt:
            interrupted = True
            logger.warning("interrupted: returning the %d configs that finished", len(reports))
        finally:
            if pool is not None:
                pool.close()
        timers = fetch_timers() if self._keep_timers else None
        return SweepResult(self._configs[: len(outcomes)], outcomes, reports, timers, interrupted)

    # -- pieces ----------------------------------------------------------------------------

    def _start_collector(self) -> tuple[Any, Any, Any]:
        if not self._multiprocess:
            local = Collector(keep_timers=self._keep_timers)
            return local, lambda c, o: local.finish(c, o, self._cost_per_hour), local.timers
        import ray

        remote = ray.remote(Collector).options(num_cpus=0).remote(keep_timers=self._keep_timers)
        return (
            remote,
            lambda c, o: ray.get(remote.finish.remote(c, o, self._cost_per_hour)),
            lambda: ray.get(remote.timers.remote()),
        )

    def _new_pool(self, collector: Any, pipeline_size: int) -> Any:
        kwargs = {**self._copy_kwargs, "collector": collector}
        if self._multiprocess:
            return RayPool(kwargs, self._requests[pipeline_size])
        return LocalPool(kwargs)

    def _run_config(self, pool: Any, config: RunConfig) -> ConfigOutcome:
        """Load (or reuse) copies, warm up, start together, measure; never raises for the model."""
        n = config.n_models
        logger.info(
            "config %d/%d: n_models=%d workers_per_model=%d batch_size=%d pipeline_size=%d",
            config.config_id + 1, len(self._configs), n, config.workers_per_model,
            config.batch_size, config.pipeline_size,
        )
        try:
            pool.ensure(n, config, LOAD_TIMEOUT_S)
            warm = pool.call("warmup", n, config, timeout_s=WARMUP_TIMEOUT_S + config.warmup)
        except (ModelLoadError, RunError, TimeoutError) as exc:
            pool.discard()
            return self._failed(config, STATUS_ERROR, str(exc))
        warm_error = next((err for _, err in warm if err), None)
        if warm_error:
            return self._failed(config, STATUS_ERROR, warm_error)
        start_ns = time.time_ns() + BARRIER_NS
        stop_ns = start_ns + int(config.duration_s * 1e9)
        timeout_s = BARRIER_NS / 1e9 + config.duration_s + GRACE_S
        try:
            copies: list[CopyOutcome] = pool.call("run", n, config, start_ns, timeout_s=timeout_s)
        except TimeoutError as exc:
            pool.discard()  # a copy is stuck in a model call: its process cannot be trusted
            return self._failed(config, STATUS_TIMEOUT, str(exc), start_ns, stop_ns)
        except (RunError, ModelLoadError) as exc:
            pool.discard()
            return self._failed(config, STATUS_ERROR, str(exc), start_ns, stop_ns)
        copies = [dataclasses.replace(c, warmup_ns=w) for c, (w, _) in zip(copies, warm)]
        status, error = STATUS_FINISHED, None
        if sum(c.n_infs - c.n_errors for c in copies) == 0:
            status = STATUS_ERROR
            error = next((c.error for c in copies if c.error), "no inference completed")
        return ConfigOutcome(config.config_id, status, error, start_ns, stop_ns, self._instance_type, tuple(copies))

    def _failed(self, config: RunConfig, status: str, error: str, start_ns: int | None = None,
                stop_ns: int | None = None) -> ConfigOutcome:
        logger.warning("config %d failed (%s): %s", config.config_id, status, error)
        return ConfigOutcome(config.config_id, status, error, start_ns, stop_ns, self._instance_type)


def _log_report(config: RunConfig, report: dict[str, Any]) -> None:
    logger.info(
        "config %d %s: throughput_avg=%s latency_ms_p50=%s latency_ms_p99=%s",
        config.config_id, report.get("status"), report.get("throughput_avg"),
        report.get("latency_ms_p50"), report.get("latency_ms_p99"),
    )
