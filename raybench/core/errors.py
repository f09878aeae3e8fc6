"""raybench's exceptions.

The hierarchy, drawn::

    RaybenchError                 root: catch this to catch everything raybench raises
    ├── ConfigError (ValueError)  a bad argument, found before anything is spawned
    ├── MissingDependencyError (ImportError)
    │                             an optional package (torch, an SDK, ...) is not installed
    ├── ModelLoadError            a copy could not build its model
    ├── ClusterError              the cluster cannot place what a config needs
    ├── RunError                  a config failed while running (copy died, model raised)
    └── TimerError (RuntimeError) a Timer used out of order (stop before start, start twice)

Messages name the parameter, the rule and the bad value, e.g.
``n_models must be a positive int or a list of them (got 0)``.
"""

from __future__ import annotations

import asyncio
import threading


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
