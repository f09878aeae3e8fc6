"""The figures of streaming calls (time to first token, inter-token latency, time per output
token, tokens per second) and of SLOs (goodput, attainment), from the raw timer rows.

Every figure is pooled over every ok call of every worker of every copy: the percentiles are
exact percentiles of all the samples, never averages of per-copy or per-request figures. The
definitions (the README states them too), for an ok call with start ``s`` (the scheduled send
time in open loop), end ``e`` and chunk arrivals ``c_1 < ... < c_k`` carrying ``n`` tokens:

- TTFT = ``c_1 - s``; one sample per call with at least one chunk.
- ITL = ``c_j - c_{j-1}`` for ``j = 2..k``; one sample per gap, so a call of k chunks gives k - 1
  samples and the first token never enters ITL.
- TPOT = ``(c_k - c_1) / (n / b - 1)``, ``b`` the batch size (so ``n / b`` tokens per sequence of
  a batched call; ``n`` for a batch of one); one sample per call with ``n / b >= 2``.
- latency = ``e - s``, as for every model.
- output tokens per second: tokens counted in the one-second bucket of their chunk's arrival,
  the mean over the buckets without the first and the last, exactly as ``throughput_avg``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raybench.core.schema import ConfigOutcome
from raybench.core.slo import STREAM_PERCENTILES, THRESHOLDS, constraints_of, thresholds_of
from raybench.core.units import NS_PER_MS, NS_PER_S
from raybench.report.stats import bucket_throughput, count_per_second, linear_percentiles

#: Report keys of the streaming figures, in order.
STREAM_FIELDS: tuple[str, ...] = (
    *(f"{name}_p{q}" for name, qs in STREAM_PERCENTILES.items() for q in qs),
    "output_tokens_avg", "output_tokens_per_s", "input_tokens_avg", "cost_per_1m_tokens",
)  # fmt: skip
#: Report keys of the SLO figures, in order.
#: ``slo_decided`` (a capacity search's probes only): the bootstrap agrees with ``slo_ok``.
SLO_FIELDS: tuple[str, ...] = ("goodput", "slo_met_pct", *THRESHOLDS.values(), "slo_ok", "slo_decided")


@dataclass(frozen=True)
class Requests:
    """The ok calls of one config, one entry per call, pooled over every batch.

    Attributes:
        start, end: Wall-clock ns.
        tokens: Output tokens of each call (None when the model did not stream).
        first, last: Arrival of each call's first and last chunk (0 where it had none).
        gaps: Every gap between consecutive chunks of one call, in ns.
        gap_end: The arrival of each gap's later chunk.
        chunk_ns, chunk_tokens: Each chunk's arrival and tokens, per batch (for tokens/s).
    """

    start: np.ndarray
    end: np.ndarray
    tokens: np.ndarray | None = None
    first: np.ndarray | None = None
    last: np.ndarray | None = None
    gaps: np.ndarray | None = None
    gap_end: np.ndarray | None = None
    chunk_ns: tuple[np.ndarray, ...] = ()
    chunk_tokens: tuple[np.ndarray, ...] = ()

    @property
    def ttft_ns(self) -> np.ndarray:
        """TTFT of the calls that had a chunk."""
        assert self.first is not None and self.tokens is not None
        has = self.tokens > 0
        return self.first[has] - self.start[has]

    def tpot_ns(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """TPOT of the calls with at least two tokens per sequence, one entry per such call
        (0 for the others, with ``several`` False): ``(tpot, several)``."""
        assert self.first is not None and self.last is not None and self.tokens is not None
        per_sequence = self.tokens / batch_size
        several = per_sequence >= 2
        tpot = np.zeros(self.tokens.size, np.float64)
        tpot[several] = (self.last[several] - self.first[several]) / (per_sequence[several] - 1)
        return tpot, several


def ok_requests(timers: pa.Table) -> Requests:
    """The ok rows of a config's timer table as per-call arrays."""
    streamed = "chunk_ns" in timers.column_names
    columns = ["start_ns", "end_ns", "ok", *(["chunk_ns"] if streamed else []),
               *(["chunk_tokens"] if "chunk_tokens" in timers.column_names else [])]
    parts: dict[str, list[np.ndarray]] = {"start": [], "end": [], "tokens": [], "first": [], "last": [], "gaps": [],
                                          "gap_end": [], "chunk_ns": [], "chunk_tokens": []}
    for batch in timers.select(columns).to_batches():
        if batch.num_rows == 0:
            continue
        if batch.column(2).null_count or not pc.all(batch.column(2)).as_py():
            batch = batch.filter(batch.column(2))
        parts["start"].append(batch.column(0).to_numpy())
        parts["end"].append(batch.column(1).to_numpy())
        if streamed:
            _add_stream_parts(batch, parts)
    start = _join(parts["start"])
    end = _join(parts["end"])
    if not streamed:
        return Requests(start, end)
    return Requests(start, end, _join(parts["tokens"]), _join(parts["first"]), _join(parts["last"]),
                    _join(parts["gaps"]), _join(parts["gap_end"]), tuple(parts["chunk_ns"]), tuple(parts["chunk_tokens"]))


