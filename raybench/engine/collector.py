"""The collector: receives Arrow timer batches from the copies while they run, makes reports.

Like ``ModelCopy`` it is a plain class: one Ray actor per driver, shared by its ``benchmark``
calls (or an in-process object with ``multiprocess=False``). Reports are computed here, where
the timers already are; raw timers travel to the driver only when ``return_timers=True`` asks
for them, config by config as each finishes (a collector lost later loses no finished config).

The collector only routes; its collaborators, one set per run, do the work: a
:class:`~raybench.engine.storage.RunStore` (the batches and the memory budget), a
:class:`~raybench.engine.stopping.StopWatch` per adaptive config (when it has measured enough),
:class:`~raybench.engine.live.LiveFigures` (the progress line) and
:func:`~raybench.report.reports.compute_report` (the report).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc

from raybench.core.options import DEFAULT_MAX_TIMER_ROWS
from raybench.core.schema import STATUS_FINISHED, ConfigOutcome, RunConfig
from raybench.engine.binding import bind_neuron_cores
from raybench.engine.live import LiveFigures
from raybench.engine.stopping import StopWatch
from raybench.engine.storage import RunStore, timer_table
from raybench.engine.wire import GO_ON, STOP_BUDGET, STOP_DONE, decode_message
from raybench.report.reports import compute_report

_ID_KEYS = ("config_id", "copy_id", "worker_id")


@dataclass
class _Run:
    """One open run's collaborators."""

    store: RunStore
    watches: dict[int, StopWatch] = field(default_factory=dict)  # adaptive configs
    live: LiveFigures = field(default_factory=LiveFigures)


def _warm_batch() -> pa.RecordBatch:
    ones = pa.array(np.ones(4, np.int64))
    return pa.record_batch([ones, ones, pa.array(np.ones(4, np.bool_))], names=["start_ns", "end_ns", "ok"])


