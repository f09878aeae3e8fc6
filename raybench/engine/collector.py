"""The collector: receives Arrow timer batches from the copies while they run, makes reports.

Like ``ModelCopy`` it is a plain class: one Ray actor per driver, shared by its ``benchmark``
calls (or an in-process object with ``multiprocess=False``). Reports are computed here, where
the timers already are; raw timers travel to the driver only when ``return_timers=True`` asks
for them, config by config as each finishes (a collector lost later loses no finished config).

Memory: while a config runs, the collector keeps each batch as it arrived — ``start_ns`` and
``end_ns`` (8 bytes each), ``ok`` (1 bit) and any stage columns: 16.1 bytes per inference for a
model without pre/postprocess stages; the id columns travel once per batch. When the config ends,
``copy_id``, ``worker_id`` and ``node_id`` are expanded (int16: 6 bytes per row) next to the same
start/end buffers (zero-copy), so a row kept for ``return_timers`` costs 22.1 bytes; the
constant ``config_id`` is added only when the run's timers are combined (:func:`combine_timers`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raybench.core.options import RunConfig
from raybench.run.cluster import bind_neuron_cores
from raybench.report.reports import compute_report
from raybench.core.schema import STAGE_COLUMNS, TIMER_SCHEMA, ConfigOutcome, timer_schema
from raybench.report.stats import linear_percentiles
from raybench.engine.stopping import StopWatch
from raybench.engine.wire import decode_message

_ID_KEYS = ("config_id", "copy_id", "worker_id")

#: Raw timers a run may hold at once unless ``max_timer_rows`` says otherwise: 200M rows is
#: ~3.2 GB while configs run and ~4.4 GB when all are kept for ``return_timers``.
DEFAULT_MAX_TIMER_ROWS = 200_000_000

#: Answers to ``add`` (the copy's ``_actor.STOP_*``): go on, the budget is used up, enough measured.
GO_ON, STOP_BUDGET, STOP_DONE = "", "budget", "done"
#: Rows a live progress update looks at for its p50 (the newest batches).
_LIVE_SAMPLE_ROWS = 200_000


@dataclass
class _Run:
    keep_timers: bool
    max_rows: int = DEFAULT_MAX_TIMER_ROWS
    rows: int = 0  # held now: batches of running configs plus tables handed to the driver (kept timers)
    batches: dict[int, list[tuple[int, int, str, pa.RecordBatch]]] = field(default_factory=dict)
    watches: dict[int, StopWatch] = field(default_factory=dict)  # adaptive configs
    live: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # batches seen, ok rows, latest end


def _warm_batch() -> pa.RecordBatch:
    ones = pa.array(np.ones(4, np.int64))
    return pa.record_batch([ones, ones, pa.array(np.ones(4, np.bool_))], names=["start_ns", "end_ns", "ok"])


class Collector:
    """Gathers the timer batches of benchmark runs and turns them into reports.

    One collector serves every ``benchmark`` call of a driver (spawning an actor costs about a
    second here), so its state is kept per run: ``start_run``, then batches and ``finish`` per
    config, then ``timers`` and ``end_run``, which frees everything the run held.
    """

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        bind_neuron_cores("cpu")  # the collector holds no NeuronCores, whatever the driver had
        # The first report in a process pays for lazy imports and kernel setup (~0.3 s):
        # pay it here, before any run waits for a report.
        compute_report(RunConfig(0, "", "", "cpu", 1, 0, 1, 1), ConfigOutcome(0, "finished"),
                       self._timer_table([(0, 0, "", _warm_batch())]))

    def ping(self) -> None:
        """Answer a copy that checks the collector is reachable (warms the call path)."""

    def start_run(self, run_id: str, keep_timers: bool, max_rows: int = DEFAULT_MAX_TIMER_ROWS,
                  held_rows: int = 0) -> None:
        """Open a run. ``keep_timers`` hands each config's raw timers over with its report (for
        ``return_timers=True``); otherwise they are dropped as soon as the report is made.
        ``max_rows`` bounds the raw timers the run holds at once (the memory budget), of which
        ``held_rows`` are already held (by the driver, when a run reopens on a new collector)."""
        self._runs[run_id] = _Run(keep_timers, max_rows, rows=held_rows)

    def end_run(self, run_id: str) -> None:
        """Forget a run and free its timers."""
        self._runs.pop(run_id, None)

    def start_config(self, run_id: str, config: RunConfig, start_ns: int) -> None:
        """Watch an adaptive config (``min_infs``/``stability``) from its common start: its
        batches then decide when it has measured enough."""
        if config.adaptive:
            self._runs[run_id].watches[config.config_id] = StopWatch(
                start_ns, int(config.duration_s * 1e9), config.min_infs, config.stability,
                int(config.stability_window_s * 1e9),
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
        watch = run.watches.get(config_id)
        done = False
        for batch in batches:
            room = run.max_rows - run.rows
            if room <= 0:
                break
            if batch.num_rows > room:
                batch = batch.slice(0, room)
            run.rows += batch.num_rows
            run.batches.setdefault(config_id, []).append((copy_id, worker_id, meta["node_id"], batch))
            if watch is not None:
                done = watch.observe(copy_id, worker_id, batch.column("start_ns").to_numpy(),
                                     batch.column("end_ns").to_numpy(),
                                     batch.column("ok").to_numpy(zero_copy_only=False))
        if run.rows >= run.max_rows:
            return STOP_BUDGET
        return STOP_DONE if done else GO_ON

    def live(self, run_id: str, config: RunConfig, start_ns: int) -> dict[str, Any]:
        """Figures of a running config from the batches received so far (for live progress).

        Returns:
            ``infs`` (ok inferences so far), ``throughput`` (their average per second since
            ``start_ns``, times the batch size) and ``p50_ms`` (over the newest batches), or
            None where nothing arrived yet.
        """
        run = self._runs.get(run_id)
        pieces = run.batches.get(config.config_id, []) if run is not None else []
        seen, ok_rows, latest = run.live.get(config.config_id, (0, 0, start_ns)) if run is not None else (0, 0, 0)
        fresh = pieces[seen:]
        for *_, batch in fresh:
            ok_rows += int(pc.sum(batch.column("ok")).as_py() or 0)
            if batch.num_rows:
                latest = max(latest, int(batch.column("end_ns")[-1].as_py()))
        if run is not None:
            run.live[config.config_id] = (len(pieces), ok_rows, latest)
        elapsed_s = (latest - start_ns) / 1e9
        p50_ms = None
        sample, rows = [], 0
        for *_, batch in reversed(fresh or pieces[-4:]):
            if rows >= _LIVE_SAMPLE_ROWS:
                break
            ok = batch.column("ok").to_numpy(zero_copy_only=False)
            latency = (batch.column("end_ns").to_numpy() - batch.column("start_ns").to_numpy())[ok]
            sample.append(latency)
            rows += latency.size
        if rows:
            p50_ms = linear_percentiles(np.concatenate(sample), [50])[0] / 1e6
        return {
            "infs": ok_rows,
            "throughput": ok_rows * config.batch_size / elapsed_s if elapsed_s > 0 else None,
            "p50_ms": p50_ms,
        }

    def finish(
        self, run_id: str, config: RunConfig, outcome: ConfigOutcome, cost_per_hour: float | None = None
    ) -> tuple[dict[str, Any], ConfigOutcome, pa.Table | None]:
        """Build the config's report from every batch received for it.

        Call after every copy's ``run`` returned: a copy only returns once the collector
        acknowledged all its batches. An adaptive config ends where its stop was decided: rows
        that ended later are not part of it, and the outcome's ``stop_ns`` and ``converged``
        say where and why it ended.

        Returns:
            The report, the outcome as reported (possibly with a new stop and verdict) and,
            when the run keeps its timers, the config's timer table (without ``config_id``; see
            :func:`combine_timers`). The table is handed over at once, config by config, so a
            collector that dies later (killed, out of memory) loses no finished config; its rows
            still count against the run's budget, since the driver holds them.
        """
        run = self._runs[run_id]
        run.live.pop(config.config_id, None)
        table = self._timer_table(run.batches.pop(config.config_id, []))
        watch = run.watches.pop(config.config_id, None)
        if watch is not None:
            outcome = self._adaptive_outcome(config, outcome, watch)
            if watch.stop_ns is not None and table.num_rows:
                kept = table.filter(pc.less_equal(table.column("end_ns"), watch.stop_ns))
                run.rows -= table.num_rows - kept.num_rows
                table = kept
        report = compute_report(config, outcome, table, cost_per_hour=cost_per_hour)
        if run.keep_timers:
            return report, outcome, table
        run.rows -= table.num_rows
        return report, outcome, None

    @staticmethod
    def _adaptive_outcome(config: RunConfig, outcome: ConfigOutcome, watch: StopWatch) -> ConfigOutcome:
        """The outcome of an adaptive config: where it stopped, whether it converged, and a note
        when ``max_duration`` came first."""
        converged = watch.converged if config.stability is not None else None
        if watch.stop_ns is not None:
            return dataclasses.replace(outcome, stop_ns=watch.stop_ns, converged=converged)
        note = outcome.error
        if note is None and outcome.status == "finished":
            wanted = "stability" if config.stability is not None else f"min_infs ({config.min_infs})"
            if any(copy.dataset_exhausted for copy in outcome.copies):
                note = f"the dataset ran out before {wanted} was reached"
            else:
                note = f"max_duration ({config.max_duration_s:g} s) ended the config before {wanted} was reached"
        return dataclasses.replace(outcome, converged=converged, error=note)

    def held_bytes(self) -> int:
        """Bytes of timer data currently held, over all runs (for the memory benchmark)."""
        held = 0
        for run in self._runs.values():
            held += sum(b.nbytes for pieces in run.batches.values() for *_, b in pieces)
        return held

    def rss_bytes(self) -> int:
        """Resident memory of the collector's process (for the memory benchmark)."""
        import psutil

        return int(psutil.Process().memory_info().rss)

    @staticmethod
    def _timer_table(pieces: list[tuple[int, int, str, pa.RecordBatch]]) -> pa.Table:
        """One config's rows as a timer table without ``config_id`` (constant per config, the
        column is added only when the timers leave the collector: 2 bytes a row saved)."""
        if not pieces:
            return TIMER_SCHEMA.empty_table().drop_columns(["config_id"])
        nodes = sorted({node for _, _, node, _ in pieces})
        node_dictionary = pa.array(nodes, pa.string())
        stages = tuple(name for name in STAGE_COLUMNS if any(name in b.schema.names for *_, b in pieces))
        schema = timer_schema(stages).remove(0)  # no config_id
        batches = []
        for copy_id, worker_id, node, batch in pieces:
            n = batch.num_rows
            columns = {
                "copy_id": pa.array(np.full(n, copy_id, np.int16)),
                "worker_id": pa.array(np.full(n, worker_id, np.int16)),
                "node_id": pa.DictionaryArray.from_arrays(
                    pa.array(np.full(n, nodes.index(node), np.int16)), node_dictionary
                ),
            }
            for name in ("start_ns", "end_ns", *stages, "ok"):
                index = batch.schema.get_field_index(name)
                columns[name] = batch.column(index) if index >= 0 else pa.nulls(n, pa.int64())
            batches.append(pa.record_batch(list(columns.values()), schema=schema))
        return pa.Table.from_batches(batches, schema=schema)


def empty_config_table() -> pa.Table:
    """A config's timer table with no rows (what a config whose collector was lost reports on)."""
    return Collector._timer_table([])


def combine_timers(kept: list[tuple[int, pa.Table]]) -> pa.Table:
    """One timer table (:data:`TIMER_SCHEMA`) from ``(config_id, table)`` pairs as ``finish``
    handed them over; the constant ``config_id`` column is added here."""
    if not kept:
        return TIMER_SCHEMA.empty_table()
    tables = [
        table.add_column(0, TIMER_SCHEMA.field("config_id"), pa.array(np.full(table.num_rows, config_id, np.int16)))
        for config_id, table in kept
    ]
    # Configs may differ in their stage columns; missing ones become nulls.
    return pa.concat_tables(tables, promote_options="default")
