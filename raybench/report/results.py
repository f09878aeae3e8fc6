"""Benchmark results: raw timers, configs, outcomes and run metadata, and their Parquet file.

A :class:`Results` is what ``benchmark(..., return_timers=True)`` returns. It is also a list of
``(config, results)`` pairs, as NeuronPerf returned, so code written for NeuronPerf keeps working.

The Parquet file holds the timer table (``TIMER_SCHEMA``) and, in the schema's key/value
metadata under the key ``raybench``, the configs, outcomes and run metadata as JSON — one
self-describing file that pyarrow, pandas, polars and duckdb open directly (duckdb:
``read_parquet(path)`` for the timers, ``parquet_kv_metadata(path)`` for the JSON).

Reports are recomputed from the timers on demand (:func:`get_reports`, a list of dicts as
NeuronPerf returned; :attr:`Results.reports`, the same rows as an Arrow table with a declared
schema).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from raybench.core.options import RunConfig
from raybench.core.errors import ConfigError
from raybench.core.files import atomic_write_path
from raybench.report.reports import REPORT_FIELDS, compute_node_reports, compute_reports, iso_utc
from raybench.core.schema import ConfigOutcome, CopyOutcome, stages_of, timer_schema

_META_KEY = b"raybench"
FORMAT_VERSION = 1


def parquet() -> Any:
    """``pyarrow.parquet``, imported on first use: every model copy imports raybench, and the
    Parquet module (~0.1 s) is only needed where results are written or read."""
    import pyarrow.parquet

    return pyarrow.parquet


#: Packages whose version a run records when the run's process has imported them.
_VERSIONED_PACKAGES: tuple[str, ...] = ("ray", "numpy", "torch", "tensorflow", "mxnet")
#: Seconds ``git status`` may take before ``dirty`` is recorded as unknown.
GIT_TIMEOUT_S = 2.0


def run_metadata(*, started_ns: int | None = None, **extra: Any) -> dict[str, Any]:
    """Describe the run: versions, Python, host, start time and the working directory's commit.

    Args:
        started_ns: Wall-clock ns at which the run started; defaults to now. ``run_benchmark``
            passes the first config's common measurement start (its barrier), so
            ``started_at`` says when measuring began, not when the sweep ended and this
            dict was built. Model loading before that instant is not included.
        **extra: More keys (``run_benchmark`` adds ``instance_type``, ``device_type``,
            ``n_nodes``, ``cluster`` — one ``{"node_id", "resources"}`` per node —,
            ``cost_per_hour`` and ``interrupted``).

    Returns:
        ``format_version``; ``versions`` (raybench, pyarrow, and ray, numpy, torch,
        tensorflow, mxnet when imported); ``python`` (``version``, ``implementation``);
        ``host``; ``platform``; ``started_ns`` and ``started_at`` (ISO-8601 UTC, ms);
        ``created_ns``; ``git`` (see :func:`git_state`); then ``extra``. Plain JSON data.
    """
    from raybench.core.version import __version__
    created_ns = time.time_ns()
    started_ns = created_ns if started_ns is None else started_ns
    versions = {"raybench": __version__, "pyarrow": pa.__version__}
    for package in _VERSIONED_PACKAGES:
        module = sys.modules.get(package)
        if module is not None:
            versions[package] = getattr(module, "__version__", "?")
    return {
        "format_version": FORMAT_VERSION,
        "versions": versions,
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation()},
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "started_ns": started_ns,
        "started_at": iso_utc(started_ns),
        "created_ns": created_ns,
        "git": git_state(),
        **extra,
    }


def git_state(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The git commit of the working directory, so a result can be traced to the code that made it.

    Running git inside a repository runs code that repository configures (a ``core.fsmonitor``
    hook, clean filters) — an untrusted checkout would get to run it. So:

    - the commit is read from the repository's files (``HEAD``, loose refs, ``packed-refs``),
      without running git at all;
    - ``dirty`` is asked of git only in the user's own project: a repository whose work tree and
      git directory belong to the user running raybench, whose config defines no program-running
      settings that ``git status`` could reach (filter drivers, textconv, external diff, include
      directives: then ``dirty`` is None), and even then with ``core.fsmonitor`` off, hooks
      pointed nowhere, no system config and no optional locks.

    Args:
        cwd: Where to ask (default: the current working directory). ``GIT_CEILING_DIRECTORIES``
            is honoured while looking for the repository.

    Returns:
        ``{"commit": HEAD's full sha, "dirty": bool or None}`` inside a git work tree with a
        commit, or None (not a repository, no commit yet, someone else's repository). ``dirty``
        is whether tracked files differ from the commit (untracked files do not count); None
        when git was not asked or failed. Never raises.
    """
    try:
        found = _find_repository(os.path.abspath(os.fspath(cwd) if cwd is not None else os.getcwd()))
        if found is None:
            return None
        work_tree, git_dir = found
        if not (_owned_by_me(work_tree) and _owned_by_me(git_dir)):
            return None
        commit = _head_commit(git_dir)
        if commit is None:
            return None
        dirty = None if _config_runs_programs(git_dir) else _git_dirty(work_tree)
        return {"commit": commit, "dirty": dirty}
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _find_repository(start: str) -> tuple[str, str] | None:
    """``(work tree, git directory)`` of the repository holding ``start``, found as git would
    (a ``.git`` directory, or a ``.git`` file naming one), or None."""
    ceilings = {os.path.abspath(p) for p in os.environ.get("GIT_CEILING_DIRECTORIES", "").split(os.pathsep) if p}
    here = start
    while True:
        dot_git = os.path.join(here, ".git")
        if os.path.isdir(dot_git):
            return here, dot_git
        if os.path.isfile(dot_git):  # a worktree or submodule: "gitdir: <path>"
            with open(dot_git, encoding="utf-8") as f:
                text = f.read().strip()
            if text.startswith("gitdir:"):
                return here, os.path.normpath(os.path.join(here, text[len("gitdir:"):].strip()))
            return None
        parent = os.path.dirname(here)
        if parent == here or parent in ceilings:
            return None
        here = parent