def _add_stream_parts(batch: pa.RecordBatch, parts: dict[str, list[np.ndarray]]) -> None:
    """One batch's chunks: per-call token counts, first and last arrival, and the in-call gaps."""
    lists = batch.column(3)
    if lists.null_count:  # a row with no list (a batch from a model that did not stream)
        lists = pc.fill_null(lists, pa.scalar([], lists.type))
    offsets = lists.offsets.to_numpy()
    values = lists.values.to_numpy()[offsets[0]: offsets[-1]]
    offsets = offsets - offsets[0]
    counts = np.diff(offsets)
    token_values = None
    if batch.num_columns > 4 and batch.column(4).null_count < batch.num_rows:
        token_lists = pc.fill_null(batch.column(4), pa.scalar([], batch.column(4).type))
        token_offsets = token_lists.offsets.to_numpy()
        token_values = token_lists.values.to_numpy()[token_offsets[0]: token_offsets[-1]].astype(np.int64)
        if token_values.size != values.size:  # rows without counts: one token per chunk
            token_values = None
    if token_values is None:
        tokens = counts.astype(np.int64)
    else:
        cumulative = np.concatenate(([0], np.cumsum(token_values)))
        tokens = cumulative[offsets[1:]] - cumulative[offsets[:-1]]
    has = counts > 0
    first = np.zeros(counts.size, np.int64)
    last = np.zeros(counts.size, np.int64)
    first[has] = values[offsets[:-1][has]]
    last[has] = values[offsets[1:][has] - 1]
    gaps = np.diff(values)
    gap_end = values[1:]
    if gaps.size:
        crossing = offsets[1:-1] - 1  # the gap from a call's last chunk to the next call's first
        keep = np.ones(gaps.size, bool)
        keep[crossing[(crossing >= 0) & (crossing < gaps.size)]] = False
        gaps, gap_end = gaps[keep], gap_end[keep]
    parts["tokens"].append(tokens)
    parts["first"].append(first)
    parts["last"].append(last)
    parts["gaps"].append(gaps)
    parts["gap_end"].append(gap_end)
    parts["chunk_ns"].append(values)
    parts["chunk_tokens"].append(token_values if token_values is not None else np.ones(values.size, np.int64))


def _join(arrays: list[np.ndarray]) -> np.ndarray:
    if not arrays:
        return np.zeros(0, np.int64)
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _percentiles_ms(name: str, samples_ns: np.ndarray) -> dict[str, float | None]:
    qs = STREAM_PERCENTILES[name]
    if samples_ns.size == 0:
        return {f"{name}_p{q}": None for q in qs}
    values = linear_percentiles(samples_ns.astype(np.float64), qs)
    return {f"{name}_p{q}": v / NS_PER_MS for q, v in zip(qs, values)}


