"""The wire format between copies and the collector: one Arrow IPC stream message per batch.

A message holds one worker's rows: ``start_ns``/``end_ns`` as the sending process's
``perf_counter_ns`` values, any stage columns and ``ok``, and for a streaming model each call's
chunk stamps (``chunk_ns``, a list per row, also ``perf_counter_ns``) and token counts; its schema metadata carries the ids
(run, config, copy, worker, node), constant for the batch, and ``offset_ns``, the copy's
monotonic-to-wall anchor. :class:`BatchEncoder` writes messages on the copy's side;
:func:`decode_message` reads one on the collector's side, converting the stamps to wall time
while copying them out, so nothing keeps the message's memory alive.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from raybench.core.schema import MEASUREMENT_FIELDS, STREAM_FIELDS
from raybench.engine.hotloop import TimerBuffer

_WIRE_FIELDS = {f.name: f for f in (*MEASUREMENT_FIELDS, *STREAM_FIELDS)}

#: The collector's answers to a batch: go on (falsy), the run's timer budget is used up, or the
#: config has measured enough (``min_infs``/``stability``). Any truthy answer stops the copy.
GO_ON, STOP_BUDGET, STOP_DONE = "", "budget", "done"


class BatchEncoder:
    """Encodes a worker buffer's rows as one Arrow IPC stream message, the wire format to the
    collector, into one output buffer that is reused for every batch.

    The stamps travel as this process's ``perf_counter_ns`` values with the wall anchor in the
    metadata; the collector converts them to wall time while it copies them out of the message
    (one pass, on the collector's side). The id columns are constant per batch and travel once,
    in the metadata too. Reusing the output buffer (and zero-copy column views) keeps a 1M-row
    flush to a few milliseconds; fresh allocations cost ~100 ms of page faults per flush.
    """

    def __init__(self, stage_names: tuple[str, ...], offset_ns: int) -> None:
        self._stage_names = stage_names
        self._offset_ns = str(offset_ns)
        self._out: pa.Buffer | None = None

    def reserve(self, rows: int) -> None:
        """Allocate (and touch) room for ``rows`` rows now, so no flush pays for page faults."""
        needed = rows * (16 + 8 * len(self._stage_names)) + rows // 8 + 64 * 1024  # chunks: grown on demand
        if self._out is None or self._out.size < needed:
            self._out = pa.allocate_buffer(needed)
            np.frombuffer(self._out, np.uint8)[:] = 0

    def encode(self, buf: TimerBuffer, ids: dict[str, str]) -> np.ndarray:
        """Return the message as a uint8 view of the reused buffer.

        The view is valid until the next ``encode``: send it (Ray serialises arguments when the
        call is made) or copy it before encoding again.
        """
        n = buf.n
        columns = {"start_ns": pa.array(buf.starts[:n]), "end_ns": pa.array(buf.ends[:n])}
        if buf.stages is not None:
            for name in self._stage_names:
                columns[name] = pa.array(buf.stages[name][:n])
        columns["ok"] = pa.array(buf.ok[:n])
        if buf.chunk_counts is not None and buf.chunk_ns is not None:
            offsets = np.zeros(n + 1, np.int32)
            np.cumsum(buf.chunk_counts[:n], out=offsets[1:])
            arrow_offsets = pa.array(offsets)
            columns["chunk_ns"] = pa.ListArray.from_arrays(arrow_offsets, pa.array(buf.chunk_ns[: buf.n_chunks]))
            if buf.chunk_tokens is not None:
                columns["chunk_tokens"] = pa.ListArray.from_arrays(arrow_offsets,
                                                                   pa.array(buf.chunk_tokens[: buf.n_chunks]))
        schema = pa.schema([_WIRE_FIELDS[name] for name in columns],
                           metadata={**ids, "offset_ns": self._offset_ns})
        batch = pa.record_batch(list(columns.values()), schema=schema)
        needed = batch.nbytes + 64 * 1024  # + schema, metadata and alignment padding
        if self._out is None or self._out.size < needed:
            self._out = pa.allocate_buffer(max(needed, 2 * (self._out.size if self._out else 0)))
        sink = pa.FixedSizeBufferWriter(self._out)
        with pa.ipc.new_stream(sink, schema) as writer:
            writer.write_batch(batch)
        return np.frombuffer(self._out, np.uint8, count=sink.tell())


def decode_message(payload: Any) -> tuple[dict[str, str], list[pa.RecordBatch]]:
    """Read one message (bytes or a uint8 array): its metadata and its batches, as wall-clock
    timers in memory of their own."""
    reader = pa.ipc.open_stream(pa.py_buffer(payload))
    meta = {k.decode(): v.decode() for k, v in (reader.schema.metadata or {}).items()}
    offset_ns = int(meta["offset_ns"])
    batches = []
    for batch in reader:
        columns = []
        for name in batch.schema.names:
            column = batch.column(name)
            if name in ("start_ns", "end_ns"):
                columns.append(pa.array(np.add(column.to_numpy(), offset_ns)))
            elif name in ("chunk_ns", "chunk_tokens"):
                columns.append(_own_list(column, offset_ns if name == "chunk_ns" else 0))
            else:  # a copy of our own: the message's memory is not ours to keep
                columns.append(pa.array(column.to_numpy(zero_copy_only=False).copy()))
        batches.append(pa.record_batch(columns, schema=batch.schema.remove_metadata()))
    return meta, batches


def _own_list(column: pa.ListArray, add: int) -> pa.ListArray:
    """A list column copied out of the message, ``add`` added to every value (the wall anchor
    of chunk stamps)."""
    offsets = column.offsets.to_numpy()
    values = column.values.to_numpy()[offsets[0]: offsets[-1]]
    return pa.ListArray.from_arrays(pa.array(offsets - offsets[0]), pa.array(np.add(values, add, dtype=values.dtype)))
