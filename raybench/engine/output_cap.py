"""A ceiling on what a copy may print.

Ray writes every actor's stdout and stderr to files in its session's log folder (and, at
verbosity 2, streams them to the driver). A model that prints a megabyte per call would fill
that folder with gigabytes in seconds. Inside a Ray actor a copy therefore replaces
``sys.stdout`` and ``sys.stderr`` with :class:`CappedStream` wrappers that share one
:class:`OutputBudget`: once the copy has printed :data:`COPY_OUTPUT_LIMIT_CHARS`, one line says so
and the rest is dropped (and counted, for the report). Output written below Python (C libraries
writing to file descriptor 1) is not seen here.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import Any, TextIO

#: What one copy may print (stdout and stderr together) before the rest is dropped.
COPY_OUTPUT_LIMIT_CHARS = 10_000_000


class OutputBudget:
    """Characters a process's streams may still write; counts what was dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> tuple[bool, bool]:
        """``(write it, first drop)``: whether ``n`` more characters fit, and whether this is the
        first write that does not (the moment to say so)."""
        with self._lock:
            if self.used + n <= self.limit:
                self.used += n
                return True, False
            first = self.dropped == 0
            self.dropped += n
            return False, first


class CappedStream(io.TextIOBase):
    """A text stream that writes to ``stream`` while ``budget`` lasts, then drops."""

    def __init__(self, stream: TextIO, budget: OutputBudget, note: str) -> None:
        self._stream = stream
        self._budget = budget
        self._note = note

    def write(self, text: str) -> int:
        fits, first_drop = self._budget.take(len(text))
        if fits:
            return self._stream.write(text)
        if first_drop:
            self._stream.write(self._note)
            self._stream.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding...: the wrapped stream's
        return getattr(self._stream, name)


def cap_output(copy_id: int, limit: int = COPY_OUTPUT_LIMIT_CHARS) -> OutputBudget:
    """Put ``sys.stdout`` and ``sys.stderr`` of this process under one budget of ``limit``
    characters; return the budget (its ``dropped`` says how much was lost)."""
    budget = OutputBudget(limit)
    note = (f"raybench: copy {copy_id} printed more than {limit / 1e6:g} MB; the rest of its output is dropped "
            "(the report says how much)\n")
    sys.stdout = CappedStream(sys.stdout, budget, note)
    sys.stderr = CappedStream(sys.stderr, budget, note)
    return budget
