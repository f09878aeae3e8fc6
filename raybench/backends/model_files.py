"""Deleting, copying and moving the model files an index lists — only those that lie inside the
index's own model directory.

An index is a file anyone can write: its entries may name ``"."``, ``../elsewhere`` or an
absolute path. Each operation checks every entry before it touches anything, and touches only
regular files (or links, never their targets) and compiled-artifact directories that resolve,
links followed, strictly inside the index's directory (or the one ``models_dir`` names).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raybench.backends.model_index import check_index, load, resolve_model_path, save
from raybench.core.errors import ConfigError

#: Files whose presence makes a directory a compiled model artifact (a TF SavedModel) that
#: delete, copy and move may treat as one unit. Any other directory is refused.
ARTIFACT_DIR_MARKERS: tuple[str, ...] = ("saved_model.pb", "saved_model.pbtxt")


def _inside(path: str, root: str) -> bool:
    """True when the real ``path`` lies strictly inside the real directory ``root``."""
    return path != root and os.path.commonpath([path, root]) == root


@dataclass(frozen=True)
class _Source:
    """An index to operate on: its content, where its relative names are looked up, what to call
    it in messages, and its file (None for a loaded index dict)."""

    index: dict[str, Any]
    base_dir: str
    label: str
    file: str | None


def _source(old_index: str | os.PathLike[str] | dict[str, Any]) -> _Source:
    """An index file, or an index dict as ``load`` returns it (NeuronPerf accepts both). A dict's
    relative names are looked up from the working directory, where ``compile`` wrote them."""
    if isinstance(old_index, dict):
        return _Source(check_index(old_index, "old_index"), os.getcwd(), "the model index dict", None)
    index_filename = os.fspath(old_index)
    return _Source(load(index_filename), os.path.dirname(index_filename), f"model index {index_filename!r}",
                   index_filename)


def _artifact_path(source: _Source, i: int, config: dict[str, Any], root: str) -> str | None:
    """The path of one entry's model file, checked safe to delete, move or copy.

    The file must resolve (symbolic links followed) strictly inside ``root``, and be a regular
    file, a symbolic link (only the link itself is ever removed or moved) or a compiled-artifact
    directory (see :data:`ARTIFACT_DIR_MARKERS`). A relative name is looked up as
    :func:`resolve_model_path` does (for an index dict: from the working directory), keeping
    the spelling that lies inside ``root``.

    Returns:
        The path, or None when the entry's file does not exist (inside ``root``).

    Raises:
        ConfigError: the entry points outside ``root``, at ``root`` itself, at the index file,
            or at something that is not a model file.
    """
    name = config["filename"]
    candidates = [name] if os.path.isabs(name) else list(dict.fromkeys([name, os.path.join(source.base_dir, name)]))
    where = f"{source.label} entry {i} ({name!r})"
    inside = [c for c in candidates if _inside(os.path.realpath(c), root)]
    path = next((c for c in inside if os.path.lexists(c)), None)
    if path is None:
        if inside and not any(os.path.lexists(c) for c in candidates):
            return None  # missing, and it would be inside: nothing to touch
        real = os.path.realpath(candidates[-1])
        msg = (f"{where} resolves to {real!r}, which is not inside the index's model directory {root!r}: "
               "delete, copy and move touch only model files inside it (models_dir= names another)")
        raise ConfigError(msg)
    if source.file is not None and os.path.realpath(path) == os.path.realpath(source.file):
        raise ConfigError(f"{where} names the index file itself, not a model file")
    if os.path.islink(path) or os.path.isfile(path):
        return path
    if os.path.isdir(path) and any(os.path.isfile(os.path.join(path, m)) for m in ARTIFACT_DIR_MARKERS):
        return path
    kind = "a directory that holds no compiled model (no saved_model.pb)" if os.path.isdir(path) else \
        "neither a regular file nor a directory"
    raise ConfigError(f"{where} is {kind}; delete, copy and move touch only model files")


def _model_root(source: _Source, models_dir: str | os.PathLike[str] | None) -> str:
    """The directory whose files an index's delete, copy and move may touch: ``models_dir``, or
    the index file's own directory (the working directory, for an index dict)."""
    base = os.fspath(models_dir) if models_dir is not None else os.path.abspath(source.base_dir or ".")
    return os.path.realpath(base)