def stream_fields(requests: Requests, outcome: ConfigOutcome, total_s: float | None,
                  cost_per_hour: float | None, batch_size: int = 1) -> dict[str, object]:
    """TTFT, ITL and TPOT percentiles, output tokens per call and per second, input tokens and
    cost per million output tokens; None for a model that did not stream."""
    fields: dict[str, object] = dict.fromkeys(STREAM_FIELDS)
    inputs = [c.input_tokens for c in outcome.copies if c.input_tokens is not None]
    fields["input_tokens_avg"] = sum(inputs) / len(inputs) if inputs else None
    if requests.tokens is None or requests.start.size == 0:
        return fields
    fields.update(_percentiles_ms("ttft_ms", requests.ttft_ns))
    assert requests.gaps is not None
    fields.update(_percentiles_ms("itl_ms", requests.gaps))
    tpot, several = requests.tpot_ns(batch_size)
    fields.update(_percentiles_ms("tpot_ms", tpot[several]))
    total_tokens = int(requests.tokens.sum())
    fields["output_tokens_avg"] = total_tokens / requests.start.size
    origin = outcome.start_ns if outcome.start_ns is not None else int(requests.start.min())
    end = outcome.stop_ns if outcome.stop_ns is not None else int(requests.end.max())
    counts = count_per_second(list(requests.chunk_ns), origin, weights=list(requests.chunk_tokens))
    per_s = bucket_throughput(counts, origin, end, total_tokens, total_s or 0.0, 1)["throughput_avg"]
    fields["output_tokens_per_s"] = per_s
    if cost_per_hour is not None and per_s:
        fields["cost_per_1m_tokens"] = cost_per_hour * 1e6 / (3600 * per_s)
    return fields


def slo_fields(requests: Requests, outcome: ConfigOutcome, report: dict[str, object], batch_size: int,
               slo: dict[str, float] | None) -> dict[str, object]:
    """Goodput and attainment of the per-request thresholds, and whether every percentile
    constraint held (``slo_ok``); None without an SLO.

    A request meets the SLO when it is ok and every threshold holds for it. A TTFT threshold
    needs a first chunk (a call without one misses it); a TPOT threshold holds for a call of
    fewer than two tokens (it has no time per output token). A threshold on a figure the run
    does not have (TTFT of a model that did not stream) gives a None attainment and is left out.
    ``goodput`` is ``throughput_avg`` counted over the requests that met the SLO (samples/s,
    with the same one-second buckets), so a loose SLO gives goodput = throughput.
    """
    fields: dict[str, object] = dict.fromkeys(SLO_FIELDS)
    constraints = constraints_of(slo)
    if constraints:
        fields["slo_ok"] = all(isinstance(report.get(k), (int, float)) and float(report[k]) <= v  # type: ignore[arg-type]
                               for k, v in constraints.items())
    thresholds = thresholds_of(slo)
    n = requests.start.size
    if not thresholds or n == 0:
        return fields
    met = np.ones(n, bool)
    for name, limit_ms in thresholds.items():
        ok = _meets(requests, name, limit_ms * NS_PER_MS, batch_size)
        if ok is None:
            continue
        fields[THRESHOLDS[name]] = 100.0 * float(ok.mean())
        met &= ok
    fields["slo_met_pct"] = 100.0 * float(met.mean())
    origin = outcome.start_ns if outcome.start_ns is not None else int(requests.start.min())
    end = outcome.stop_ns if outcome.stop_ns is not None else int(requests.end.max())
    total_s = (int(requests.end.max()) - int(requests.start.min())) / NS_PER_S
    counts = count_per_second([requests.end[met]], origin)
    fields["goodput"] = bucket_throughput(counts, origin, end, int(met.sum()), total_s, batch_size)["throughput_avg"]
    return fields


def _meets(requests: Requests, name: str, limit_ns: float, batch_size: int) -> np.ndarray | None:
    """Per request: whether it met one threshold (None when the run lacks that figure)."""
    if name == "latency_ms":
        return (requests.end - requests.start) <= limit_ns
    if requests.tokens is None or requests.first is None or requests.last is None:
        return None
    if name == "ttft_ms":
        return (requests.tokens > 0) & ((requests.first - requests.start) <= limit_ns)
    tpot, _ = requests.tpot_ns(batch_size)
    return tpot <= limit_ns  # a call of fewer than two tokens a sequence has none: it meets
