"""The loop a copy's workers call the model in, chosen once per copy.

Four kinds, behind one small interface (:class:`Loop`: ``burst(buf, deadline)`` and what the
buffers must hold):

- :class:`PlainLoop`: a fixed input, nothing around the call — the fastest.
- :class:`StagedLoop`: ``preprocess_fn``/``postprocess_fn`` around the call, timed apart.
- :class:`FedLoop`: dataset items and/or open-loop sends, one call per item or scheduled slot.
- :class:`AsyncLoop`: an ``async`` model, awaited on the copy's event loop (no thread hop).
- :class:`StreamLoop` / :class:`AsyncStreamLoop`: a model whose call returns a (async) stream
  of chunks, each chunk's arrival stamped (:mod:`raybench.engine.streaming`); a streaming model
  fed a dataset or open-loop sends goes through the fed loop, which reads its stream the same way.

A copy knows its kind when it is built (a dataset or an open-loop arrival makes it fed; stages
make it staged), when its model is loaded (an ``async def`` model) and at its first warmup (a
model that streams, unless ``streaming=`` said so); :class:`LoopPlan` holds that choice and
builds a config's loop from it, with that config's inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raybench.backends.base import is_async_model
from raybench.engine.hotloop import (
    STAGED_COLUMNS,
    Feed,
    Stages,
    TimerBuffer,
    run_async_burst,
    run_fed_burst,
    run_plain_burst,
    run_staged_burst,
)
from raybench.engine.streaming import TokenCounter, consume_stream, run_async_stream_burst, run_stream_burst


class Loop:
    """One config's way of calling the model: ``burst(buf, deadline)`` calls it until
    ``deadline`` (``perf_counter_ns``) or a full buffer, writing one row per call."""

    #: The burst is a coroutine, awaited on the copy's event loop rather than run in a thread.
    is_async = False

    def burst(self, buf: TimerBuffer, deadline: int) -> Any:
        """Run one burst into ``buf``."""
        raise NotImplementedError


class PlainLoop(Loop):
    def __init__(self, model: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._model, self._args = model, args

    def burst(self, buf: TimerBuffer, deadline: int) -> None:
        run_plain_burst(self._model, self._args, buf, deadline)


class StagedLoop(Loop):
    def __init__(self, model: Callable[..., Any], args: tuple[Any, ...], stages: Stages) -> None:
        self._model, self._args, self._stages = model, args, stages

    def burst(self, buf: TimerBuffer, deadline: int) -> None:
        run_staged_burst(self._model, self._args, buf, deadline, self._stages)


class FedLoop(Loop):
    def __init__(self, model: Callable[..., Any], feed: Feed, stages: Stages,
                 consume: Callable[[Any, TimerBuffer, int], None] | None = None) -> None:
        self._model, self._feed, self._stages, self._consume = model, feed, stages, consume

    def burst(self, buf: TimerBuffer, deadline: int) -> None:
        run_fed_burst(self._model, self._feed, buf, deadline, self._stages, self._consume)


class StreamLoop(Loop):
    def __init__(self, model: Callable[..., Any], args: tuple[Any, ...], count_tokens: TokenCounter | None) -> None:
        self._model, self._args, self._count_tokens = model, args, count_tokens

    def burst(self, buf: TimerBuffer, deadline: int) -> None:
        run_stream_burst(self._model, self._args, buf, deadline, self._count_tokens)


class AsyncStreamLoop(StreamLoop):
    is_async = True

    async def burst(self, buf: TimerBuffer, deadline: int) -> None:  # type: ignore[override]
        await run_async_stream_burst(self._model, self._args, buf, deadline, self._count_tokens)


class AsyncLoop(Loop):
    is_async = True

    def __init__(self, model: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._model, self._args = model, args

    async def burst(self, buf: TimerBuffer, deadline: int) -> None:
        await run_async_burst(self._model, self._args, buf, deadline)


#: The stage columns every fed loop may record, in the order the wire and the timers keep them.
FED_COLUMNS = ("queue_ns", "input_ns", "preprocess_ns", "infer_ns", "postprocess_ns")


@dataclass(frozen=True)
class LoopPlan:
    """A copy's choice of loop, made once, and the columns its timer rows carry.

    Attributes:
        fed: Dataset items or open-loop sends (or stages around a streaming call) go through
            :class:`FedLoop`.
        stages: The user's pre/postprocess functions.
        buffer_columns: Stage columns of the worker buffers (none for the plain and async loops).
        wire_columns: Stage columns shipped to the collector (those the config really has).
        stream: The model's call returns a stream of chunks (:class:`StreamLoop`).
        async_stream: ... an async one (:class:`AsyncStreamLoop`).
        token_counts: Chunks may carry several tokens: each chunk's count is kept.
        count_tokens: The user's ``count_tokens(chunk)``, or None for the default.
    """

    fed: bool
    stages: Stages
    buffer_columns: tuple[str, ...]
    wire_columns: tuple[str, ...]
    stream: bool = False
    async_stream: bool = False
    token_counts: bool = False
    count_tokens: TokenCounter | None = None

    @classmethod
    def choose(cls, *, dataset: bool, open_loop: bool, stages: Stages, stream: bool = False,
               async_stream: bool = False, token_counts: bool = False,
               count_tokens: TokenCounter | None = None) -> LoopPlan:
        """The plan of a copy fed a dataset and/or open-loop sends, with or without stages, and
        whose model streams or not."""
        staged = stages.preprocess is not None or stages.postprocess is not None
        fed = dataset or open_loop or (stream and staged)
        present = {"queue_ns": open_loop, "input_ns": dataset, "preprocess_ns": stages.preprocess is not None,
                   "infer_ns": True, "postprocess_ns": stages.postprocess is not None}
        wire = tuple(name for name in FED_COLUMNS if present[name])
        if not fed and stream:
            wire = ()  # a plain streaming call: its stream columns are its stages
        buffer = wire if fed else (STAGED_COLUMNS if staged else ())
        return cls(fed, stages, buffer, wire, stream, async_stream, token_counts or count_tokens is not None,
                   count_tokens)

    def streaming(self, *, async_stream: bool, token_counts: bool) -> LoopPlan:
        """This plan for a model found to stream at its first warmup."""
        return LoopPlan.choose(dataset="input_ns" in self.wire_columns, open_loop="queue_ns" in self.wire_columns,
                               stages=self.stages, stream=True, async_stream=async_stream,
                               token_counts=token_counts, count_tokens=self.count_tokens)

    @property
    def staged(self) -> bool:
        return self.stages.preprocess is not None or self.stages.postprocess is not None

    def build(self, model: Callable[..., Any], feed: Feed) -> Loop:
        """One config's loop: the fed loop for ``feed``, else the fixed input ``feed.args``
        through the stream, async, staged or plain loop."""
        consume = functools.partial(consume_stream, count_tokens=self.count_tokens) if self.stream else None
        if self.fed:
            return FedLoop(model, feed, self.stages, consume)
        if self.stream:
            loop = AsyncStreamLoop if self.async_stream else StreamLoop
            return loop(model, feed.args, self.count_tokens)
        if self.staged:
            return StagedLoop(model, feed.args, self.stages)
        if is_async_model(model):
            return AsyncLoop(model, feed.args)
        return PlainLoop(model, feed.args)

    def new_buffer(self, rows: int) -> TimerBuffer:
        """An empty worker buffer with this plan's columns."""
        return TimerBuffer(rows, stage_names=self.buffer_columns, stream=self.stream, token_counts=self.token_counts)
