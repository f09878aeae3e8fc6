"""Live figures of a running config, for the progress line: computed from the batches the
collector has received so far, incrementally (only new batches are counted)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raybench.report.stats import linear_percentiles

#: Rows a live update looks at for its p50 (the newest batches).
LIVE_SAMPLE_ROWS = 200_000


class LiveFigures:
    """What one run's running configs have shown so far: per config, the batches already
    counted, their ok rows and the latest end."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[int, int, int]] = {}

    def figures(self, config_id: int, pieces: list[tuple[Any, ...]], batch_size: int, start_ns: int) -> dict[str, Any]:
        """``infs`` (ok inferences so far), ``throughput`` (their average per second since
        ``start_ns``, times the batch size) and ``p50_ms`` (over the newest batches), or None
        where nothing arrived yet."""
        seen, ok_rows, latest = self._seen.get(config_id, (0, 0, start_ns))
        fresh: list[pa.RecordBatch] = [piece[-1] for piece in pieces[seen:]]
        for batch in fresh:
            ok_rows += int(pc.sum(batch.column("ok")).as_py() or 0)
            if batch.num_rows:
                latest = max(latest, int(batch.column("end_ns")[-1].as_py()))
        self._seen[config_id] = (len(pieces), ok_rows, latest)
        elapsed_s = (latest - start_ns) / 1e9
        sample, rows = [], 0
        for batch in reversed(fresh or [piece[-1] for piece in pieces[-4:]]):
            if rows >= LIVE_SAMPLE_ROWS:
                break
            ok = batch.column("ok").to_numpy(zero_copy_only=False)
            latency = (batch.column("end_ns").to_numpy() - batch.column("start_ns").to_numpy())[ok]
            sample.append(latency)
            rows += latency.size
        p50_ms = linear_percentiles(np.concatenate(sample), [50])[0] / 1e6 if rows else None
        return {"infs": ok_rows, "throughput": ok_rows * batch_size / elapsed_s if elapsed_s > 0 else None,
                "p50_ms": p50_ms}

    def forget(self, config_id: int) -> None:
        """The config ended."""
        self._seen.pop(config_id, None)
