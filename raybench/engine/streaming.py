"""Streaming calls: a model whose call returns a generator or iterator (or an async generator)
of chunks, each chunk one or more output tokens.

The hot loops here are :mod:`raybench.engine.hotloop`'s plain and async loops with one more
step: the call's stream is read to its end, and the arrival of every chunk is stamped
(``perf_counter_ns``) into the buffer's preallocated flat ``chunk_ns`` array, the call's chunk
count into ``chunk_counts``. No Python object is made per chunk beyond what the model yields;
a chunk's token count is asked (``count_tokens(chunk)``) only when chunks may carry several.
A call that raises keeps no chunks (its row is an error row, left out of every figure).

How a copy knows its model streams: ``streaming=True``, or, by default, one probe call at the
copy's first warmup (:func:`probe_stream`, the warmup's first inference) whose result is an
iterator or async iterator; with ``warmup=0`` no call is made for it, and the model streams when
it is a generator function (:func:`declared_stream`).
"""

from __future__ import annotations

import asyncio
import collections.abc
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

from raybench.core.errors import is_control_flow
from raybench.engine.hotloop import TimerBuffer

#: ``count_tokens(chunk) -> int``.
TokenCounter = Callable[[Any], int]


def count_len(chunk: Any) -> int:
    """The default token count of a chunk: the length of a list, tuple, array or tensor (a 0-d
    array or tensor is one token); a string, a number or anything else is one token."""
    if isinstance(chunk, (str, bytes)):
        return 1
    try:
        return len(chunk)
    except TypeError:
        return 1


def carries_several(chunk: Any) -> bool:
    """Whether a chunk of this kind holds several tokens by default: a list, tuple, array or
    tensor does (its length); a string, a number or anything else is one token."""
    if isinstance(chunk, (str, bytes)):
        return False
    return isinstance(chunk, (list, tuple)) or hasattr(chunk, "shape")


@dataclass(frozen=True)
class StreamKind:
    """What one probe call said about a model.

    Attributes:
        streams: The call returned an iterator or an async iterator.
        is_async: It was an async iterator (an ``async def`` generator).
        several_tokens: Its first chunk was a list, array or tensor (one token per element).
    """

    streams: bool
    is_async: bool = False
    several_tokens: bool = False


def is_stream(result: Any) -> bool:
    """A call's result is a stream: an iterator (a generator too) or an async iterator. A list, a
    tensor or an array is iterable but no iterator, so it is one output, not a stream."""
    return isinstance(result, (collections.abc.Iterator, collections.abc.AsyncIterator))


def consume_stream(stream: Any, buf: TimerBuffer, row: int, count_tokens: TokenCounter | None = None) -> None:
    """Read ``stream`` to its end, stamping every chunk into ``buf`` as row ``row``'s chunks (the
    fed loop's step for a streaming model). On an exception the row keeps no chunks."""
    pc = perf_counter_ns
    stamps, tokens = buf.chunk_ns, buf.chunk_tokens
    assert stamps is not None and buf.chunk_counts is not None  # a streaming buffer
    first = j = buf.n_chunks
    room = stamps.size
    counter = count_tokens if count_tokens is not None else count_len
    try:
        for chunk in stream:
            t = pc()
            if j == room:
                stamps, tokens = buf.more_chunks()
                room = stamps.size
            stamps[j] = t
            if tokens is not None:
                tokens[j] = counter(chunk)
            j += 1
    except BaseException:
        buf.chunk_counts[row] = 0
        buf.n_chunks = first
        raise
    buf.chunk_counts[row] = j - first
    buf.n_chunks = j


