"""Telemetry beside the latencies: host, per-copy process, NeuronCore and GPU series sampled every
``stats_interval`` during the measurement, off the hot path, into one long table per run
(:data:`TELEMETRY_SCHEMA`): one row per (time, node, copy, source, metric) sample.
"""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa

__all__ = ["TELEMETRY_SCHEMA", "Sample"]


class Sample(NamedTuple):
    """One telemetry reading, before the run adds its config and node.

    ``copy_id`` is None for a node-wide series (host CPU, a NeuronCore no copy owns).
    """

    time_ns: int
    copy_id: int | None
    source: str
    metric: str
    value: float


#: The telemetry table: long format, so a new metric is new rows, not a new schema. Strings are
#: dictionary-encoded: a run has a handful of nodes, sources and metrics.
TELEMETRY_SCHEMA: pa.Schema = pa.schema([
    pa.field("time_ns", pa.int64(), nullable=False),  # wall clock (time.time_ns) of the node that sampled
    pa.field("config_id", pa.int16(), nullable=False),
    pa.field("node_id", pa.dictionary(pa.int16(), pa.string()), nullable=False),
    pa.field("copy_id", pa.int16()),  # null: a node-wide series
    pa.field("source", pa.dictionary(pa.int8(), pa.string()), nullable=False),  # host, process, neuron, gpu
    pa.field("metric", pa.dictionary(pa.int16(), pa.string()), nullable=False),
    pa.field("value", pa.float64(), nullable=False),
])
