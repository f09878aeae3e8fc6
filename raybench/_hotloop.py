"""The per-inference loops: the only code that runs once per measured inference.

Each loop runs in a worker thread for one *burst*: it calls the model until ``deadline``
(a ``perf_counter_ns`` value) or until the buffer is full, writing integer nanosecond stamps into
preallocated numpy arrays, and returns how far it got. No allocation, no locking, no Python
object per inference beyond what the model itself returns. A model exception is recorded in the
row (``ok = False``) and the loop goes on: the ``try`` wraps the whole ``for`` so it costs nothing
while the model does not raise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

import numpy as np


class TimerBuffer:
    """Preallocated columns for one worker: reused burst after burst, never reallocated."""

    def __init__(self, capacity: int, with_stages: bool) -> None:
        self.capacity = capacity
        # np.ones, not np.zeros: zeros come from calloc and would page-fault on first write,
        # inside the measured loop; ones are written (and so faulted in) here.
        self.starts = np.ones(capacity, np.int64)
        self.ends = np.ones(capacity, np.int64)
        self.ok = np.ones(capacity, np.bool_)
        # Stage columns exist only when a preprocess/postprocess stage exists.
        self.stages: dict[str, np.ndarray] | None = (
            {name: np.ones(capacity, np.int64) for name in ("preprocess_ns", "infer_ns", "postprocess_ns")}
            if with_stages
            else None
        )
        self.n = 0
        self.n_errors = 0
        self.first_error: str | None = None

    def clear(self) -> None:
        """Forget the rows (after they were shipped)."""
        if self.n_errors:
            self.ok[: self.n] = True
        self.n = 0
        self.n_errors = 0
        self.first_error = None

    def note_error(self, index: int, exc: BaseException) -> None:
        self.ok[index] = False
        self.n_errors += 1
        if self.first_error is None:
            self.first_error = f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Stages:
    """The optional user stages around the model call."""

    preprocess: Callable[..., Any] | None = None
    postprocess: Callable[[Any], Any] | None = None


def run_plain_burst(
    model: Callable[..., Any], args: tuple[Any, ...], buf: TimerBuffer, deadline: int
) -> None:
    """Call ``model(*args)`` until ``deadline`` or a full buffer; one start/end pair per call."""
    pc = perf_counter_ns
    starts, ends, cap = buf.starts, buf.ends, buf.capacity
    i = buf.n
    t0 = 0
    while i < cap:
        try:
            for i in range(i, cap):  # noqa: B020 - resumes after a recorded exception
                t0 = pc()
                model(*args)
                t1 = pc()
                starts[i] = t0
                ends[i] = t1
                if t1 >= deadline:
                    buf.n = i + 1
                    return
            buf.n = cap
            return
        except Exception as exc:  # the model's error is data: record it and go on
            t1 = pc()
            starts[i] = t0
            ends[i] = t1
            buf.note_error(i, exc)
            i += 1
            if t1 >= deadline:
                break
    buf.n = i


def run_staged_burst(
    model: Callable[..., Any],
    args: tuple[Any, ...],
    buf: TimerBuffer,
    deadline: int,
    stages: Stages,
) -> None:
    """Like :func:`run_plain_burst`, timing preprocess, model call and postprocess apart.

    ``preprocess(*args)`` returns the model's inputs (a tuple is unpacked into the call);
    ``postprocess(outputs)`` receives what the model returned.
    """
    pc = perf_counter_ns
    pre = stages.preprocess or _identity_args
    post = stages.postprocess or _identity
    starts, ends, cap = buf.starts, buf.ends, buf.capacity
    assert buf.stages is not None  # built with_stages; an internal invariant, not user input
    pre_ns, infer_ns, post_ns = buf.stages["preprocess_ns"], buf.stages["infer_ns"], buf.stages["postprocess_ns"]
    i = buf.n
    t0 = 0
    while i < cap:
        try:
            for i in range(i, cap):  # noqa: B020
                t0 = pc()
                x = pre(*args)
                t1 = pc()
                y = model(*x) if type(x) is tuple else model(x)
                t2 = pc()
                post(y)
                t3 = pc()
                starts[i] = t0
                ends[i] = t3
                pre_ns[i] = t1 - t0
                infer_ns[i] = t2 - t1
                post_ns[i] = t3 - t2
                if t3 >= deadline:
                    buf.n = i + 1
                    return
            buf.n = cap
            return
        except Exception as exc:
            t3 = pc()
            starts[i] = t0
            ends[i] = t3
            pre_ns[i] = infer_ns[i] = post_ns[i] = 0
            buf.note_error(i, exc)
            i += 1
            if t3 >= deadline:
                break
    buf.n = i


async def run_async_burst(
    model: Callable[..., Any], args: tuple[Any, ...], buf: TimerBuffer, deadline: int
) -> None:
    """The burst for an ``async`` model: awaited on the copy's event loop, no thread hop."""
    pc = perf_counter_ns
    starts, ends, cap = buf.starts, buf.ends, buf.capacity
    i = buf.n
    while i < cap:
        t0 = pc()
        try:
            await model(*args)
        except Exception as exc:
            t1 = pc()
            starts[i] = t0
            ends[i] = t1
            buf.note_error(i, exc)
        else:
            t1 = pc()
            starts[i] = t0
            ends[i] = t1
        i += 1
        if t1 >= deadline:
            break
    buf.n = i


def _identity_args(*args: Any) -> tuple[Any, ...]:
    return args


def _identity(value: Any) -> Any:
    return value