def run_stream_burst(model: Callable[..., Any], args: tuple[Any, ...], buf: TimerBuffer, deadline: int,
                     count_tokens: TokenCounter | None = None) -> None:
    """Call a streaming ``model(*args)`` until ``deadline`` or a full buffer: one row per call
    (start, end after the last chunk) and one stamp per chunk."""
    pc = perf_counter_ns
    starts, ends, counts, cap = buf.starts, buf.ends, buf.chunk_counts, buf.capacity
    stamps, tokens = buf.chunk_ns, buf.chunk_tokens
    assert stamps is not None and counts is not None  # a streaming buffer
    room = stamps.size
    counter = count_tokens if count_tokens is not None else count_len
    i, j = buf.n, buf.n_chunks
    while i < cap:
        first = j
        t0 = pc()
        try:
            for chunk in model(*args):
                t = pc()
                if j == room:
                    buf.n_chunks = j
                    stamps, tokens = buf.more_chunks()
                    room = stamps.size
                stamps[j] = t
                if tokens is not None:
                    tokens[j] = counter(chunk)
                j += 1
            t1 = pc()
        except BaseException as exc:  # the model's error is data: record it, keep no chunks
            if is_control_flow(exc):
                raise
            t1 = pc()
            buf.note_error(i, exc)
            j = first
        starts[i] = t0
        ends[i] = t1
        counts[i] = j - first
        i += 1
        if t1 >= deadline:
            break
    buf.n, buf.n_chunks = i, j


async def run_async_stream_burst(model: Callable[..., Any], args: tuple[Any, ...], buf: TimerBuffer, deadline: int,
                                 count_tokens: TokenCounter | None = None) -> None:
    """The burst of a model whose call returns an async iterator, on the copy's event loop."""
    pc = perf_counter_ns
    starts, ends, counts, cap = buf.starts, buf.ends, buf.chunk_counts, buf.capacity
    stamps, tokens = buf.chunk_ns, buf.chunk_tokens
    assert stamps is not None and counts is not None  # a streaming buffer
    counter = count_tokens if count_tokens is not None else count_len
    i, j = buf.n, buf.n_chunks
    while i < cap:
        first = j
        t0 = pc()
        try:
            async for chunk in model(*args):
                t = pc()
                if j == stamps.size:
                    buf.n_chunks = j
                    stamps, tokens = buf.more_chunks()
                stamps[j] = t
                if tokens is not None:
                    tokens[j] = counter(chunk)
                j += 1
            t1 = pc()
        except BaseException as exc:
            if is_control_flow(exc):
                raise
            t1 = pc()
            buf.note_error(i, exc)
            j = first
        starts[i] = t0
        ends[i] = t1
        counts[i] = j - first
        i += 1
        if t1 >= deadline:
            break
    buf.n, buf.n_chunks = i, j


def declared_stream(model: Callable[..., Any], wanted: bool | None) -> StreamKind:
    """What a model is without calling it (a warmup of 0 calls): ``streaming=True``, or a
    generator function (an ``async def`` one too) as the model or its ``__call__``. The first
    chunk is not seen, so every chunk's tokens are counted (:func:`count_len`)."""
    call = model if inspect.isfunction(model) or inspect.ismethod(model) else getattr(type(model), "__call__", None)
    is_async = inspect.isasyncgenfunction(call)
    streams = bool(wanted) or is_async or inspect.isgeneratorfunction(call)
    return StreamKind(streams, is_async=is_async, several_tokens=streams)


def probe_stream(model: Callable[..., Any], args: tuple[Any, ...]) -> StreamKind:
    """Call the model once and say whether it streams, reading a stream to its end (an async one
    on an event loop of its own). Run in a worker thread, never on the copy's event loop.

    Raises:
        Exception: whatever the model raised (the warmup reports it).
    """
    result = model(*args)
    if inspect.iscoroutine(result):  # an ``async def`` model that returns, not a stream
        result.close()
        return StreamKind(False)
    if isinstance(result, collections.abc.AsyncIterator):
        first = asyncio.run(_drain_async(result))
        return StreamKind(True, is_async=True, several_tokens=carries_several(first))
    if not isinstance(result, collections.abc.Iterator):
        return StreamKind(False)
    first = _NOTHING
    for chunk in result:
        if first is _NOTHING:
            first = chunk
    return StreamKind(True, several_tokens=carries_several(first))


_NOTHING = object()


async def _drain_async(stream: Any) -> Any:
    """Read an async stream to its end; return its first chunk."""
    first = _NOTHING
    async for chunk in stream:
        if first is _NOTHING:
            first = chunk
    return first
