"""What a comparison says around its rows: which keys pair the configs (``match``), a hint when
nothing paired, each run's metadata, and a warning when a run's host was saturated.

Pure functions of report dicts and run metadata, for :mod:`raybench.compare`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from raybench.core.errors import ConfigError
from raybench.core.schema import STATUS_FINISHED
from raybench.report.capacity import CAPACITY_METHOD, capacity_change, capacity_key

T = TypeVar("T")

#: A run whose host CPU averaged more than this during a config was saturated there: another
#: process (or the run itself) competed for the CPU, and its numbers moved with it.
SATURATED_CPU_PERCENT = 90.0


def pair_by_key(base: Sequence[T], new: Sequence[T], key: Callable[[T], Hashable]) -> list[tuple[T | None, T | None]]:
    """Pair two runs' items on ``key``: the same key pairs, several of one key in order. Base's
    items first, in order (None beside those new lacks), then new's unpaired ones (None beside).
    ``compare`` pairs its configs this way, and so does the comparison plot."""
    waiting: dict[Hashable, list[T]] = {}
    for item in new:
        waiting.setdefault(key(item), []).append(item)
    pairs: list[tuple[T | None, T | None]] = [(item, (waiting.get(key(item)) or [None]).pop(0)) for item in base]
    return pairs + [(None, item) for items in waiting.values() for item in items]


def check_match(match: object, known: Sequence[str]) -> tuple[str, ...]:
    """The keys to pair configs on: a comma-separated string or a sequence of report keys.

    Raises:
        ConfigError: empty, or a key outside ``known`` (the message lists them).
    """
    keys = [k.strip() for k in match.split(",")] if isinstance(match, str) else list(match or [])  # type: ignore[call-overload]
    if not keys or not all(isinstance(k, str) and k in known for k in keys):
        raise ConfigError(f"match must name keys among {', '.join(known)} (got {match!r})")
    return tuple(dict.fromkeys(keys))


def nothing_paired_hint(base: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]],
                        keys: Sequence[str]) -> str | None:
    """When no config of one run paired with one of the other: which keys the runs share no
    value of, and the ``--match`` that leaves them out. None when nothing can be said."""
    if not base or not new:
        return None
    apart = [k for k in keys if not {r.get(k) for r in base} & {r.get(k) for r in new}]
    if not apart:
        return None
    said = "; ".join(f"{k}: base {_values(base, k)}, new {_values(new, k)}" for k in apart)
    rest = [k for k in keys if k not in apart]
    advice = f" pair on the rest with --match {','.join(rest)} (match= in the API)" if rest else ""
    return f"no config paired: the runs share no {', '.join(apart)} ({said});{advice}"


def _values(reports: Sequence[Mapping[str, Any]], key: str) -> str:
    return "/".join(str(v) for v in dict.fromkeys(r.get(key) for r in reports))


def run_line(label: str, metadata: Mapping[str, Any], reports: Sequence[Mapping[str, Any]]) -> str:
    """One run's metadata in a line: when, where, which commit and raybench, its CPU load."""
    git = metadata.get("git") or {}
    commit = git.get("commit")
    commit_text = "no commit" if not commit else commit[:10] + ("+dirty" if git.get("dirty") else "")
    loads = [r["cpu_avg_percent"] for r in reports if isinstance(r.get("cpu_avg_percent"), (int, float))]
    cpu = f"host CPU {sum(loads) / len(loads):.0f} % avg" if loads else "host CPU unknown"
    version = (metadata.get("versions") or {}).get("raybench", "?")
    return (f"{label}: {metadata.get('started_at', '?')} on {metadata.get('host', '?')} "
            f"({metadata.get('instance_type') or 'unknown instance'}), {commit_text}, raybench {version}, {cpu}")


def saturation_warning(label: str, reports: Sequence[Mapping[str, Any]]) -> str | None:
    """Say so when a run's host CPU averaged above ``SATURATED_CPU_PERCENT`` during configs that
    do not need it: a config whose telemetry says the copies' own work explains the load
    (``host_saturated`` False: say ``n_models="max"`` on CPU) is not warned about; without
    telemetry (``host_saturated`` missing or None) the host's average alone decides."""
    hot = [r for r in reports if isinstance(r.get("cpu_avg_percent"), (int, float))
           and r["cpu_avg_percent"] > SATURATED_CPU_PERCENT and r.get("host_saturated") is not False]
    if not hot:
        return None
    which = ", ".join(f"#{r['config_id']} ({r['cpu_avg_percent']:.0f} %)" for r in hot)
    return (f"warning: {label}'s host CPU averaged above {SATURATED_CPU_PERCENT:g} % during config {which}: "
            "the host was saturated (another process, or the run's own copies, competed for the CPU), so a change "
            "there may be the host's, not the model's")


def span_text(values: list[float]) -> str:
    """``1`` or ``0.1-1``: the values' range, in 3 digits."""
    return f"{values[0]:.3g}" if len(values) == 1 or values[0] == values[-1] else f"{values[0]:.3g}-{values[-1]:.3g}"


def run_lines(rows: Sequence[Mapping[str, Any]], base: Mapping[str, Any] | None,
              new: Mapping[str, Any] | None) -> list[str]:
    """A line of metadata per run given (its metadata dict), and a warning for each run whose
    host was saturated during a compared config (the rows' ``cpu_avg_percent_base/_new``)."""
    lines = []
    for name, metadata in (("base", base), ("new", new)):
        if metadata is None:
            continue
        loads = [{"config_id": i, "cpu_avg_percent": r.get(f"cpu_avg_percent_{name}")} for i, r in enumerate(rows)]
        lines.append(run_line(name, metadata, loads))
        warning = saturation_warning(name, loads)
        if warning is not None:
            lines.append(warning)
    return lines


def capacity_rows(base: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]], key_fields: Sequence[str],
                  metrics: Sequence[str], confidence: float) -> list[dict[str, Any]]:
    """The comparison rows of two capacity searches, from their answers (capacity reports): the
    ``capacity`` metric, significant when the two searches' brackets do not overlap
    (:func:`~raybench.report.capacity.capacity_change`); their probes do not pair. The rows
    have the shape of :func:`raybench.compare.compare_results`' (``metrics``, all None but
    capacity)."""
    waiting: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    for answer in new:
        waiting.setdefault(capacity_key(answer), []).append(answer)
    pairs = [(answer, (waiting.get(capacity_key(answer)) or [None]).pop(0)) for answer in base]
    pairs += [(None, answer) for answers in waiting.values() for answer in answers]
    rows = []
    for b, n in pairs:
        row: dict[str, Any] = {key: (b or n).get(key) for key in key_fields}  # type: ignore[union-attr]
        for name, side in (("base", b), ("new", n)):
            found = side is not None and (side.get("capacity_rate") is not None)
            row[f"status_{name}"] = None if side is None else (side["status"] if found else "no capacity")
            row[f"error_{name}"] = side.get("error") if side else None
        both = row["status_base"] == row["status_new"] == STATUS_FINISHED
        row["status"] = "only in new" if b is None else "only in base" if n is None else "compared" if both else "error"
        for m in metrics:
            row.update(dict.fromkeys((f"{m}_base", f"{m}_new", f"{m}_change_pct", f"{m}_ci_low_pct", f"{m}_ci_high_pct")))
            row[f"{m}_significant"] = False
        if b is not None and n is not None:
            row.update(capacity_change(b, n))
        rows.append({**row, "method": CAPACITY_METHOD, "confidence": confidence})
    return rows
