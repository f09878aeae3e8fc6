"""Compare two runs config by config — p50, p90, p95, p99 and throughput, their change and
whether it is significant — for ``raybench compare BASE NEW`` and a CI gate (``--fail-on``).

Configs pair up by (model_name, batch_size, n_models, workers_per_model, pipeline_size); values
are the reports' (``latency_ms_p*`` in ms, ``throughput_avg``); the change is ``new / base - 1``.
Two capacity searches compare on their answers instead: ``capacity`` (``capacity_rate``, or
``capacity_workers`` for a concurrency search), whose change is significant when the searches'
brackets do not overlap (``--fail-on capacity:-5%`` fails a CI run whose capacity fell).

Whether a change is significant comes from a **block bootstrap** over ~1 s stretches of each
run (Künsch 1989), since calls are not independent; :mod:`raybench.report.bootstrap` explains why
and how, and what coverage was measured.

The interval covers the noise within a run. What differs between two runs as a whole (load on
the machine, its clock speed, another host) is a real difference of the runs, and shows as
significant once it exceeds that noise; ``--fail-on`` thresholds are the tolerance for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raybench.core.errors import ConfigError
from raybench.core.schema import STATUS_FINISHED, ConfigOutcome
from raybench.report.bootstrap import (
    MAX_BLOCKS,
    MIN_BLOCKS,
    RESAMPLES,
    Blocks,
    cut_blocks,
    latency_errors,
    throughput_error,
)
from raybench.report.capacity import CAPACITY_METHOD
from raybench.report.pairing import capacity_rows, check_match, nothing_paired_hint, pair_by_key, run_lines, span_text
from raybench.report.results import Results, get_capacity_reports, get_reports
from raybench.report.streams import Requests, ok_requests

__all__ = ["KEY_FIELDS", "METHOD", "METRICS", "SEARCH_METRICS", "STREAM_METRICS", "FailRule", "compare_results",
           "failed_rules", "format_comparison", "parse_fail_on"]

#: What matches a config of one run with a config of the other.
KEY_FIELDS: tuple[str, ...] = ("model_name", "batch_size", "n_models", "workers_per_model", "pipeline_size")
#: Compared metrics: latency percentiles in ms and throughput in inferences/s; for streaming
#: runs also TTFT and ITL percentiles (ms) and output tokens per second.
STREAM_METRICS: tuple[str, ...] = ("ttft_p50", "ttft_p99", "itl_p50", "itl_p99", "tokens_per_s")
#: Two capacity searches compare on their answers only: ``capacity``.
SEARCH_METRICS: tuple[str, ...] = ("capacity",)
METRICS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "throughput", *STREAM_METRICS, *SEARCH_METRICS)
_QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
#: The streaming figures' quantiles, per kind of sample.
_STREAM_QUANTILES = {"ttft": {"ttft_p50": 0.50, "ttft_p99": 0.99}, "itl": {"itl_p50": 0.50, "itl_p99": 0.99}}
_REPORT_FIELD = {**{m: f"latency_ms_{m}" for m in _QUANTILES}, "throughput": "throughput_avg",
                 **{f"{kind}_{q}": f"{kind}_ms_{q}" for kind in ("ttft", "itl") for q in ("p50", "p99")},
                 "tokens_per_s": "output_tokens_per_s", "capacity": "capacity_rate"}
#: The ``method`` of every row.
METHOD = (
    f"block bootstrap (Künsch 1989): {RESAMPLES} resamples of time blocks "
    f"({MIN_BLOCKS}-{MAX_BLOCKS} per run, 1 s where the run allows), percentile interval of the change"
)
_FAIL_ON_FORMAT = "fail_on must be comma-separated metric:percent rules like 'p99:5%,throughput:-5%'"
_RULE = re.compile(r"\s*([^:\s]+)\s*:\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*%\s*")


@dataclass(frozen=True)
class FailRule:
    """One ``--fail-on`` rule.

    Attributes:
        metric: One of :data:`METRICS`.
        threshold_pct: Positive (or +0): fail when the metric rises by more than this many
            percent; negative (or -0): fail when it falls by more.
    """

    metric: str
    threshold_pct: float

    def __str__(self) -> str:
        return f"{self.metric}:{self.threshold_pct:+g}%"


@dataclass(frozen=True)
class _Side:
    """One config of one run."""

    key: tuple[object, ...]
    config_id: int
    outcome: ConfigOutcome
    report: dict[str, Any]
    timers: pa.Table


def compare_results(base: Results, new: Results, *, confidence: float = 0.95, seed: int = 0,
                    match: Sequence[str] | str | None = None) -> list[dict[str, Any]]:
    """Compare two runs config by config (see the module docstring for the statistics).

    Args:
        base: The reference run (``benchmark(..., return_timers=True)`` or ``read_results``).
        new: The run to judge against it.
        confidence: Level of the confidence intervals, in (0, 1).
        seed: Seed of the bootstrap's random generator (the same inputs give the same rows).
        match: The keys configs pair on (a subset of :data:`KEY_FIELDS`, a list or a
            comma-separated string); default all of them. ``["batch_size", "n_models",
            "workers_per_model", "pipeline_size"]`` compares two models config by config.

    Returns:
        One row per config: base's configs in order, then those only in new (configs with the
        same key pair up in order). Each row has the key fields; ``status`` ("compared", "only
        in base", "only in new", or "error" when a side did not finish); ``status_base``,
        ``status_new``, ``error_base``, ``error_new`` (from the outcomes and reports; None for
        a missing side); per metric m of :data:`METRICS`: ``{m}_base``, ``{m}_new``,
        ``{m}_change_pct``, ``{m}_ci_low_pct``, ``{m}_ci_high_pct`` (None when unknown) and
        ``{m}_significant``; ``method`` and ``confidence``.

    Raises:
        ConfigError: ``base``/``new`` is not a Results, or ``confidence`` is not in (0, 1).
    """
    Results.check(base, "base")
    Results.check(new, "new")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        msg = f"confidence must be a number between 0 and 1, exclusive (got {confidence!r})"
        raise ConfigError(msg)
    if any(c.search is not None for c in [*base.configs, *new.configs]):
        return capacity_rows(get_capacity_reports(base), get_capacity_reports(new), KEY_FIELDS, METRICS, confidence)
    keys = KEY_FIELDS if match is None else check_match(match, KEY_FIELDS)
    rng = np.random.default_rng(seed)
    pairs = pair_by_key(_sides(base, keys), _sides(new, keys), key=lambda side: side.key)
    return [_row(b, n, rng, confidence) for b, n in pairs]


def _sides(results: Results, keys: Sequence[str]) -> list[_Side]:
    outcomes = {o.config_id: o for o in results.outcomes}
    return [
        _Side(tuple(getattr(c, f) for f in keys), c.config_id, outcomes[c.config_id], report, results.timers)
        for c, report in zip(results.configs, get_reports(results))
    ]


def _row(base: _Side | None, new: _Side | None, rng: np.random.Generator, confidence: float) -> dict[str, Any]:
    row: dict[str, Any] = {key: (base or new).report[key] for key in KEY_FIELDS}  # type: ignore[union-attr]
    for name, side in (("base", base), ("new", new)):
        row[f"status_{name}"] = side.outcome.status if side else None
        row[f"error_{name}"] = side.report["error"] if side else None
        row[f"cpu_avg_percent_{name}"] = side.report.get("cpu_avg_percent") if side else None
        row[f"model_name_{name}"] = side.report["model_name"] if side else None  # differ under match=
    if base is None or new is None:
        row["status"] = "only in new" if base is None else "only in base"
    else:
        finished = base.outcome.status == new.outcome.status == STATUS_FINISHED
        row["status"] = "compared" if finished else "error"
    for m in METRICS:
        row[f"{m}_base"] = base.report.get(_REPORT_FIELD[m]) if base else None
        row[f"{m}_new"] = new.report.get(_REPORT_FIELD[m]) if new else None
        row.update(dict.fromkeys((f"{m}_change_pct", f"{m}_ci_low_pct", f"{m}_ci_high_pct")))
        row[f"{m}_significant"] = False
    row.update(method=METHOD, confidence=confidence)
    if row["status"] != "compared":
        return row
    base_blocks, new_blocks = _blocks(base), _blocks(new)  # type: ignore[arg-type]
    for name, blocks in (("base", base_blocks), ("new", new_blocks)):
        row[f"block_s_{name}"] = None if blocks is None else blocks.block_ns / 1e9
    errors = {
        **latency_errors(base_blocks, new_blocks, rng, _QUANTILES),
        "throughput": throughput_error(base_blocks, new_blocks, rng),
    }
    if row["ttft_p50_base"] is not None and row["ttft_p50_new"] is not None:  # both runs streamed
        # Each side's ok calls once, for the three kinds of streaming sample.
        sides = [(side, ok_requests(_config_rows(side.timers, side.config_id)))  # type: ignore[union-attr]
                 for side in (base, new)]

        def blocks(kind: str) -> list[Blocks | None]:
            return [_stream_blocks(side, calls, kind) for side, calls in sides]  # type: ignore[arg-type]

        for kind, quantiles in _STREAM_QUANTILES.items():
            errors.update(latency_errors(*blocks(kind), rng, quantiles))
        errors["tokens_per_s"] = throughput_error(*blocks("tokens"), rng)
    alpha = 1 - confidence
    for m in METRICS:
        b, n = row[f"{m}_base"], row[f"{m}_new"]
        if b is None or n is None or b <= 0 or n <= 0:
            continue
        row[f"{m}_change_pct"] = 100 * (n / b - 1)
        if errors.get(m) is not None:
            low, high = np.quantile(errors[m], [alpha / 2, 1 - alpha / 2]) + math.log(n / b)
            row[f"{m}_ci_low_pct"], row[f"{m}_ci_high_pct"] = 100 * math.expm1(low), 100 * math.expm1(high)
            row[f"{m}_significant"] = bool(low > 0 or high < 0)
    return row


def _config_rows(rows: pa.Table, config_id: int) -> pa.Table:
    """The rows of one config (the table as it is when it holds only that config)."""
    bounds = pc.min_max(rows.column("config_id")).as_py() if rows.num_rows else {}
    if bounds.get("min") == bounds.get("max") == config_id:  # no copy needed
        return rows
    return rows.filter(pc.equal(rows.column("config_id"), config_id))


def _stream_blocks(side: _Side, requests: Requests, kind: str) -> Blocks | None:
    """This side's streaming samples (its ok calls, ``requests``) in time blocks, through the
    latency machinery: TTFT as (start, first chunk) pairs, ITL as (chunk, next chunk) pairs,
    tokens as one zero-length "call" per token at its chunk's arrival (a block counts tokens)."""
    if requests.tokens is None or requests.first is None:
        return None
    if kind == "ttft":
        has = requests.tokens > 0
        start, end = requests.start[has], requests.first[has]
    elif kind == "itl":
        assert requests.gaps is not None and requests.gap_end is not None
        start, end = requests.gap_end - np.maximum(requests.gaps, 1), requests.gap_end  # log needs > 0
    else:
        stamps = np.concatenate(requests.chunk_ns) if requests.chunk_ns else np.zeros(0, np.int64)
        weights = np.concatenate(requests.chunk_tokens) if requests.chunk_tokens else np.zeros(0, np.int64)
        end = np.repeat(stamps, weights)
        start = end
    table = pa.table({"start_ns": start, "end_ns": end, "ok": np.ones(end.size, bool)})
    report = side.report
    total = int(end.size)
    return cut_blocks(table, side.outcome.start_ns, side.outcome.stop_ns, total_infs=total,
                      throughput_avg=report["output_tokens_per_s"] if kind == "tokens" else None, batch_size=1)


def _blocks(side: _Side) -> Blocks | None:
    """This side's config's ok calls in time blocks from the common start; None without ok calls."""
    rows = _config_rows(side.timers.select(["config_id", "start_ns", "end_ns", "ok"]), side.config_id)
    report = side.report
    return cut_blocks(
        rows,
        side.outcome.start_ns,
        side.outcome.stop_ns,
        total_infs=report["total_infs"],
        throughput_avg=report["throughput_avg"],
        batch_size=report["batch_size"],
    )


def parse_fail_on(spec: str) -> list[FailRule]:
    """Parse ``--fail-on`` rules: comma-separated ``metric:±N%``, metric one of :data:`METRICS`.

    Args:
        spec: Like ``"p99:5%,throughput:-5%"``: fail when p99 rises by more than 5 % or
            throughput falls by more than 5 % (see :func:`failed_rules`).

    Returns:
        The rules, in the order given.

    Raises:
        ConfigError: ``spec`` is not such a list; the message quotes the bad rule.
    """
    if not isinstance(spec, str):
        msg = f"{_FAIL_ON_FORMAT} (got {spec!r})"
        raise ConfigError(msg)
    rules = []
    for item in spec.split(","):
        where = f"{item!r}" if item.strip() == spec.strip() else f"{item!r} in {spec!r}"
        match = _RULE.fullmatch(item)
        if match is None:
            msg = f"{_FAIL_ON_FORMAT} (got {where})"
            raise ConfigError(msg)
        if match.group(1) not in METRICS:
            msg = f"fail_on metrics must be one of {', '.join(METRICS)} (got {match.group(1)!r} in {item.strip()!r})"
            raise ConfigError(msg)
        rules.append(FailRule(match.group(1), float(match.group(2))))
    return rules


def failed_rules(rows: Sequence[dict[str, Any]], rules: Sequence[FailRule]) -> list[str]:
    """The rules the new run violates, for a CI exit code.

    A rule is violated by a compared config when the change lies beyond the threshold in the
    rule's direction **and** is significant: a CI gate must not fail on noise. A config that
    finished in base but is missing in new or did not finish there violates every rule — a
    regression that crashed must not pass. A config that did not finish in base is no baseline
    and violates nothing; nor does one only in new.

    Args:
        rows: From :func:`compare_results`.
        rules: From :func:`parse_fail_on`.

    Returns:
        One message per violated rule per config (empty when everything passes).
    """
    messages = []
    for row in rows:
        label = f"{row['model_name']} ({', '.join(f'{k}={row[k]}' for k in KEY_FIELDS[1:])})"
        for rule in rules:
            reason = _violation(row, rule)
            if reason is not None:
                messages.append(f"{label}: {reason} (rule {rule})")
    return messages


def _violation(row: dict[str, Any], rule: FailRule) -> str | None:
    if row["status_base"] != STATUS_FINISHED:
        return None
    if row["status_new"] is None:
        return "missing in new"
    if row["status_new"] != STATUS_FINISHED:
        return f"did not finish in new ({row['status_new']}: {row['error_new']})"
    change = row[f"{rule.metric}_change_pct"]
    if change is None or not row[f"{rule.metric}_significant"]:
        return None
    rising = math.copysign(1.0, rule.threshold_pct) > 0
    if (change > rule.threshold_pct) if rising else (change < rule.threshold_pct):
        low, high = row[f"{rule.metric}_ci_low_pct"], row[f"{rule.metric}_ci_high_pct"]
        interval = f"{'?' if low is None else f'{low:+.1f}'}% .. {'?' if high is None else f'{high:+.1f}'}%"
        return (
            f"{rule.metric} {'rose' if change > 0 else 'fell'} {change:+.1f}% "
            f"({row['confidence']:.0%} CI {interval}), beyond {rule.threshold_pct:+g}%"
        )
    return None


def format_comparison(rows: Sequence[dict[str, Any]], base: Results | None = None, new: Results | None = None) -> str:
    """An aligned text table of the comparison, one line per config, and the method.

    Args:
        rows: From :func:`compare_results`.
        base, new: The two runs, for a line of metadata each (start, host, instance, commit,
            raybench version, host CPU load) and a warning when a host was saturated.

    Returns:
        The runs' lines and warnings (with ``base``/``new``); the table: key, status, and for
        p50/p99 (ms) and throughput (inferences/s) — and for streaming runs TTFT p99, ITL p99
        (ms) and tokens/s — base -> new and the change, marked ``*`` when significant; a hint
        when no config paired; then a line stating the method and the time blocks it used.
    """
    head = run_lines(rows, base.metadata if base is not None else None, new.metadata if new is not None else None)
    shown = {"p50": "p50 ms", "p99": "p99 ms", "throughput": "throughput/s"}
    if any(row.get("method") == CAPACITY_METHOD for row in rows):
        shown = {"capacity": "capacity (req/s or workers)"}
    elif any(row.get("ttft_p99_base") is not None or row.get("ttft_p99_new") is not None for row in rows):
        shown.update(ttft_p99="TTFT p99 ms", itl_p99="ITL p99 ms", tokens_per_s="tokens/s")
    header = ["model", "batch", "models", "workers", "pipeline", "status"]
    header += [h for title in shown.values() for h in (title, "", "change")]
    table = [header]
    for row in rows:
        cells = [str(row[k]) for k in KEY_FIELDS] + [row["status"]]
        if row.get("model_name_base") and row.get("model_name_new") and row["model_name_base"] != row["model_name_new"]:
            cells[0] = f"{row['model_name_base']} vs {row['model_name_new']}"  # paired across models by --match
        for m in shown:
            change = row[f"{m}_change_pct"]
            mark = "*" if row[f"{m}_significant"] else " "
            cells += [_number(row[f"{m}_base"]), _number(row[f"{m}_new"])]
            cells.append("-  " if change is None else f"{change:+.1f}% {mark}")
        table.append(cells)
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = []
    for n, line in enumerate(table):
        parts = [cell.ljust(w) if i in (0, 5) else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))]
        arrow = "    " if n == 0 else " -> "
        text = "  ".join(parts[:6])
        for i in range(6, len(parts), 3):
            text += f"  {parts[i]}{arrow}{parts[i + 1]}  {parts[i + 2]}"
        lines.append(text.rstrip())
    confidence = rows[0]["confidence"] if rows else 0.95
    only = {side: [r for r in rows if r["status"] == f"only in {side}"] for side in ("base", "new")}
    hint = nothing_paired_hint(only["base"], only["new"], KEY_FIELDS) if len(rows) == len(only["base"]) + len(
        only["new"]) else None
    if hint is not None:
        lines.append(hint)
    if "capacity" in shown:
        lines.append(f"* significant: {CAPACITY_METHOD}")
    else:
        lengths = sorted({r[f"block_s_{side}"] for r in rows for side in ("base", "new") if r.get(f"block_s_{side}")})
        used = "" if not lengths else f"; time blocks of {span_text(lengths)} s were used"
        lines.append(f"* significant: the {confidence:.0%} confidence interval of the change excludes 0; {METHOD}{used}")
    return "\n".join([*head, *lines])


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
