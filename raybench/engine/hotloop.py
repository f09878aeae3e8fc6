"""The per-inference loops: the only code that runs once per measured inference.

Each loop runs in a worker thread for one *burst*: it calls the model until ``deadline``
(a ``perf_counter_ns`` value) or until the buffer is full, writing integer nanosecond stamps into
preallocated numpy arrays, and returns how far it got. No allocation, no locking, no Python
object per inference beyond what the model itself returns. A model exception is recorded in the
row (``ok = False``) and the loop goes on: the ``try`` wraps the whole ``for`` so it costs nothing
while the model does not raise. ``SystemExit`` and a ``KeyboardInterrupt`` raised by the model in
a worker thread are its errors too; only a real Ctrl-C and cancellation propagate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

import numpy as np

from raybench.core.errors import is_control_flow

#: The stage columns of a staged loop (preprocess and/or postprocess around the model call).
STAGED_COLUMNS = ("preprocess_ns", "infer_ns", "postprocess_ns")


class TimerBuffer:
    """Preallocated columns for one worker: reused burst after burst, never reallocated.

    Args:
        capacity: Rows. ``capacity`` may later be lowered to stop a burst after fewer rows
            (warmup by count); the arrays keep their size.
        with_stages: Allocate the staged loop's stage columns.
        stage_names: Allocate exactly these stage columns instead (the fed loop's).
    """

    def __init__(self, capacity: int, with_stages: bool = False, stage_names: tuple[str, ...] | None = None,
                 stream: bool = False, token_counts: bool = False) -> None:
        # Stage columns exist only when a preprocess/postprocess stage exists.
        if stage_names is None:
            stage_names = STAGED_COLUMNS if with_stages else ()
        self._stage_names = stage_names
        # A streaming model's chunks: their arrival stamps, one flat array for the buffer's
        # calls (each call's count in ``chunk_counts``), and their token counts if chunks may
        # carry several. None for a model that does not stream.
        self._stream, self._token_counts = stream, token_counts
        self.chunk_ns: np.ndarray | None = None
        self.chunk_tokens: np.ndarray | None = None
        self.chunk_counts: np.ndarray | None = None
        self.n_chunks = 0
        self.resize(capacity)
        self.n = 0
        self.n_errors = 0
        self.first_error: str | None = None
        self.ended = False  # the fed loop ran out of work (dataset exhausted, schedule over)

    def resize(self, rows: int) -> None:
        """Reallocate every column for ``rows`` rows (the rows held are dropped: call it when the
        buffer is empty, between bursts)."""
        self.capacity = rows
        # np.ones, not np.zeros: zeros come from calloc and would page-fault on first write,
        # inside the measured loop; ones are written (and so faulted in) here.
        self.starts = np.ones(rows, np.int64)
        self.ends = np.ones(rows, np.int64)
        self.ok = np.ones(rows, np.bool_)
        self.stages: dict[str, np.ndarray] | None = (
            {name: np.ones(rows, np.int64) for name in self._stage_names} if self._stage_names else None
        )
        self.n = 0
        self.n_chunks = 0
        if self._stream:
            self.chunk_counts = np.ones(rows, np.int32)
            self.resize_chunks(max(rows, self.chunk_ns.size if self.chunk_ns is not None else 0))

    def resize_chunks(self, chunks: int) -> None:
        """Room for ``chunks`` chunk stamps (the ones held are kept)."""
        held = self.n_chunks
        stamps = np.ones(chunks, np.int64)
        if self.chunk_ns is not None and held:
            stamps[:held] = self.chunk_ns[:held]
        self.chunk_ns = stamps
        if self._token_counts:
            tokens = np.ones(chunks, np.int32)
            if self.chunk_tokens is not None and held:
                tokens[:held] = self.chunk_tokens[:held]
            self.chunk_tokens = tokens

    def more_chunks(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Double the chunk room in the middle of a call (a stream longer than planned: rare,
        and the one allocation a streaming loop may make); return the new arrays."""
        assert self.chunk_ns is not None  # only a streaming buffer has chunks
        self.resize_chunks(2 * self.chunk_ns.size)
        return self.chunk_ns, self.chunk_tokens

    @property
    def rows(self) -> int:
        """The rows the columns have room for (``capacity`` may be set lower for a burst)."""
        return int(self.starts.size)

    def clear(self) -> None:
        """Forget the rows (after they were shipped)."""
        if self.n_errors:
            self.ok[: self.n] = True
        self.n = 0
        self.n_chunks = 0
        self.n_errors = 0
        self.first_error = None
        self.ended = False

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
        except BaseException as exc:  # the model's error is data (SystemExit too): record it, go on
            if is_control_flow(exc):
                raise
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
        except BaseException as exc:
            if is_control_flow(exc):
                raise
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
        except BaseException as exc:
            if is_control_flow(exc):  # our own cancellation, or a real Ctrl-C in the calling process
                raise
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


@dataclass(frozen=True)
class Feed:
    """Where the fed loop's calls come from (see :mod:`raybench.engine.feeds`).

    Attributes:
        next_item: Returns the next dataset item (raises ``DatasetExhausted`` at the end), or
            None for the fixed ``args``.
        take_slot: Returns the next scheduled send time (``perf_counter_ns``) given the current
            time, or None when the schedule is over; None for a closed loop.
        args: The fixed input, when there is no dataset.
        prepare: Turns the model's input tuple into what it is called with (the backend's
            device placement).
        exhausted: The exception ``next_item`` raises at the end of the data.
    """

    next_item: Callable[[], Any] | None
    take_slot: Callable[[int], int | None] | None
    args: tuple[Any, ...] = ()
    prepare: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
    exhausted: type[BaseException] = StopIteration


def run_fed_burst(
    model: Callable[..., Any], feed: Feed, buf: TimerBuffer, deadline: int, stages: Stages,
    consume: Callable[[Any, TimerBuffer, int], None] | None = None,
) -> None:
    """Dataset items and/or open-loop sends: one call per item or scheduled slot (slower per call
    than the fixed-input loops: a lock per item or slot, one ``try`` per call). Open loop: the
    row's ``start_ns`` is the *scheduled* send time, so latency counts the time a send waited for
    a free worker (no coordinated omission), and ``queue_ns`` records that wait (0 without a
    schedule). A dataset item goes to ``preprocess(item)``; without one, a tuple item is unpacked
    into the call. ``input_ns`` is fetching the item (outside the latency without a schedule). A
    stream is read to its end by ``consume(stream, buf, row)`` (``streaming.consume_stream``)."""
    pc = perf_counter_ns
    sleep = time.sleep
    columns = buf.stages
    assert columns is not None  # a fed buffer always has stage columns; an internal invariant
    queue_ns, input_ns = columns.get("queue_ns"), columns.get("input_ns")
    pre_ns, infer_ns, post_ns = columns.get("preprocess_ns"), columns["infer_ns"], columns.get("postprocess_ns")
    pre, post, prepare = stages.preprocess, stages.postprocess, feed.prepare
    next_item, take_slot = feed.next_item, feed.take_slot
    starts, ends, cap = buf.starts, buf.ends, buf.capacity
    i = buf.n
    if take_slot is None and queue_ns is not None:  # a closed loop on open-loop copies: no send waits
        queue_ns[i:cap], queue_ns = 0, None  # zeroed once, not tested on every call
    while i < cap:
        due = 0
        if take_slot is not None:
            now = pc()
            slot = take_slot(now)
            if slot is None:
                buf.ended = True
                break
            due = slot
            if due > now:
                sleep((due - now) / 1e9)
        t_in = pc()
        try:
            if next_item is not None:
                try:
                    item = next_item()
                except feed.exhausted:
                    buf.ended = True
                    break
                t0 = pc()
                x = pre(item) if pre is not None else item
                args = x if type(x) is tuple else (x,)
            else:
                t0 = t_in
                args = pre(*feed.args) if pre is not None else feed.args
                if type(args) is not tuple:
                    args = (args,)
            if prepare is not None:
                args = prepare(args)
            t1 = pc()
            y = model(*args)
            if consume is not None:
                consume(y, buf, i)
            t2 = pc()
            if post is not None:
                post(y)
            t3 = pc()
        except BaseException as exc:  # the model's (or the data's) error is data: record it, go on
            if is_control_flow(exc):
                raise
            t3 = pc()
            _fed_error_row(buf, i, exc, due if take_slot is not None else t_in, t3, t_in - due if take_slot is not None else 0)
            i += 1
            if t3 >= deadline:
                break
            continue
        starts[i] = due if take_slot is not None else t0
        ends[i] = t3
        if queue_ns is not None:
            queue_ns[i] = t_in - due
        if input_ns is not None:
            input_ns[i] = t0 - t_in
        if pre_ns is not None:
            pre_ns[i] = t1 - t0
        infer_ns[i] = t2 - t1
        if post_ns is not None:
            post_ns[i] = t3 - t2
        i += 1
        if t3 >= deadline:
            break
    buf.n = i


def _fed_error_row(buf: TimerBuffer, i: int, exc: BaseException, start: int, end: int, queue: int) -> None:
    """Row ``i`` of a fed call that raised: its start, end and send delay kept, its other stage
    columns zero (as the staged loop's error rows)."""
    buf.note_error(i, exc)
    buf.starts[i] = start
    buf.ends[i] = end
    if buf.chunk_counts is not None:  # a call that raised keeps no chunks
        buf.chunk_counts[i] = 0
    for name, column in (buf.stages or {}).items():
        column[i] = queue if name == "queue_ns" else 0


def _identity_args(*args: Any) -> tuple[Any, ...]:
    return args


def _identity(value: Any) -> Any:
    return value