def _owned_by_me(path: str) -> bool:
    getuid = getattr(os, "getuid", None)
    return getuid is None or os.stat(path).st_uid == getuid()


def _head_commit(git_dir: str) -> str | None:
    """HEAD's commit, read from the files: a detached sha, or the branch's loose or packed ref."""
    common = git_dir
    if os.path.isfile(os.path.join(git_dir, "commondir")):  # a linked worktree shares the refs
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as f:
            common = os.path.normpath(os.path.join(git_dir, f.read().strip()))
    with open(os.path.join(git_dir, "HEAD"), encoding="utf-8") as f:
        head = f.read().strip()
    if not head.startswith("ref:"):
        return head if _is_sha(head) else None
    ref = head[len("ref:"):].strip()
    if not ref.startswith("refs/") or ".." in ref.split("/"):
        return None
    for directory in (git_dir, common):
        path = os.path.join(directory, *ref.split("/"))
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                sha = f.read().strip()
            return sha if _is_sha(sha) else None
    packed = os.path.join(common, "packed-refs")
    if os.path.isfile(packed):
        with open(packed, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref and _is_sha(parts[0]):
                    return parts[0]
    return None  # a branch without a commit yet


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


#: Config a ``git status`` could run a program through that the command line cannot switch off
#: (``core.fsmonitor`` and ``core.hooksPath`` it can); a repository setting any of them gets
#: ``dirty: None`` rather than a git run (``include`` could pull any of them in from elsewhere).
_PROGRAM_CONFIG = re.compile(r"^\s*\[\s*(filter|diff|include|includeif)\b|^\s*(textconv|external)\s*=",
                             re.IGNORECASE | re.MULTILINE)


def _config_runs_programs(git_dir: str) -> bool:
    path = os.path.join(git_dir, "config")
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        return _PROGRAM_CONFIG.search(f.read()) is not None


#: ``git status`` with what the repository could make it run switched off where git allows.
_SAFE_GIT = ("git", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.untrackedCache=false",
             "--no-optional-locks")


def _git_dirty(work_tree: str) -> bool | None:
    """Whether tracked files differ from HEAD, or None when git is missing, fails or is slow."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        done = subprocess.run([*_SAFE_GIT, "status", "--porcelain", "--untracked-files=no"], cwd=work_tree, env=env,
                              capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout.strip() != "" if done.returncode == 0 else None


class Results(list):  # type: ignore[type-arg]
    """Everything a run measured.

    Attributes:
        configs: The configs that ran, in order.
        outcomes: How each config ended (status, per-copy load/warmup/system samples).
        timers: Raw timers, one row per measured inference (``pyarrow.Table``: TIMER_SCHEMA without absent stages).
        metadata: Run metadata (versions, host, cost_per_hour, ...).

    As a list it holds NeuronPerf-style ``(config_dict, results_dict)`` pairs; each
    ``results_dict`` has ``status``, ``error``, ``n_infs``, ``total_s``, ``timers`` (that config's
    rows), ``cpu_percents``, ``mem_percents``, ``copies`` (per copy: node, visible NeuronCores,
    inference and error counts, and its warmup — inferences, their summed ms, wall seconds) and
    ``nodes`` (that config's per-node rows, see :func:`get_node_reports`).
    """

    def __init__(
        self,
        configs: list[RunConfig],
        outcomes: list[ConfigOutcome],
        timers: pa.Table,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.configs = list(configs)
        self.outcomes = list(outcomes)
        self.timers = timers
        self.metadata = dict(metadata or {})
        super().__init__(_pairs(self.configs, self.outcomes, timers))

    @staticmethod
    def check(value: object, name: str = "results") -> Results:
        """Return ``value`` if it is a :class:`Results`, for functions that take one.

        Raises:
            ConfigError: it is not (the message names ``name`` and what it was).
        """
        if not isinstance(value, Results):
            msg = (
                f"{name} must be a raybench Results (from return_timers=True or read_results) "
                f"(got {type(value).__name__})"
            )
            raise ConfigError(msg)
        return value

    @property
    def reports(self) -> pa.Table:
        """One row per config, columns in ``REPORT_FIELDS`` order (see :func:`reports_table`).

        Computed from the timers on every access (``.to_pandas()`` gives a DataFrame,
        ``.to_pylist()`` the dicts of :func:`get_reports`).
        """
        return reports_table(get_reports(self))


def _pairs(configs: list[RunConfig], outcomes: list[ConfigOutcome], timers: pa.Table) -> list[tuple[dict, dict]]:
    pairs = []
    for config, outcome in zip(configs, outcomes):
        rows = timers.filter(pc.equal(timers["config_id"], config.config_id))
        total_s = None
        if outcome.start_ns is not None and outcome.stop_ns is not None:
            total_s = (outcome.stop_ns - outcome.start_ns) / 1e9
        result = {
            "status": outcome.status,
            "error": outcome.error,
            "n_infs": sum(c.n_infs for c in outcome.copies),
            "total_s": total_s,
            "timers": rows,
            "cpu_percents": [p for c in outcome.copies for p in c.cpu_percent],
            "mem_percents": [p for c in outcome.copies for p in c.mem_percent],
            "copies": [{"copy_id": c.copy_id, "node_id": c.node_id, "visible_cores": c.visible_cores,
                        "n_infs": c.n_infs, "n_errors": c.n_errors, "warmup_infs": c.warmup_infs,
                        "warmup_ms": c.warmup_sum_ns / 1e6, "warmup_wall_s": _seconds(c.warmup_wall_ns)}
                       for c in outcome.copies],
            "nodes": compute_node_reports(config, outcome, rows),
        }
        pairs.append((dataclasses.asdict(config), result))
    return pairs


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def get_reports(results: Results, cost_per_hour: float | None = None) -> list[dict[str, Any]]:
    """Compute one report per config from a results object.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`read_results`.
        cost_per_hour: Instance price for ``cost_per_1m_inf``; defaults to the run's own.

    Returns:
        Report dicts (NeuronPerf's field names), equal to what the run itself reported.
    """
    Results.check(results)
    if cost_per_hour is None:
        cost_per_hour = results.metadata.get("cost_per_hour")
    return compute_reports(results.configs, results.outcomes, results.timers, cost_per_hour=cost_per_hour)


#: Arrow types of the report fields that are not float64 (every other field of
#: ``REPORT_FIELDS`` is float64), so a column's type never depends on its values — an
#: all-None ``error`` column is still a string column.
#: A name here that ``REPORT_FIELDS`` does not hold is simply unused.
REPORT_TYPES: dict[str, pa.DataType] = {
    **dict.fromkeys(
        ("model_filename", "model_name", "device_type", "instance_type", "start_dts", "stop_dts", "status",
         "error", "arrival"),
        pa.string(),
    ),
    **dict.fromkeys(
        ("config_id", "batch_size", "n_models", "workers_per_model", "pipeline_size", "n_devices",
         "performance_level", "n_errors", "n_nodes", "total_infs", "warmup_infs", "dropped",
         "queue_depth_max"),
        pa.int64(),
    ),
    **dict.fromkeys(("multiprocess", "multiinterpreter", "converged", "dataset_exhausted", "rate_met"), pa.bool_()),
}  # fmt: skip


def reports_table(reports: Sequence[dict[str, Any]]) -> pa.Table:
    """Report dicts as an Arrow table: one row per report, one column per field.

    Columns follow ``REPORT_FIELDS``, then any other key the reports hold (in the order first
    seen). Types come from :data:`REPORT_TYPES`; any other field of ``REPORT_FIELDS`` whose
    values are all numbers or None is float64; any other field is typed from its values.

    Args:
        reports: Report dicts (from :func:`get_reports` or a run); a missing key is None.

    Returns:
        The table (zero rows, all ``REPORT_FIELDS`` columns, when ``reports`` is empty).

    Raises:
        pyarrow.ArrowInvalid, pyarrow.ArrowTypeError: A value does not fit its field's declared type.
    """
    names = list(REPORT_FIELDS)
    for report in reports:
        for key in report:
            if key not in names:
                names.append(key)
    columns = [[report.get(name) for report in reports] for name in names]
    fields = [pa.field(name, _report_type(name, values)) for name, values in zip(names, columns)]
    schema = pa.schema(fields)
    return pa.table([pa.array(values, field.type) for values, field in zip(columns, schema)], schema=schema)


def _report_type(name: str, values: list[Any]) -> pa.DataType:
    """The declared type of a report field, else float64 for numbers, else inferred."""
    declared = REPORT_TYPES.get(name)
    if declared is not None:
        return declared
    numeric = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)
    if name in REPORT_FIELDS and numeric:
        return pa.float64()
    return pa.array(values).type


def get_node_reports(results: Results) -> list[dict[str, Any]]:
    """Break every config down by the node its copies ran on, so a slow node stands out.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`read_results`.

    Returns:
        Per-node rows (``config_id, node_id, n_copies, total_infs, n_errors, throughput_avg,
        throughput_peak, latency_ms_p50, latency_ms_p99, e2e_avg_ms``), config by config in the
        order of ``results.configs`` and by ``node_id`` within a config. Each config's rows are
        also in its results dict under ``"nodes"``.

    Raises:
        ConfigError: ``results`` is not a :class:`Results`.
        ValueError: A config has no outcome.
    """
    Results.check(results)
    by_id = {outcome.config_id: outcome for outcome in results.outcomes}
    rows: list[dict[str, Any]] = []
    for config in results.configs:
        outcome = by_id.get(config.config_id)
        if outcome is None:
            msg = f"outcomes must include one for every config (none for config_id {config.config_id})"
            raise ValueError(msg)
        timers = results.timers.filter(pc.equal(results.timers["config_id"], config.config_id))
        rows.extend(compute_node_reports(config, outcome, timers))
    return rows


def write_results(results: Results, filename: str | os.PathLike[str], *, overwrite: bool = False) -> str:
    """Write raw timers, configs, outcomes and metadata to one Parquet file (atomically).

    Args:
        results: What to write.
        filename: The file to write.
        overwrite: Replace ``filename`` if it exists (else it is refused).

    Returns:
        The path written.

    Raises:
        ConfigError: ``filename`` exists and ``overwrite`` is False; nothing is written.
    """
    Results.check(results)
    payload = {
        "metadata": results.metadata,
        "configs": [dataclasses.asdict(c) for c in results.configs],
        "outcomes": [dataclasses.asdict(o) for o in results.outcomes],
    }
    table = results.timers.replace_schema_metadata({_META_KEY: json.dumps(payload).encode()})
    path = os.fspath(filename)
    with atomic_write_path(path, overwrite=overwrite) as tmp:
        parquet().write_table(table, tmp)
    return path


def read_results(filename: str | os.PathLike[str]) -> Results:
    """Read a file written by :func:`write_results`.

    Only that one file is read: a directory is refused (pyarrow would silently merge every
    Parquet file in it, doubling counts when a results file was copied beside itself).

    Raises:
        ConfigError: the path is not a file, or the file is empty, truncated, corrupt or not a
            raybench results file; the message names the file and what is wrong.
    """
    if not isinstance(filename, (str, os.PathLike)):
        raise ConfigError(f"filename must be a path to a raybench results file (got {filename!r})")
    path = os.fspath(filename)
    if os.path.isdir(path):
        raise ConfigError(f"filename must name one results file, not a directory (got {path!r})")
    if not os.path.isfile(path):
        raise ConfigError(f"filename must name an existing results file (got {path!r})")
    try:
        table = parquet().ParquetFile(path).read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        msg = f"filename must name a Parquet results file written by raybench ({path!r} is not one: {exc})"
        raise ConfigError(msg) from None
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        msg = f"filename must name a raybench results file (no raybench metadata in {path!r})"
        raise ConfigError(msg)
    try:
        payload = json.loads(raw)
        timers = table.replace_schema_metadata(None)
        timers = timers.cast(timer_schema(stages_of(timers.schema)))
        configs = [RunConfig(**c) for c in payload["configs"]]
        outcomes = [_outcome_from_dict(o) for o in payload["outcomes"]]
        metadata = payload["metadata"]
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata is a {type(metadata).__name__}, not an object")
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, pa.ArrowException) as exc:
        msg = f"{path!r} is not a readable raybench results file: its {_META_KEY.decode()} metadata or timers " \
              f"are damaged ({type(exc).__name__}: {exc})"
        raise ConfigError(msg) from None
    return Results(configs, outcomes, timers, metadata)


def _outcome_from_dict(data: dict[str, Any]) -> ConfigOutcome:
    """Rebuild an outcome from its JSON form (JSON has lists where the dataclasses hold tuples)."""
    copies = tuple(
        CopyOutcome(**{key: tuple(value) if isinstance(value, list) else value for key, value in c.items()})
        for c in data["copies"]
    )
    return ConfigOutcome(**{**data, "copies": copies})
