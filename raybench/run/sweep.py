"""Run a sweep: one config after another — spawn or reuse copies, warm up, barrier, measure,
collect, report — with a deadline on every wait and cancellation that keeps what finished."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from raybench.backends.base import ModelSpec
from raybench.core.errors import ClusterError, ModelLoadError, RunError
from raybench.core.interrupts import shielded
from raybench.core.log import logger
from raybench.core.options import Options
from raybench.core.schema import STATUS_ERROR, STATUS_FINISHED, STATUS_TIMEOUT, ConfigOutcome, CopyOutcome, RunConfig
from raybench.engine.collector import Collector
from raybench.engine.copy import CopySetup, ModelCopy
from raybench.engine.storage import combine_timers, empty_config_table
from raybench.report.reports import compute_report
from raybench.run.actors import CollectorCalls, CollectorLost, remote_class, shared_collector
from raybench.run.cluster import CopyRequest, NodeResources, alive_nodes, check_fits
from raybench.run.instance import instance_type
from raybench.run.pools import LocalPool, OnWait, RayPool
from raybench.run.failures import FailureLog
from raybench.run.names import config_label, config_name, config_position, planned_s
from raybench.run.progress import SweepProgress
from raybench.run.search import Plan

#: Margin between "all copies warmed up" and the common start, so every copy gets the
#: start time before it passes (Ray's call latency is ~1 ms locally, more across nodes).
BARRIER_NS = 100_000_000
#: Extra time, beyond ``duration``, that a copy may take to finish its last call and flush.
GRACE_S = 10.0
#: A wait for loading or warmup says it is still waiting this often (at verbosity >= 1).
STILL_WAITING_EVERY_S = 30.0

LOAD_TIMEOUT_MESSAGE = "copy {copy_id} did not finish loading its model within {timeout_s:g} s (load_timeout)"
WARMUP_TIMEOUT_MESSAGE = ("copy {copy_id} did not finish its warmup within {timeout_s:g} s (warmup_timeout; "
                          "a first call that never returns?)")


@dataclass(frozen=True)
class SweepResult:
    """What a sweep produced: configs, how each ended, their reports and (maybe) the timers."""

    configs: list[RunConfig]
    outcomes: list[ConfigOutcome]
    reports: list[dict[str, Any]]
    timers: Any  # pyarrow.Table, or None when not kept
    interrupted: bool = False


class SweepRunner:
    """Runs configs one after another on copy pools keyed by model and pipeline size.

    Args:
        configs: The expanded sweep, in order.
        specs: How to build each model, by ``RunConfig.model_filename``.
        input_sets: The sweep's input sets (or a Ray object ref to them), for every copy.
        requests: The Ray resource request of one copy, per pipeline size.
        nodes: The cluster's nodes (for the fit check).
        options: The call's options (hooks, placement, limits, reporting).
    """

    def __init__(
        self,
        configs: list[RunConfig],
        specs: dict[str, ModelSpec],
        input_sets: Any,
        requests: dict[int, CopyRequest],
        nodes: list[NodeResources],
        options: Options,
    ) -> None:
        self._configs = configs
        self._specs = specs
        self._input_sets = input_sets
        self._requests = requests
        self._nodes = nodes
        self._options = options
        self._multiprocess = options.placement.multiprocess
        self._keep_timers = options.reporting.return_timers
        self._cost_per_hour = options.reporting.cost_per_hour
        self._limits = options.limits
        self._instance_type = instance_type()
        self._run_id = uuid.uuid4().hex
        self._pool: Any = None
        self._pool_key: tuple[str, int, str | None] | None = None
        self._pool_copies = 0  # copies the current pool will need at most (spawned at once)
        self._kept: list[tuple[int, Any]] = []  # (config_id, timer table) handed over by the collector
        self._progress = SweepProgress(0, enabled=False)  # drawn from run(), once the sweep is accepted
        self._log_level = logging.INFO
        self._warned_priority = False
        self._failures = FailureLog(options.limits.keep_going)

    def run(self, plan: Plan | None = None) -> SweepResult:
        """Run every config; Ctrl-C stops the sweep and returns the configs that finished.

        Args:
            plan: The configs to run, as a generator sent each config's report (a capacity
                search, :func:`~raybench.run.search.search_plan`, whose probes' copies and
                pools follow the sweep's configs by ``search_id``); None runs the sweep's
                configs, each once.

        After that first Ctrl-C, tearing down and handing back what finished is shielded
        (:func:`~raybench.core.interrupts.shielded`): a second press only prints a note.
        """
        for config in self._configs:  # refuse the whole sweep up front, not halfway through
            if self._multiprocess:
                check_fits(config.n_models, self._requests[config.pipeline_size], self._nodes,
                           pipeline_size=config.pipeline_size)
        collector = self._start_collector()
        show = self._options.reporting.verbosity >= 1
        # A search: at most max_steps loads per config, each a probe and maybe its repeat.
        planned = len(self._configs) * (2 * self._options.search.max_steps if plan is not None else 1)
        self._progress = SweepProgress(planned, enabled=None if show else False,
                                       unit="probe" if plan is not None else "config", at_most=plan is not None)
        # On a terminal the progress line shows each config; log lines would break it up.
        self._log_level = logging.DEBUG if self._progress.enabled else logging.INFO
        plan = plan if plan is not None else (config for config in self._configs)
        ran: list[RunConfig] = []
        outcomes: list[ConfigOutcome] = []
        reports: list[dict[str, Any]] = []
        interrupted = False
        try:
            config = next(plan, None)
            while config is not None:
                self._progress.config_started(config.config_id, config_label(config), planned_s(config))
                report, outcome, collector = self._config_report(config, collector)
                ran.append(config)
                outcomes.append(outcome)
                reports.append(report)
                self._progress.config_finished(report["status"], report["throughput_avg"],
                                               report["latency_ms_p50"], report["latency_ms_p99"])
                _log_report(config, report, self._log_level)
                if report.get("converged") is False:
                    logger.warning("%s did not converge: %s", config_name(config), report.get("error"))
                config = _advance(plan, report)
                if config is not None:
                    self._failures.stop_if_alike(outcomes)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            with shielded():
                self._progress.close()
                if interrupted:
                    logger.warning("interrupted: returning the %d configs that finished", len(reports))
                self._close_pool()
                collector.end_run()
        timers = combine_timers(self._kept) if self._keep_timers else None
        return SweepResult(ran, outcomes, reports, timers, interrupted)

    # -- pieces ----------------------------------------------------------------------------

    def _config_report(self, config: RunConfig,
                       collector: CollectorCalls) -> tuple[dict[str, Any], ConfigOutcome, CollectorCalls]:
        """Run one config and report it; a lost collector fails only this config (a new one is
        started, and the copies, which send to the old one, are respawned)."""
        pool = self._pool_for(config, collector)
        outcome: ConfigOutcome | None = None
        try:
            outcome = self._run_config(pool, config, collector)
            report, outcome, table = collector.finish(config, outcome)
        except CollectorLost as exc:
            if outcome is None:
                outcome = self._failed(config, STATUS_ERROR, str(exc))
            else:  # keep what the copies said (a copy killed with the collector names its cause)
                error = str(exc) if outcome.error is None else f"{outcome.error}; {exc}"
                self._failures.warn(config, STATUS_ERROR, error)
                outcome = dataclasses.replace(outcome, status=STATUS_ERROR, error=error)
            report = compute_report(config, outcome, empty_config_table(), cost_per_hour=self._cost_per_hour,
                                    slo=self._options.reporting.slo)
            self._close_pool()
            held = sum(table.num_rows for _, table in self._kept)
            return report, outcome, self._start_collector(held_rows=held)
        if table is not None:
            self._kept.append((config.config_id, table))
        return report, outcome, collector

    def _pool_for(self, config: RunConfig, collector: CollectorCalls) -> Any:
        """The pool for ``config``: copies are reused by consecutive configs of the same model and
        pipeline size."""
        key = _pool_key(config)
        if self._pool is None or self._pool_key != key:
            self._close_pool()
            setup = CopySetup(self._specs[config.model_filename], self._options.hooks,
                              self._options.placement.stats_interval_s, self._run_id,
                              open_loop=self._options.search.mode == "rate")
            if self._multiprocess:
                self._pool = RayPool(remote_class(ModelCopy), setup, self._input_sets, collector.handle,
                                     self._requests[config.pipeline_size])
            else:
                self._pool = LocalPool(setup, self._input_sets, collector.handle)
            self._pool_key = key
            self._pool_copies = self._most_copies_from(config)
        return self._pool

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.close()
        self._pool, self._pool_key = None, None

    def _start_collector(self, held_rows: int = 0) -> CollectorCalls:
        """The collector (shared, or in-process without Ray), with this run opened on it."""
        if self._multiprocess:
            handle = shared_collector()
        else:
            handle = Collector()
        calls = CollectorCalls(handle, self._run_id, self._cost_per_hour, self._options.reporting.slo)
        calls.call("start_run", self._run_id, self._keep_timers, self._limits.max_timer_rows, held_rows)
        return calls

    def _still_waiting(self, doing: str) -> OnWait:
        """An ``on_wait`` that says every ``STILL_WAITING_EVERY_S`` that ``doing`` is still going on."""
        said = [0]

        def on_wait(waited_s: float) -> None:
            if waited_s >= (said[0] + 1) * STILL_WAITING_EVERY_S:
                said[0] = int(waited_s // STILL_WAITING_EVERY_S)
                message = f"still {doing} ({waited_s:.0f} s)..."
                if self._progress.enabled:
                    self._progress.note(message)
                else:
                    logger.info(message)

        return on_wait

    def _run_config(self, pool: Any, config: RunConfig, collector: CollectorCalls) -> ConfigOutcome:
        """Load (or reuse) copies, warm up, start together, measure; never raises for the model."""
        n = config.n_models
        logger.log(self._log_level, "config %s: %s", config_position(config, len(self._configs)), config_label(config))
        try:
            self._ensure_copies(pool, config)
            warm = pool.call("warmup", n, config, timeout_s=self._limits.warmup_timeout_s + (config.measure.warmup_s or 0),
                             on_wait=self._still_waiting(f"warming up {_copies(n)}"),
                             timeout_message=WARMUP_TIMEOUT_MESSAGE)
        except (ModelLoadError, RunError, TimeoutError, ClusterError) as exc:
            pool.discard()
            self._pool_copies = 0  # after a failure, spawn only what each config needs
            return self._failed(config, STATUS_TIMEOUT if isinstance(exc, TimeoutError) else STATUS_ERROR, str(exc))
        warm_error = next((err for _, err in warm if err), None)
        if warm_error:
            return self._failed(config, STATUS_ERROR, warm_error)
        start_ns = time.time_ns() + BARRIER_NS
        stop_ns = start_ns + int(config.longest_s * 1e9)
        timeout_s = BARRIER_NS / 1e9 + config.longest_s + GRACE_S
        collector.call("start_config", self._run_id, config, start_ns)

        def show_live(waited_s: float) -> None:
            if self._progress.enabled:
                with contextlib.suppress(CollectorLost):  # only the progress line: finish() will say
                    live = collector.call("live", self._run_id, config, start_ns)
                    self._progress.update(elapsed_s=max(0.0, (time.time_ns() - start_ns) / 1e9), infs=live["infs"],
                                          throughput=live["throughput"], p50_ms=live["p50_ms"])

        # Each copy on its own: one that dies or hangs fails the config, but the outcomes of the
        # copies that did report (and every batch already flushed to the collector) are kept.
        answers = pool.call_each("run", n, config, start_ns, timeout_s=timeout_s, on_wait=show_live)
        copies: list[CopyOutcome] = [
            dataclasses.replace(a, warmup_infs=w[0], warmup_sum_ns=w[1], warmup_wall_ns=w[2])
            for a, (w, _) in zip(answers, warm) if not isinstance(a, BaseException)
        ]
        failures = [a for a in answers if isinstance(a, BaseException)]
        self._warn_low_priority(copies)
        status, error = STATUS_FINISHED, None
        if failures:
            # A copy stuck in a model call, or dead: the pool's processes cannot be trusted.
            pool.discard()
            self._pool_copies = 0  # a node may be gone: later configs spawn only what they need
            timed_out = any(isinstance(f, TimeoutError) for f in failures)
            status = STATUS_TIMEOUT if timed_out else STATUS_ERROR
            error = str(next((f for f in failures if isinstance(f, TimeoutError)), failures[0]))
            self._failures.warn(config, status, error)
        elif sum(c.n_infs - c.n_errors for c in copies) == 0:
            status = STATUS_ERROR
            error = next((c.error for c in copies if c.error), "no inference completed")
        return ConfigOutcome(config.config_id, status, error, start_ns, stop_ns, self._instance_type, tuple(copies))

    def _warn_low_priority(self, copies: list[CopyOutcome]) -> None:
        """Warn once per sweep when a copy could not run at normal priority (a Ray cluster
        raybench did not start, whose workers may not lower their niceness)."""
        nice = sorted({c.niceness for c in copies if c.niceness is not None and c.niceness > 0})
        if nice and not self._warned_priority:
            self._warned_priority = True
            logger.warning(
                "copies run at niceness %s (Ray's worker_niceness), not 0: any other process on the host takes the "
                "CPU first. Start the cluster with RAY_worker_niceness=0 set for 'ray start', or let the copies "
                "raise their priority (CAP_SYS_NICE)", "/".join(str(n) for n in nice))

    def _most_copies_from(self, config: RunConfig) -> int:
        """The most copies any config of the pool that starts at ``config`` runs."""
        key = _pool_key(config)
        most = 0
        position = config.config_id if config.search_id is None else config.search_id  # a probe: its config's
        for later in self._configs[position:]:
            if _pool_key(later) != key:
                break
            most = max(most, later.n_models)
        return most

    def _ensure_copies(self, pool: Any, config: RunConfig) -> None:
        """Have the copies ``config`` needs loaded, spawning all the pool will need at once:
        Ray starts their processes in parallel, instead of one batch per growing config.

        If the larger set cannot load, the config's own count is tried alone, so a failure
        that only more copies hit is the failure of the configs that use them.
        """
        target = max(config.n_models, self._pool_copies)
        if target > config.n_models and len(pool.copies) < target:
            try:
                self._check_fits_now(target, config)
                self._load(pool, target, config)
                return
            except ClusterError:  # a node left since the sweep was checked: nothing was spawned
                pass
            except (ModelLoadError, RunError, TimeoutError) as exc:
                logger.debug("loading %d copies at once failed (%s); loading %d", target, exc, config.n_models)
                pool.discard()
            self._pool_copies = config.n_models
        if len(pool.copies) < config.n_models:
            self._check_fits_now(config.n_models, config)  # fail the config, never queue forever
        self._load(pool, config.n_models, config)

    def _load(self, pool: Any, n: int, config: RunConfig) -> None:
        """Load copies until the pool has ``n``, saying so while it takes long."""
        first = len(pool.copies)
        if first < n:
            doing = f"loading {_copies(n - first, first)}"
            pool.ensure(n, config, self._limits.load_timeout_s, on_wait=self._still_waiting(doing),
                        timeout_message=LOAD_TIMEOUT_MESSAGE)

    def _check_fits_now(self, n: int, config: RunConfig) -> None:
        """Raise ClusterError unless ``n`` copies fit on the nodes alive now: Ray would queue
        the ones that do not forever, and a node may have left since the sweep was checked."""
        if self._multiprocess:
            check_fits(n, self._requests[config.pipeline_size], alive_nodes(), pipeline_size=config.pipeline_size)

    def _failed(self, config: RunConfig, status: str, error: str, start_ns: int | None = None,
                stop_ns: int | None = None) -> ConfigOutcome:
        """The outcome of a config that failed; the log says it in one line (the whole message,
        a traceback maybe, goes to the debug log and stays in the outcome)."""
        self._failures.warn(config, status, error)
        return ConfigOutcome(config.config_id, status, error, start_ns, stop_ns, self._instance_type)


def _pool_key(config: RunConfig) -> tuple[str, int, str | None]:
    """Consecutive configs with one key share their copies: the same model at the same pipeline
    size and cast mode (a new cast mode is a new load: the setup functions see it)."""
    return config.model_filename, config.pipeline_size, config.cast_mode


def _copies(n: int, first: int = 0) -> str:
    """``copy 0`` or ``copies 2-5``."""
    return f"copy {first}" if n == 1 else f"copies {first}-{first + n - 1}"


def _advance(plan: Plan, report: dict[str, Any]) -> RunConfig | None:
    """The plan's next config, given the last one's report; None when it has no more."""
    try:
        return plan.send(report)
    except StopIteration:
        return None


def _log_report(config: RunConfig, report: dict[str, Any], level: int) -> None:
    if report.get("status") != STATUS_FINISHED:
        return  # its failure was said already, with its error
    def show(key: str) -> str:
        value = report.get(key)
        return "N/A" if value is None else f"{value:.3f}"

    verdict = f" slo {report['slo_ok'] and 'met' or 'missed'}" if report.get("slo_ok") is not None else ""
    logger.log(level, "%s %s: throughput_avg=%s latency_ms_p50=%s latency_ms_p99=%s%s", config_name(config),
               report.get("status"), show("throughput_avg"), show("latency_ms_p50"), show("latency_ms_p99"), verdict)
