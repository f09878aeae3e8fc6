"""Live progress of a sweep: one status line on the terminal, redrawn in place, with a permanent
summary line per finished config. Quiet unless the stream is a terminal, so CI logs and
redirected output get no control characters."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

#: Redraw the live line at most this often: faster is unreadable and makes slow terminals lag.
MIN_REDRAW_S = 0.1
BAR_WIDTH = 10
#: Back to column 0 and erase to the end of the line, so a shorter line leaves no leftovers.
_REDRAW = "\r\x1b[K"


@dataclass
class _Running:
    """The config being measured and its latest live figures, formatted."""

    index: int
    label: str
    planned_s: float
    started_s: float
    figures: str = ""


class SweepProgress:
    """A progress line for a sweep: a bar, configs done, ETA, and the running config's figures.

    Every method is a cheap no-op when disabled; none raises because of the stream: a failed
    write (closed stream, broken pipe) disables the display. A context manager closes it on exit.

    Args:
        n_configs: Number of configs in the sweep.
        stream: Where to draw; defaults to ``sys.stderr`` (read at construction).
        enabled: Draw or not; None means "if ``stream`` is a terminal".
        clock: Seconds from a monotonic clock; inject a fake one to test.
        unit: What each step is (``"probe"`` for a capacity search).
        at_most: ``n_configs`` is a bound, not a count (a search ends when it has its answer).
    """

    def __init__(self, n_configs: int, *, stream: TextIO | None = None, enabled: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, unit: str = "config", at_most: bool = False) -> None:
        self._unit = unit
        self._at_most = at_most
        self._of = f"/<={max(n_configs, 0)}" if at_most else f"/{max(n_configs, 0)}"
        self._stream = sys.stderr if stream is None else stream
        try:
            is_terminal = bool(self._stream.isatty())
        except (AttributeError, OSError, ValueError):  # no isatty(), or a closed stream
            is_terminal = False
        self._enabled = is_terminal if enabled is None else bool(enabled)
        self._clock = clock
        self._n = max(n_configs, 0)
        # The runner may poll live figures from a helper thread while its main thread reports
        # started/finished: one lock keeps their writes from interleaving mid-line.
        self._lock = threading.Lock()
        self._done = 0
        self._planned_done_s = 0.0  # planned seconds of the finished configs, and what they
        self._actual_done_s = 0.0  # actually took (load and warmup too): the ratio corrects the ETA
        self._planned_seen_s = 0.0  # planned seconds of every config started so far
        self._n_seen = 0
        self._current: _Running | None = None
        self._last_draw_s = 0.0
        if self._enabled:
            self._draw(clock())

    @property
    def enabled(self) -> bool:
        """Whether anything is drawn; the runner can skip gathering live figures when not."""
        return self._enabled

    def config_started(self, index: int, label: str, planned_s: float) -> None:
        """Show a config as running.

        Args:
            index: The config's 0-based position in the sweep.
            label: What the config is, e.g. ``"n_models=2 workers=1 batch=8 pipeline=1"``.
            planned_s: Expected seconds of the config, load and warmup included.
        """
        with self._lock:  # the check under the lock also sees a close() from another thread
            if not self._enabled:
                return
            now = self._clock()
            self._current = _Running(index, label, float(planned_s) if planned_s > 0 else 0.0, now)
            self._planned_seen_s += self._current.planned_s
            self._n_seen += 1
            self._draw(now)

    def update(self, *, elapsed_s: float, infs: int, throughput: float | None, p50_ms: float | None) -> None:
        """Show the running config's live figures, redrawing at most every ``MIN_REDRAW_S``.

        Args:
            elapsed_s: Seconds measured so far.
            infs: Inferences streamed to the collector so far.
            throughput: Live inferences per second, or None while unknown.
            p50_ms: Live median latency in ms, or None while unknown.
        """
        with self._lock:
            if not self._enabled or self._current is None:
                return
            figures = f"{elapsed_s:.1f} s"
            if throughput is not None:
                figures += f"  {_fig(throughput, 'samples/s')}"
            elif infs:  # batches arrived, but too few for a rate yet
                figures += f"  {infs:,} inf"
            if p50_ms is not None:
                figures += f"  p50 {_fig(p50_ms, 'ms')}"
            self._current.figures = figures
            if (now := self._clock()) - self._last_draw_s >= MIN_REDRAW_S:
                self._draw(now)

    def config_finished(self, status: str, throughput: float | None, p50_ms: float | None,
                        p99_ms: float | None) -> None:
        """Print one permanent line summarising the running config above the bar; redraw the bar.

        Args:
            status: How the config ended (``"finished"``, ``"error"``, ``"timeout"``).
            throughput: Its average inferences per second, or None.
            p50_ms: Its median latency in ms, or None.
            p99_ms: Its 99th percentile latency in ms, or None.
        """
        with self._lock:
            if not self._enabled:
                return
            now = self._clock()
            # A config reported finished without having started still counts as done.
            run = self._current or _Running(self._done, "", 0.0, now)
            self._current = None
            self._done += 1
            self._planned_done_s += run.planned_s
            self._actual_done_s += now - run.started_s
            head = f"{self._unit} {run.index + 1}{self._of} {status}: {run.label}"
            figures = (f"  {_fig(throughput, 'samples/s')}  p50 {_fig(p50_ms, 'ms')}  "
                       f"p99 {_fig(p99_ms, 'ms')}  took {now - run.started_s:.1f} s")
            # A line that would not fit keeps every word: the figures go on a line of their own.
            summary = head + figures if len(head + figures) <= _width() else f"{head}\n{figures}"
            self._draw(now, above=f"{_REDRAW}{summary}\n")

    def note(self, text: str) -> None:
        """Print ``text`` as a permanent line above the bar (a message that must not be lost in
        the redrawn line, e.g. "still loading copy 0 (30 s)...")."""
        with self._lock:
            if self._enabled:
                self._draw(self._clock(), above=f"{_REDRAW}{text}\n")

    def close(self) -> None:
        """Leave the last line as drawn and move to a fresh line; later calls do nothing."""
        with self._lock:
            if self._enabled:
                self._write("\n")
                self._enabled = False

    def __enter__(self) -> SweepProgress:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _draw(self, now: float, above: str = "") -> None:
        """Redraw the line after ``above``, in one write so both show at once (callers hold the lock)."""
        self._last_draw_s = now
        filled = BAR_WIDTH * min(self._done, self._n) // self._n if self._n else BAR_WIDTH
        head = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self._done}{self._of} {self._unit}s  {self._eta(now)}"
        width = _width()
        run = self._current
        if run is not None:
            head = _fit_label(f"{head} | {self._unit} {run.index + 1}: ", run.label, f"  {run.figures}".rstrip(), width)
        self._write(above + _REDRAW + head[:width])

    def _eta(self, now: float) -> str:
        """``ETA m:ss``: planned seconds left, scaled by actual/planned of the finished configs."""
        if self._n_seen == 0:
            return "ETA --"  # no config has told its plan yet
        ratio = self._actual_done_s / self._planned_done_s if self._planned_done_s > 0 else 1.0
        not_started, left_s = self._n - self._done, 0.0
        if self._current is not None:
            not_started -= 1
            left_s = max(self._current.planned_s * ratio - (now - self._current.started_s), 0.0)
        # Configs not started yet have not told their plan: assume the mean of those seen.
        left = _hms(left_s + max(not_started, 0) * (self._planned_seen_s / self._n_seen) * ratio)
        return f"ETA <={left}" if self._at_most else f"ETA {left}"

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            # A closed stream or a broken pipe must not fail the benchmark: stop drawing.
            self._enabled = False


def _width() -> int:
    """Columns to draw in: one short of the terminal's, since writing the last column makes some
    terminals wrap; 80 when the size is unknown."""
    return max(shutil.get_terminal_size(fallback=(80, 24)).columns - 1, 1)


def _fit_label(head: str, label: str, tail: str, width: int) -> str:
    """``head + label + tail`` in ``width`` columns, shortening the label first: the figures after
    it matter more. What is still too long is cut at the end."""
    room = width - len(head) - len(tail)
    if len(label) > room:
        label = label[: room - 3] + "..." if room > 3 else ""
    return (head + label + tail)[:width]


def _fig(value: float | None, unit: str) -> str:
    if value is None:
        return f"N/A {unit}"
    # Three significant digits is all a live figure can claim; thousands get separators.
    return f"{value:,.0f} {unit}" if abs(value) >= 100 else f"{value:.3g} {unit}"


def _hms(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)  # half up; round() would go to even
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