def model_files(filename: str | os.PathLike[str], models_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The model files and artifact directories an index lists that exist, checked safe to touch.

    This is what :func:`delete` removes (the index file apart), in index order, each once.

    Args:
        filename: The index file.
        models_dir: The directory the model files must lie in; default the index file's own
            directory.

    Raises:
        ConfigError: the index cannot be loaded, or an entry resolves outside ``models_dir``, to
            it, to the index itself, or to something that is not a model file.
    """
    source = _source(filename)
    root = _model_root(source, models_dir)
    paths: dict[str, str] = {}  # real path -> path as spelled, each file once
    for i, config in enumerate(source.index["model_configs"]):
        path = _artifact_path(source, i, config, root)
        if path is not None:
            paths.setdefault(os.path.realpath(path) if not os.path.islink(path) else os.path.abspath(path), path)
    return list(paths.values())


def _relocate(old: _Source, new_index: str | os.PathLike[str],
              new_dir: str | os.PathLike[str], transfer: Callable[[str, str], object],
              models_dir: str | os.PathLike[str] | None) -> str:
    """Put every model file of ``old`` into ``new_dir`` with ``transfer``; write ``new_index``."""
    root = _model_root(old, models_dir)
    directory = os.fspath(new_dir)
    plan: dict[str, str] = {}  # source -> destination, each model file once
    configs = []
    for i, config in enumerate(old.index["model_configs"]):
        source = _artifact_path(old, i, config, root)
        dest = os.path.join(directory, os.path.basename(config["filename"].rstrip("/" + os.sep)))
        configs.append({**config, "filename": dest})
        if source is None:
            if config["status"] == "error":
                continue  # a failed compile may have left no file; nothing to carry over
            missing = resolve_model_path(old.file or os.path.join(old.base_dir, "index"), config["filename"])
            listed = old.file or "the index dict"
            msg = f"old_index must list existing model files (got {missing!r}, listed in {listed!r})"
            raise ConfigError(msg)
        source = os.path.abspath(source)  # one file spelled two ways is still one file
        if source in plan:
            continue
        if dest in plan.values():
            msg = f"new_dir must receive model files with distinct base names (got two named {dest!r})"
            raise ConfigError(msg)
        if os.path.lexists(dest) and not (os.path.exists(dest) and os.path.samefile(source, dest)):
            msg = f"new_dir must not already hold the model files (got {dest!r}, which exists)"
            raise ConfigError(msg)
        plan[source] = dest
    # All checks pass before the first file is touched, so a refused call changes nothing.
    os.makedirs(directory, exist_ok=True)
    for source, dest in plan.items():
        if not os.path.lexists(dest):
            transfer(source, dest)
    return save({**old.index, "model_configs": configs}, new_index, overwrite=True)


def _copy_one(source: str, dest: str) -> None:
    if os.path.isdir(source) and not os.path.islink(source):
        shutil.copytree(source, dest, symlinks=True)  # a TF SavedModel is a directory; links stay links
    else:
        shutil.copy2(source, dest)


def copy(old_index: str | os.PathLike[str] | dict[str, Any], new_index: str | os.PathLike[str],
         new_dir: str | os.PathLike[str], *, models_dir: str | os.PathLike[str] | None = None) -> str:
    """Copy an index's model files into ``new_dir`` and write an index pointing at the copies.

    Args:
        old_index: The index to copy from: its file, or the index dict ``load`` returned (whose
            relative names are looked up from the working directory). Left as it is, with its
            model files.
        new_index: The index file to write.
        new_dir: The directory to copy the model files (or directories) into; created if missing.
        models_dir: The directory the listed model files must lie in (default: the old index's
            own directory, or the working directory for a dict); an entry outside it is refused.

    Returns:
        The path of the new index.

    Raises:
        ConfigError: ``old_index`` cannot be loaded, an entry points outside ``models_dir`` or
            at something that is not a model file, a finished config's model file is missing,
            two files share a base name, or a destination already exists; nothing is copied then.
        OSError: a copy or the write fails.
    """
    return _relocate(_source(old_index), new_index, new_dir, _copy_one, models_dir)


def move(old_index: str | os.PathLike[str] | dict[str, Any], new_index: str | os.PathLike[str],
         new_dir: str | os.PathLike[str], *, models_dir: str | os.PathLike[str] | None = None) -> str:
    """Move an index's model files into ``new_dir``, write the new index, remove the old one.

    Args:
        old_index: The index to move from: its file (removed once the new index is written), or
            the index dict ``load`` returned.
        new_index: The index file to write.
        new_dir: The directory to move the model files (or directories) into; created if missing.
        models_dir: As for :func:`copy`.

    Returns:
        The path of the new index.

    Raises:
        ConfigError: as for :func:`copy`; nothing is moved then.
        OSError: a move or the write fails.
    """
    old = _source(old_index)
    path = _relocate(old, new_index, new_dir, shutil.move, models_dir)
    if old.file is not None and os.path.abspath(path) != os.path.abspath(old.file):
        os.remove(old.file)
    return path


def delete(filename: str | os.PathLike[str], *, models_dir: str | os.PathLike[str] | None = None) -> None:
    """Remove every model file or artifact directory an index lists, then the index file.

    Only what :func:`model_files` returns is removed: files and artifact directories that lie
    inside ``models_dir`` (default: the index file's own directory). Every entry is checked
    before anything is removed.

    Args:
        filename: The index file.
        models_dir: The directory the model files must lie in.

    Returns:
        None. Model files that are already missing are skipped.

    Raises:
        ConfigError: the index cannot be loaded, or an entry points outside ``models_dir``, at
            it, or at something that is not a model file (nothing is removed then).
        OSError: a file cannot be removed.
    """
    for path in model_files(filename, models_dir):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    os.remove(filename)
