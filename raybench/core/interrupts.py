"""Ctrl-C that never loses what finished.

The first Ctrl-C of a sweep interrupts it (a ``KeyboardInterrupt``: the runner stops measuring,
tears the copies down and returns the configs that finished). What follows that first press —
handing back the finished configs, writing the results files — must not be cut short by an
impatient second press, and a third must still get the user out at once, cleanly: no traceback
from inside Ray, no Ray process left behind.

- :func:`shielded` (library): while the runner saves after the first press, a second press only
  prints a note; a third raises ``KeyboardInterrupt`` (the caller insists). It stands back when
  someone else handles SIGINT (the CLI, a notebook kernel's own handler).
- the command line has its own handler (``raybench.cli.signals``): there a third press exits
  at once.

Signal handlers can only be set from the main thread; elsewhere both stand back.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

SAVING_NOTE = "raybench: saving what finished; press Ctrl-C again to abandon it\n"


def note(text: str) -> None:
    """Write ``text`` to stderr; a closed stderr must not turn a Ctrl-C into a traceback."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(text)
        sys.stderr.flush()


def can_handle_signals() -> bool:
    """Signal handlers can be set only from the main thread."""
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Run the block with Ctrl-C held off: the first press prints a note, the second raises
    ``KeyboardInterrupt``. Does nothing when SIGINT is not Python's default handler (someone
    else decides what Ctrl-C does) or outside the main thread."""
    if not can_handle_signals() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    presses = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            note(SAVING_NOTE)
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
