"""raybench's exceptions.

The hierarchy, drawn::

    RaybenchError                 root: catch this to catch everything raybench raises
    ├── ConfigError (ValueError)  a bad argument, found before anything is spawned
    ├── MissingDependencyError (ImportError)
    │                             an optional package (torch, an SDK, ...) is not installed
    ├── ModelLoadError            a copy could not build its model
    ├── ClusterError              the cluster cannot place what a config needs
    ├── RunError                  a config failed while running (copy died, model raised)
    │   └── SweepStopped          the first configs all failed before measuring, the same way
    └── TimerError (RuntimeError) a Timer used out of order (stop before start, start twice)

Messages name the parameter, the rule and the bad value, e.g.
``n_models must be a positive int or a list of them (got 0)``.
"""

from __future__ import annotations

import asyncio
import re
import threading

#: An exception's type at the start of a line: ``RuntimeError: ...``, ``torch.jit.Error: ...``.
_EXCEPTION_LINE = re.compile(r"(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning)\b:?")


class RaybenchError(Exception):
    """Root of every error raybench raises on purpose."""


class ConfigError(RaybenchError, ValueError):
    """A benchmark argument breaks a rule; raised before any copy is spawned."""


class MissingDependencyError(RaybenchError, ImportError):
    """An optional dependency is missing; the message says what to install."""


class ModelLoadError(RaybenchError):
    """A model copy could not load or construct its model."""


class ClusterError(RaybenchError):
    """The Ray cluster cannot provide what a config asks for."""


class RunError(RaybenchError):
    """A config failed while it ran (a copy died, the model raised in warmup, ...)."""


class SweepStopped(RunError):
    """The sweep's first configs all failed before measuring with the same error, so the rest
    would too: the sweep stopped (``keep_going=True`` runs every config anyway).

    Attributes:
        error: That error, in one line.
        n_configs: How many configs failed with it.
    """

    def __init__(self, error: str, n_configs: int, *, how_to_go_on: str = "keep_going=True") -> None:
        self.error = error
        self.n_configs = n_configs
        super().__init__(f"the first {n_configs} configs failed before measuring, each with: {error}; the sweep "
                         f"stopped ({how_to_go_on} runs every config)")


class TimerError(RaybenchError, RuntimeError):
    """A ``Timer`` was used out of order (``stop()`` before ``start()``, ``start()`` twice)."""


def is_control_flow(exc: BaseException) -> bool:
    """True for what must propagate rather than be recorded as the model's error: a real Ctrl-C
    (``KeyboardInterrupt`` in the main thread, where Python delivers signals) and asyncio's
    cancellation. A ``SystemExit``, or a ``KeyboardInterrupt`` the model raised in a worker
    thread, is the model's error like any other."""
    if isinstance(exc, asyncio.CancelledError):
        return True
    return isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread()


def one_line(message: str | None) -> str | None:
    """An error message in one line: a multi-line one (a TorchScript traceback, a stack dump) as
    its first line's lead-in (``model raised during warmup: ``) and its last line, where Python
    and TorchScript put the exception that was raised (``RuntimeError: Expected 4-dimensional
    input ...``). The whole message stays in the outcome and the debug log."""
    if message is None:
        return None
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else message.strip()
    last = lines[-1]
    found = _EXCEPTION_LINE.search(lines[0])
    if found is None:  # no exception named up front: what the first line says, then the last
        return f"{lines[0]} ... {last}"
    lead = lines[0][: found.start()]
    if not _EXCEPTION_LINE.match(last):  # the last line is a bare message: keep the type
        last = f"{found.group(0).rstrip(':')}: {last}"
    return f"{lead}{last}"
