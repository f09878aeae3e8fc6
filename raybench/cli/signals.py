"""Ctrl-C for one command-line run: interrupt, then save, then quit.

The first press interrupts the sweep (a ``KeyboardInterrupt``: the runner stops measuring and
returns the configs that finished). From then on the command is saving — handing back what
finished and writing the results files — and a press only prints a note. The next press quits
at once, cleanly: this process's children (an embedded Ray's node processes, which would
outlive it) are killed and the process exits with status 130, with no traceback from inside Ray.
The same holds after the work is done, while Ray shuts down at exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import FrameType

from raybench.cli.run import EXIT_INTERRUPTED

SAVING_NOTE = "raybench: saving what finished; press Ctrl-C again to quit at once without it\n"
QUITTING_NOTE = "raybench: quitting now\n"


def note(text: str) -> None:
    """Write ``text`` to stderr; a closed stderr must not turn a Ctrl-C into a traceback."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(text)
        sys.stderr.flush()


class CommandInterrupts:
    """SIGINT for one command-line run: interrupt, then save, then quit (see the module docstring).

    Use as a context manager around the command; call :meth:`saving` before writing results so
    that a first press there no longer interrupts the writing either.

    Args:
        keep: Leave the handler installed after the block (the process is the command: Ray shuts
            down at exit, and a press then must not raise inside it). Otherwise (``main()``
            called from Python) the previous handler is put back.
    """

    def __init__(self, keep: bool = True) -> None:
        self._keep = keep
        self._saving = False
        self._presses_while_saving = 0
        self._previous: object = None
        self._installed = False

    def __enter__(self) -> CommandInterrupts:  # noqa: PYI034 - typing.Self needs Python 3.11
        if threading.current_thread() is threading.main_thread():  # where handlers can be set
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._saving = True  # from here on a press counts as one while saving
        if self._installed and not self._keep:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]

    def saving(self) -> None:
        """From now on a press does not interrupt: the results being written are kept."""
        self._saving = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self._saving:
            self._saving = True
            raise KeyboardInterrupt
        self._presses_while_saving += 1
        if self._presses_while_saving == 1:
            note(SAVING_NOTE)
            return
        note(QUITTING_NOTE)
        quit_now()


def quit_now(status: int = EXIT_INTERRUPTED) -> None:
    """Kill this process's children (an embedded Ray's node processes would outlive it), then exit
    at once with ``status``, skipping the interpreter's shutdown."""
    try:
        import psutil

        children = psutil.Process().children(recursive=True)
    except Exception:  # noqa: BLE001 - nothing may stop the exit
        children = []
    for child in children:
        with contextlib.suppress(Exception):
            child.kill()
    os._exit(status)
