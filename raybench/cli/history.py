"""Run folders: ``--out DIR`` keeps each run in ``DIR/<model>-<UTC time>/`` (its CSV, JSON, Parquet,
plots and HTML report) and points ``DIR/latest`` at the newest, so a history folder holds every
run and none replaces another. ``compare`` reads a results file, a run folder or a history folder,
and ``--against latest`` finds the run before.

``latest`` is a relative symbolic link; where links cannot be made (Windows without the
privilege) it is a one-line text file naming the folder. Both are replaced atomically.
"""

from __future__ import annotations

import datetime
import glob
import os
import re

from raybench.core.errors import ConfigError

#: The UTC time in a run folder's name: sorts as text in time order, and holds no ``:`` (Windows).
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
LATEST = "latest"
_RUN_NAME = re.compile(r"^(?P<model>.+)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?$")


def make_run_folder(out_dir: str, model_name: str, now: datetime.datetime | None = None) -> str:
    """Create and return ``out_dir/<model_name>-<UTC time>/`` (``-2``, ``-3``… when a run of the
    same model started in the same second). Made before the run, so an unwritable ``--out``
    is refused before any work.

    Raises:
        ConfigError: ``model_name`` could leave ``out_dir``, or ``out_dir`` cannot be created
            or written to.
    """
    if not model_name or model_name.startswith(".") or any(sep and sep in model_name for sep in (os.sep, os.altsep)):
        raise ConfigError(f"--model-name must not hold a path separator or start with '.' (got {model_name!r})")
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime(STAMP_FORMAT)
    base = os.path.join(out_dir, f"{model_name}-{stamp}")
    try:
        os.makedirs(out_dir, exist_ok=True)
        for n in range(1, 1000):
            folder = base if n == 1 else f"{base}-{n}"
            try:
                os.mkdir(folder)  # exclusive: two runs never share a folder
                return folder
            except FileExistsError:
                continue
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ConfigError(f"--out must be a directory raybench can write to (got {out_dir!r}: {reason})") from None
    raise ConfigError(f"--out holds 999 runs of {model_name!r} started at {stamp}")


def point_latest(run_folder: str) -> str:
    """Point ``latest`` beside ``run_folder`` at it; return the pointer's path."""
    out_dir, name = os.path.split(os.path.normpath(run_folder))
    pointer = os.path.join(out_dir, LATEST)
    temporary = os.path.join(out_dir, f".{LATEST}.{os.getpid()}")
    try:
        os.symlink(name, temporary, target_is_directory=True)
    except (OSError, NotImplementedError):
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(name + "\n")
    os.replace(temporary, pointer)  # a reader sees the old pointer or the new one, never none
    return pointer


def _follow_latest(history: str) -> str | None:
    pointer = os.path.join(history, LATEST)
    if os.path.isdir(pointer):
        return os.path.join(history, os.readlink(pointer)) if os.path.islink(pointer) else pointer
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8") as f:
            return os.path.join(history, f.read().strip())
    return None


def results_file(path: str, label: str) -> str:
    """The Parquet results file that ``path`` names: the file itself, the one in a run folder,
    or the one in a history folder's latest run.

    Raises:
        ConfigError: naming ``label``, when ``path`` is none of those.
    """
    folder = _follow_latest(path) if os.path.isdir(path) and not _is_run_folder(path) else path
    if folder is None:
        raise ConfigError(f"{label} must be a results file, a run folder or a history folder with a "
                          f"{LATEST!r} run (got {path!r}, a folder without any)")
    if not os.path.isdir(folder):
        return folder
    found = sorted(glob.glob(os.path.join(glob.escape(folder), "*.results.parquet")))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise ConfigError(f"{label} must be a run folder holding one .results.parquet file (got {folder!r}, "
                          f"which holds {what})")
    return found[0]


def _is_run_folder(path: str) -> bool:
    return bool(glob.glob(os.path.join(glob.escape(path), "*.results.parquet")))


def previous_run(new: str, against: str) -> str:
    """The results file to compare ``new`` with for ``--against``.

    ``latest`` (or ``previous``): the newest run of the same model before ``new`` in ``new``'s
    history folder. A history folder: the newest run of the same model there other than ``new``.
    Anything else: a results file or run folder, as :func:`results_file` reads it.

    Raises:
        ConfigError: there is no earlier run to compare with.
    """
    new_file = results_file(new, "NEW")
    mine = os.path.dirname(os.path.realpath(new_file))  # realpath: NEW may be DIR/latest
    if against not in (LATEST, "previous") and not (os.path.isdir(against) and not _is_run_folder(against)):
        return results_file(against, "--against")
    run = _RUN_NAME.match(os.path.basename(mine))
    if run is None:
        raise ConfigError(f"--against {against} needs NEW to be a run folder of a history (written by "
                          f"run --out DIR; got {new!r})")
    # The history as the user named it (DIR, DIR/latest or a run folder in DIR), so paths read alike.
    history = os.path.dirname(os.path.dirname(new_file)) or "." if against in (LATEST, "previous") else against
    earlier = [folder for folder in _runs_of(history, run["model"]) if os.path.realpath(folder) != mine
               and (against not in (LATEST, "previous") or _key(folder) < _key(mine))]
    if not earlier:
        raise ConfigError(f"--against {against}: {history!r} holds no earlier run of {run['model']!r} "
                          "to compare with")
    return results_file(earlier[-1], "--against")


def _key(folder: str) -> tuple[str, int]:
    match = _RUN_NAME.match(os.path.basename(folder))
    return (match["stamp"], int(match["n"] or 1)) if match else ("", 0)


def _runs_of(history: str, model: str) -> list[str]:
    """The run folders of ``model`` in ``history``, oldest first."""
    folders = []
    for name in os.listdir(history):
        match = _RUN_NAME.match(name)
        path = os.path.join(history, name)
        if match and match["model"] == model and not os.path.islink(path) and _is_run_folder(path):
            folders.append(path)
    return sorted(folders, key=_key)
