"""What a run records about itself: versions, Python, host, start time, and the git commit of
the code that made it (read without running the repository's code)."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
import time
from typing import Any

import pyarrow as pa

from raybench.core.version import __version__
from raybench.report.reports import iso_utc

#: The version of the results file's layout.
FORMAT_VERSION = 1
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
            ``cost_per_hour``, ``slo``, ``search`` — a capacity search's options, else None — and
            ``interrupted``).

    Returns:
        ``format_version``; ``versions`` (raybench, pyarrow, and ray, numpy, torch,
        tensorflow, mxnet when imported); ``python`` (``version``, ``implementation``);
        ``host``; ``platform``; ``started_ns`` and ``started_at`` (ISO-8601 UTC, ms);
        ``created_ns``; ``git`` (see :func:`git_state`); then ``extra``. Plain JSON data.
    """
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
