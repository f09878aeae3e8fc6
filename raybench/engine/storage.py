"""Where the collector keeps a run's timers, within the run's budget, and how they become tables.

Memory: while a config runs, each batch is kept as it arrived — ``start_ns`` and ``end_ns`` (8
bytes each), ``ok`` (1 bit) and any stage columns: 16.1 bytes per inference for a model without
pre/postprocess stages; the id columns travel once per batch. When the config ends,
``copy_id``, ``worker_id`` and ``node_id`` are expanded (int16: 6 bytes per row) next to the same
start/end buffers (zero-copy), so a row kept for ``return_timers`` costs 22.1 bytes; the
constant ``config_id`` is added only when the run's timers are combined (:func:`combine_timers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from raybench.core.options import DEFAULT_MAX_TIMER_ROWS
from raybench.core.schema import STAGE_COLUMNS, STREAM_COLUMNS, TIMER_SCHEMA, stages_of, streams_of, timer_schema

#: One stored batch: ``(copy_id, worker_id, node_id, rows)``.
Piece = tuple[int, int, str, pa.RecordBatch]


@dataclass
class RunStore:
    """One run's timer batches, by config, and the budget they count against.

    Attributes:
        keep_timers: Hand each config's table over with its report (``return_timers``).
        max_rows: Raw timers the run may hold at once (its memory budget).
        rows: Held now: batches of running configs, plus tables handed to the driver.
    """

    keep_timers: bool
    max_rows: int = DEFAULT_MAX_TIMER_ROWS
    rows: int = 0
    batches: dict[int, list[Piece]] = field(default_factory=dict)

    def add(self, config_id: int, copy_id: int, worker_id: int, node_id: str,
            batches: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
        """Store the batches, cut where the budget ends; return what was stored."""
        stored = []
        for batch in batches:
            room = self.max_rows - self.rows
            if room <= 0:
                break
            if batch.num_rows > room:
                batch = batch.slice(0, room)
            self.rows += batch.num_rows
            self.batches.setdefault(config_id, []).append((copy_id, worker_id, node_id, batch))
            stored.append(batch)
        return stored

    @property
    def full(self) -> bool:
        """The budget is used up."""
        return self.rows >= self.max_rows

    def pieces(self, config_id: int) -> list[Piece]:
        """The batches received so far for a running config."""
        return self.batches.get(config_id, [])

    def take(self, config_id: int) -> pa.Table:
        """The config's rows as one table, no longer stored here (still counted: see ``release``)."""
        return timer_table(self.batches.pop(config_id, []))

    def release(self, rows: int) -> None:
        """Stop counting ``rows`` against the budget (dropped, not kept)."""
        self.rows -= rows

    def nbytes(self) -> int:
        """Bytes of the batches held for running configs."""
        return sum(b.nbytes for pieces in self.batches.values() for *_, b in pieces)


def timer_table(pieces: list[Piece]) -> pa.Table:
    """One config's rows as a timer table without ``config_id`` (constant per config, the
    column is added only when the timers leave the collector: 2 bytes a row saved)."""
    if not pieces:
        return timer_schema(STAGE_COLUMNS).empty_table().drop_columns(["config_id"])
    nodes = sorted({node for _, _, node, _ in pieces})
    node_dictionary = pa.array(nodes, pa.string())
    stages = tuple(name for name in STAGE_COLUMNS if any(name in b.schema.names for *_, b in pieces))
    streams = tuple(name for name in STREAM_COLUMNS if any(name in b.schema.names for *_, b in pieces))
    schema = timer_schema(stages, streams).remove(0)  # no config_id
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
        for name in ("start_ns", "end_ns", *stages, "ok", *streams):
            index = batch.schema.get_field_index(name)
            columns[name] = batch.column(index) if index >= 0 else pa.nulls(n, schema.field(name).type)
        batches.append(pa.record_batch(list(columns.values()), schema=schema))
    return pa.Table.from_batches(batches, schema=schema)


def empty_config_table() -> pa.Table:
    """A config's timer table with no rows (what a config whose collector was lost reports on)."""
    return timer_table([])


def combine_timers(kept: list[tuple[int, pa.Table]]) -> pa.Table:
    """One timer table (:data:`TIMER_SCHEMA`) from ``(config_id, table)`` pairs as the collector
    handed them over; the constant ``config_id`` column is added here."""
    if not kept:
        return timer_schema(STAGE_COLUMNS).empty_table()
    tables = [
        table.add_column(0, TIMER_SCHEMA.field("config_id"), pa.array(np.full(table.num_rows, config_id, np.int16)))
        for config_id, table in kept
    ]
    # Configs may differ in their stage columns; missing ones become nulls. Promotion appends a
    # column the first table lacks at the end, so put them back in the schema's order: a file
    # written in another order would not read back (read_results casts to timer_schema).
    combined = pa.concat_tables(tables, promote_options="default")
    return combined.select(timer_schema(stages_of(combined.schema), streams_of(combined.schema)).names)
