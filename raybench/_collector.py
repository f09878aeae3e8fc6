"""The collector: receives Arrow timer batches from the copies while they run, makes reports.

Like ``ModelCopy`` it is a plain class, spawned as one Ray actor per ``benchmark`` call (or used
in-process with ``multiprocess=False``). Reports are computed here, where the timers already are;
raw timers travel to the driver only when ``return_timers=True`` asks for them.

Memory: while a config runs, the collector keeps each batch as it arrived — ``start_ns`` and
``end_ns`` (8 bytes each), ``ok`` (1 bit) and any stage columns: 16.1 bytes per inference for a
model without pre/postprocess stages; the id columns travel once per batch. When the config ends
the id columns are expanded (int16: 8 bytes per row) next to the same start/end buffers
(zero-copy), so a kept row costs 24.1 bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from raybench._config import RunConfig
from raybench._reports import compute_report
from raybench._schema import STAGE_COLUMNS, TIMER_SCHEMA, ConfigOutcome, timer_schema

_ID_KEYS = ("config_id", "copy_id", "worker_id")


class Collector:
    """Gathers the timer batches of one benchmark run and turns them into reports.

    Args:
        keep_timers: Keep each config's raw timers after its report is made (for
            ``return_timers=True``); otherwise they are dropped to free memory.
    """

    def __init__(self, keep_timers: bool = False) -> None:
        self._keep_timers = keep_timers
        self._batches: dict[int, list[tuple[int, int, str, pa.RecordBatch]]] = {}
        self._kept: list[pa.Table] = []

    def ping(self) -> None:
        """Answer a copy that checks the collector is reachable (warms the call path)."""

    def add(self, payload: bytes) -> None:
        """Store one Arrow IPC stream message from a copy (zero-copy over ``payload``)."""
        reader = pa.ipc.open_stream(pa.py_buffer(payload))
        meta = {k.decode(): v.decode() for k, v in (reader.schema.metadata or {}).items()}
        config_id, copy_id, worker_id = (int(meta[k]) for k in _ID_KEYS)
        for batch in reader:
            self._batches.setdefault(config_id, []).append((copy_id, worker_id, meta["node_id"], batch))

    def finish(self, config: RunConfig, outcome: ConfigOutcome, cost_per_hour: float | None = None) -> dict[str, Any]:
        """Build the config's report from every batch received for it.

        Call after every copy's ``run`` returned: a copy only returns once the collector
        acknowledged all its batches.
        """
        table = self._timer_table(config.config_id)
        report = compute_report(config, outcome, table, cost_per_hour=cost_per_hour)
        if self._keep_timers:
            self._kept.append(table)
        return report

    def timers(self) -> pa.Table:
        """All kept raw timers (configs finished so far), with ``TIMER_SCHEMA``."""
        if not self._kept:
            return TIMER_SCHEMA.empty_table()
        # Configs may differ in their stage columns; missing ones become nulls.
        return pa.concat_tables(self._kept, promote_options="default")

    def held_bytes(self) -> int:
        """Bytes of timer data currently held (for the memory budget benchmark)."""
        held = sum(b.nbytes for pieces in self._batches.values() for *_, b in pieces)
        return held + sum(t.nbytes for t in self._kept)

    def _timer_table(self, config_id: int) -> pa.Table:
        pieces = self._batches.pop(config_id, [])
        if not pieces:
            return TIMER_SCHEMA.empty_table()
        nodes = sorted({node for _, _, node, _ in pieces})
        node_dictionary = pa.array(nodes, pa.string())
        stages = tuple(name for name in STAGE_COLUMNS if any(name in b.schema.names for *_, b in pieces))
        schema = timer_schema(stages)
        batches = []
        for copy_id, worker_id, node, batch in pieces:
            n = batch.num_rows
            columns = {
                "config_id": pa.array(np.full(n, config_id, np.int16)),
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