class Collector:
    """Gathers the timer batches of benchmark runs and turns them into reports.

    One collector serves every ``benchmark`` call of a driver (spawning an actor costs about a
    second here), so its state is kept per run: ``start_run``, then batches and ``finish`` per
    config, then ``end_run``, which frees everything the run held.
    """

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        bind_neuron_cores("cpu")  # the collector holds no NeuronCores, whatever the driver had
        # The first report in a process pays for lazy imports and kernel setup (~0.3 s):
        # pay it here, before any run waits for a report.
        compute_report(RunConfig(0, "", "", "cpu", 1, 0, 1, 1), ConfigOutcome(0, STATUS_FINISHED),
                       timer_table([(0, 0, "", _warm_batch())]))

    def ping(self) -> None:
        """Answer a copy that checks the collector is reachable (warms the call path)."""

    def start_run(self, run_id: str, keep_timers: bool, max_rows: int = DEFAULT_MAX_TIMER_ROWS,
                  held_rows: int = 0) -> None:
        """Open a run. ``keep_timers`` hands each config's raw timers over with its report (for
        ``return_timers=True``); otherwise they are dropped as soon as the report is made.
        ``max_rows`` bounds the raw timers the run holds at once (the memory budget), of which
        ``held_rows`` are already held (by the driver, when a run reopens on a new collector)."""
        self._runs[run_id] = _Run(RunStore(keep_timers, max_rows, rows=held_rows))

    def end_run(self, run_id: str) -> None:
        """Forget a run and free its timers."""
        self._runs.pop(run_id, None)

    def start_config(self, run_id: str, config: RunConfig, start_ns: int) -> None:
        """Watch an adaptive config (``min_infs``/``stability``) from its common start: its
        batches then decide when it has measured enough."""
        stop = config.stop
        if stop.adaptive:
            self._runs[run_id].watches[config.config_id] = StopWatch(
                start_ns, int(config.measure.duration_s * 1e9), stop.min_infs, stop.stability,
                int(stop.stability_window_s * 1e9),
            )

    def add(self, payload: Any) -> str:
        """Store one Arrow IPC stream message from a copy (bytes or a uint8 array).

        The stamps are copied out of the message and turned into wall time in the same pass,
        so nothing keeps the message (or Ray's shared-memory object holding it) alive.
        Batches of a run that already ended (a late flush after a timeout) are dropped. Rows
        beyond the run's budget are dropped too.

        Returns:
            ``STOP_BUDGET`` when the run's budget is used up, ``STOP_DONE`` when an adaptive
            config has measured enough, else ``GO_ON`` (falsy): the copy goes on measuring.
        """
        meta, batches = decode_message(payload)
        run = self._runs.get(meta["run_id"])
        if run is None:
            return STOP_BUDGET
        config_id, copy_id, worker_id = (int(meta[k]) for k in _ID_KEYS)
        stored = run.store.add(config_id, copy_id, worker_id, meta["node_id"], batches)
        watch = run.watches.get(config_id)
        done = False
        if watch is not None:
            for batch in stored:
                done = watch.observe(copy_id, worker_id, batch.column("start_ns").to_numpy(),
                                     batch.column("end_ns").to_numpy(), batch.column("ok").to_numpy(zero_copy_only=False))
        if run.store.full:
            return STOP_BUDGET
        return STOP_DONE if done else GO_ON

    def live(self, run_id: str, config: RunConfig, start_ns: int) -> dict[str, Any]:
        """Figures of a running config from the batches received so far (see
        :meth:`~raybench.engine.live.LiveFigures.figures`)."""
        run = self._runs.get(run_id)
        if run is None:
            return {"infs": 0, "throughput": None, "p50_ms": None}
        return run.live.figures(config.config_id, run.store.pieces(config.config_id), config.batch_size, start_ns)

    def finish(
        self, run_id: str, config: RunConfig, outcome: ConfigOutcome, cost_per_hour: float | None = None,
        slo: dict[str, float] | None = None,
    ) -> tuple[dict[str, Any], ConfigOutcome, pa.Table | None]:
        """Build the config's report from every batch received for it.

        Call after every copy's ``run`` returned: a copy only returns once the collector
        acknowledged all its batches. An adaptive config ends where its stop was decided: rows
        that ended later are not part of it, and the outcome's ``stop_ns`` and ``converged``
        say where and why it ended.

        Returns:
            The report, the outcome as reported (possibly with a new stop and verdict) and,
            when the run keeps its timers, the config's timer table (without ``config_id``; see
            :func:`~raybench.engine.storage.combine_timers`). The table is handed over at once,
            config by config, so a collector that dies later (killed, out of memory) loses no
            finished config; its rows still count against the run's budget, since the driver
            holds them.
        """
        run = self._runs[run_id]
        run.live.forget(config.config_id)
        table = run.store.take(config.config_id)
        watch = run.watches.pop(config.config_id, None)
        if watch is not None:
            outcome = _adaptive_outcome(config, outcome, watch)
            if watch.stop_ns is not None and table.num_rows:
                kept = table.filter(pc.less_equal(table.column("end_ns"), watch.stop_ns))
                run.store.release(table.num_rows - kept.num_rows)
                table = kept
        report = compute_report(config, outcome, table, cost_per_hour=cost_per_hour, slo=slo)
        if run.store.keep_timers:
            return report, outcome, table
        run.store.release(table.num_rows)
        return report, outcome, None

    def held_bytes(self) -> int:
        """Bytes of timer data currently held, over all runs (for the memory benchmark)."""
        return sum(run.store.nbytes() for run in self._runs.values())

    def rss_bytes(self) -> int:
        """Resident memory of the collector's process (for the memory benchmark)."""
        return int(psutil.Process().memory_info().rss)


def _adaptive_outcome(config: RunConfig, outcome: ConfigOutcome, watch: StopWatch) -> ConfigOutcome:
    """The outcome of an adaptive config: where it stopped, whether it converged, and a note
    when ``max_duration`` came first."""
    stop = config.stop
    converged = watch.converged if stop.stability is not None else None
    if watch.stop_ns is not None:
        return dataclasses.replace(outcome, stop_ns=watch.stop_ns, converged=converged)
    note = outcome.error
    if note is None and outcome.status == STATUS_FINISHED:
        wanted = "stability" if stop.stability is not None else f"min_infs ({stop.min_infs})"
        if any(copy.dataset_exhausted for copy in outcome.copies):
            note = f"the dataset ran out before {wanted} was reached"
        else:
            note = f"max_duration ({stop.max_duration_s:g} s) ended the config before {wanted} was reached"
    return dataclasses.replace(outcome, converged=converged, error=note)
