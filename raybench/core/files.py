"""Files written so that nothing is lost: atomic writes that never replace a file by accident,
file names that cannot leave their directory, and JSON read without crashing on hostile input.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

from raybench.core.errors import ConfigError


@contextlib.contextmanager
def atomic_write_path(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[str]:
    """Yield a temporary path beside ``path``; when the block succeeds, rename it onto ``path``.

    Readers never see a half-written file, and a failed write leaves neither a temporary file
    nor a changed ``path``. Missing parent directories are created.

    Args:
        path: The file to write.
        overwrite: Replace an existing ``path``. When False, an existing file is refused before
            the block runs, and the result is linked into place (never replacing a file that
            appeared meanwhile).

    Returns:
        A context manager yielding the temporary path (not yet created) to write to.

    Raises:
        ConfigError: ``overwrite`` is False and ``path`` exists.
        OSError: The directory cannot be created or the rename fails; whatever the block
            raises is re-raised after the temporary file is removed.
    """
    target = os.path.abspath(os.fspath(path))
    if not overwrite and os.path.lexists(target):
        raise _exists_error(path)
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    # A fresh name rather than mkstemp: mkstemp creates the file 0600, and the rename would
    # carry that mode onto the result, leaving reports unreadable to other users. The same
    # directory keeps os.replace a rename within one file system, hence atomic.
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, target)
        else:
            _link_new(tmp, target, path)
    except BaseException:
        # BaseException: a Ctrl-C in the middle of a write must not leave the temporary behind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file.

    Raises:
        ValueError: the file is not JSON (``json.JSONDecodeError``, ``UnicodeDecodeError``), or is
            nested too deeply to parse (Python's recursion limit), so callers that turn a
            ``ValueError`` into a clear error need no other case.
        OSError: the file cannot be read.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to read") from None


def _exists_error(path: str | os.PathLike[str]) -> ConfigError:
    msg = f"filename already exists: {os.fspath(path)!r} (pass overwrite=True to replace it)"
    return ConfigError(msg)


def _link_new(tmp: str, target: str, path: str | os.PathLike[str]) -> None:
    """Move ``tmp`` to ``target`` unless ``target`` exists: a hard link fails atomically when
    the name is taken, where a rename would silently replace a file created meanwhile."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError:  # no hard links on this file system: checked just before, best effort
        if os.path.lexists(target):
            raise _exists_error(path) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def safe_file_stem(name: object, default: str = "model") -> str:
    """``name`` made safe to start a file name with: every character other than letters, digits
    and ``._+-`` becomes ``_`` (so no path separator survives) and leading dots are dropped (no
    ``..``, no hidden file). ``"../../victim/pwned"`` gives ``"_.._victim_pwned"``.

    Default file names built from a model name go through this, so a name can never make a
    writer leave the directory it writes into. Empty (or None) gives ``default``.
    """
    text = re.sub(r"[^A-Za-z0-9._+-]", "_", str(name)) if name is not None else ""
    return text.lstrip(".") or default


