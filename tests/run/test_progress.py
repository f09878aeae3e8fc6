"""SweepProgress on a fake terminal driven by a fake clock, so every drawn line is exact; and a sweep
in this process drawing it on a fake terminal, or not when quiet."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import raybench
from raybench.run.progress import MIN_REDRAW_S, SweepProgress
from raybench.testing import make_simulated_device

REDRAW = "\r\x1b[K"
LABEL = "n_models=2 workers=1 batch=8 pipeline=1"


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal and keeps everything written to it."""

    def isatty(self) -> bool:
        return True


class BrokenPipe(FakeTerminal):
    """A terminal whose reader went away: every write fails as a closed pipe does."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


class FakeClock:
    """A clock that stands still until a test sets ``now``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # shutil.get_terminal_size reads COLUMNS first: a fixed width makes the lines exact.
    monkeypatch.setenv("COLUMNS", "200")


def screen(out: FakeTerminal) -> str:
    """What the terminal shows on the live line: the text after the last redraw."""
    return out.getvalue().rsplit("\n", 1)[-1].rsplit(REDRAW, 1)[-1]


def permanent_lines(out: FakeTerminal) -> list[str]:
    """The lines that stay on the terminal: each ended by a newline, as last redrawn."""
    return [line.rsplit(REDRAW, 1)[-1] for line in out.getvalue().split("\n")[:-1]]


def make(n_configs: int) -> tuple[SweepProgress, FakeTerminal, FakeClock]:
    out, clock = FakeTerminal(), FakeClock()
    return SweepProgress(n_configs, stream=out, clock=clock), out, clock


def run_config(progress: SweepProgress, clock: FakeClock, index: int, planned_s: float, took_s: float) -> None:
    """One config started now that finishes ``took_s`` seconds later."""
    progress.config_started(index, f"config-{index}", planned_s)
    clock.now += took_s
    progress.config_finished("finished", 1000.0, 0.5, 0.9)


# --- the bar and the ETA ---------------------------------------------------------------------


def test_the_bar_is_drawn_at_once_with_an_unknown_eta() -> None:
    _, out, _ = make(8)
    assert out.getvalue() == f"{REDRAW}[..........] 0/8 configs  ETA --"


def test_a_started_config_gives_the_eta_from_the_planned_seconds() -> None:
    progress, out, clock = make(3)
    progress.config_started(0, LABEL, 30.0)
    clock.now = 10.0
    progress.update(elapsed_s=9.0, infs=3700, throughput=12345.0, p50_ms=0.81)
    # 20 s left of this config + 2 more configs of (assumed) 30 s each, ratio 1 until one finished.
    assert screen(out) == f"[..........] 0/3 configs  ETA 1:20 | config 1: {LABEL}  9.0 s  12,345 samples/s  p50 0.81 ms"


def test_finished_configs_fill_the_bar_and_correct_the_eta_by_actual_over_planned() -> None:
    progress, out, clock = make(4)
    run_config(progress, clock, 0, planned_s=10.0, took_s=20.0)
    # Took twice its plan: the 3 configs left are expected to take 3 * 10 s * 2.
    assert screen(out) == "[##........] 1/4 configs  ETA 1:00"


def test_the_eta_counts_down_while_a_config_runs() -> None:
    progress, out, clock = make(4)
    run_config(progress, clock, 0, planned_s=10.0, took_s=20.0)
    progress.config_started(1, LABEL, 10.0)
    clock.now += 5.0
    progress.update(elapsed_s=1.5, infs=100, throughput=None, p50_ms=None)
    # This config: 10 s * 2 - 5 s = 15 s left; then 2 configs of 20 s each.
    assert screen(out) == f"[##........] 1/4 configs  ETA 0:55 | config 2: {LABEL}  1.5 s  100 inf"


def test_an_eta_of_an_hour_or_more_shows_hours() -> None:
    progress, out, _ = make(1)
    progress.config_started(0, "long", 3725.0)
    assert screen(out) == "[..........] 0/1 configs  ETA 1:02:05 | config 1: long"


def test_a_config_over_its_planned_time_leaves_only_the_other_configs_in_the_eta() -> None:
    progress, out, clock = make(2)
    progress.config_started(0, "slow", 10.0)
    clock.now = 25.0
    progress.update(elapsed_s=24.0, infs=0, throughput=None, p50_ms=None)
    assert screen(out) == "[..........] 0/2 configs  ETA 0:10 | config 1: slow  24.0 s"


def test_a_finished_sweep_shows_a_full_bar_and_no_time_left() -> None:
    progress, out, clock = make(2)
    run_config(progress, clock, 0, planned_s=10.0, took_s=12.0)
    run_config(progress, clock, 1, planned_s=10.0, took_s=12.0)
    assert screen(out) == "[##########] 2/2 configs  ETA 0:00"


# --- throttling ------------------------------------------------------------------------------


def test_updates_redraw_at_most_every_min_redraw_s() -> None:
    progress, out, clock = make(1)
    progress.config_started(0, "a", 10.0)
    draws = out.getvalue().count(REDRAW)
    for now in (0.05, MIN_REDRAW_S, 0.15, 0.19, 0.2, 0.25):
        clock.now = now
        progress.update(elapsed_s=now, infs=1, throughput=10.0, p50_ms=1.0)
    # Drawn at 0.1 and 0.2 only: each is at least MIN_REDRAW_S after the draw before it.
    assert out.getvalue().count(REDRAW) - draws == 2
    assert screen(out).endswith("  0.2 s  10 samples/s  p50 1 ms")


def test_started_and_finished_redraw_even_right_after_an_update() -> None:
    progress, out, clock = make(2)
    progress.config_started(0, "a", 10.0)
    clock.now = 10.0
    progress.update(elapsed_s=9.0, infs=0, throughput=None, p50_ms=None)
    before = out.getvalue().count(REDRAW)  # the clock stands still from here on
    progress.config_finished("finished", 1.0, 1.0, 1.0)
    progress.config_started(1, "b", 10.0)
    assert out.getvalue().count(REDRAW) - before == 3  # the summary line, the bar, the bar again
    assert screen(out) == "[#####.....] 1/2 configs  ETA 0:10 | config 2: b"


# --- permanent lines -------------------------------------------------------------------------


def test_each_finished_config_leaves_a_summary_line_above_the_bar() -> None:
    progress, out, clock = make(3)
    progress.config_started(0, LABEL, 10.0)
    clock.now = 12.5
    progress.config_finished("finished", 12345.6, 0.81, 1.234)
    progress.config_started(1, "second", 10.0)
    clock.now = 14.0
    progress.config_finished("error", None, None, None)
    assert permanent_lines(out) == [
        f"config 1/3 finished: {LABEL}  12,346 samples/s  p50 0.81 ms  p99 1.23 ms  took 12.5 s",
        "config 2/3 error: second  N/A samples/s  p50 N/A ms  p99 N/A ms  took 1.5 s",
    ]
    # 14 s for 20 planned (the error ended early): the last config is expected to take 10 s * 0.7.
    assert screen(out) == "[######....] 2/3 configs  ETA 0:07"


def test_a_config_finished_without_being_started_still_counts() -> None:
    progress, out, _ = make(2)
    progress.config_finished("error", None, None, None)
    assert permanent_lines(out) == ["config 1/2 error:   N/A samples/s  p50 N/A ms  p99 N/A ms  took 0.0 s"]
    assert screen(out) == "[#####.....] 1/2 configs  ETA --"


# --- width -----------------------------------------------------------------------------------


def test_a_long_label_is_shortened_so_the_figures_stay_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    progress, out, clock = make(8)
    progress.config_started(3, LABEL, 10.0)
    clock.now = 3.5
    progress.update(elapsed_s=3.1, infs=38000, throughput=12345.0, p50_ms=0.81)
    # 6.5 s left of 10 + 7 configs of 10 s = 76.5 s, shown as 1:17. One column short of the terminal's width,
    # so the terminal never wraps the line.
    assert screen(out) == (
        "[..........] 0/8 configs  ETA 1:17 | config 4: n_models=2 ...  3.1 s  12,345 samples/s  p50 0.81 ms"
    )
    assert len(screen(out)) == 99


def test_a_finished_config_line_fits_80_columns_with_its_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    progress, out, clock = make(8)
    progress.config_started(3, LABEL, 10.0)
    clock.now = 12.5
    progress.config_finished("finished", 12345.6, 0.81, 1.234)
    assert permanent_lines(out) == [f"config 4/8 finished: {LABEL}",
                                    "  12,346 samples/s  p50 0.81 ms  p99 1.23 ms  took 12.5 s"]


def test_a_terminal_narrower_than_the_figures_cuts_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "20")
    progress, out, clock = make(8)
    progress.config_started(3, LABEL, 10.0)
    clock.now = 1.0
    progress.update(elapsed_s=3.1, infs=38000, throughput=12345.0, p50_ms=0.81)
    assert screen(out) == "[..........] 0/8 co"


# --- when nothing is drawn -------------------------------------------------------------------


def drive(progress: SweepProgress) -> None:
    """Every display call of a short sweep."""
    with progress:
        progress.config_started(0, LABEL, 10.0)
        progress.update(elapsed_s=1.0, infs=10, throughput=10.0, p50_ms=1.0)
        progress.config_finished("finished", 10.0, 1.0, 2.0)


def test_nothing_is_written_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    progress = SweepProgress(1, stream=out, clock=FakeClock())
    drive(progress)
    assert out.getvalue() == ""
    assert not progress.enabled


def test_nothing_is_written_when_disabled_on_a_terminal() -> None:
    out = FakeTerminal()
    drive(SweepProgress(1, stream=out, enabled=False, clock=FakeClock()))
    assert out.getvalue() == ""


def test_enabled_true_draws_on_a_stream_that_is_not_a_terminal() -> None:
    out = io.StringIO()
    drive(SweepProgress(1, stream=out, enabled=True, clock=FakeClock()))
    assert out.getvalue().endswith("[##########] 1/1 configs  ETA 0:00\n")


def test_the_default_stream_is_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    err = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", err)
    SweepProgress(2, clock=FakeClock())
    assert screen(err) == "[..........] 0/2 configs  ETA --"


# --- closing ---------------------------------------------------------------------------------


def test_close_ends_the_line_once_and_silences_later_calls() -> None:
    progress, out, _ = make(2)
    progress.close()
    progress.close()
    progress.config_started(0, "a", 1.0)
    assert out.getvalue() == f"{REDRAW}[..........] 0/2 configs  ETA --\n"
    assert not progress.enabled


def test_the_context_manager_closes_on_exit() -> None:
    out = FakeTerminal()
    drive(SweepProgress(1, stream=out, clock=FakeClock()))
    assert out.getvalue().endswith("\n")
    assert permanent_lines(out)[-1] == "[##########] 1/1 configs  ETA 0:00"


# --- broken streams --------------------------------------------------------------------------


def test_a_closed_stream_disables_the_display_without_raising() -> None:
    progress, out, _ = make(1)
    out.close()
    drive(progress)
    assert not progress.enabled


def test_a_stream_closed_before_construction_counts_as_no_terminal() -> None:
    out = FakeTerminal()
    out.close()
    progress = SweepProgress(1, stream=out, clock=FakeClock())
    drive(progress)
    assert not progress.enabled


def test_a_broken_pipe_disables_the_display_without_raising() -> None:
    progress = SweepProgress(1, stream=BrokenPipe(), clock=FakeClock())
    assert not progress.enabled
    drive(progress)


# --- the sweep draws it, unless quiet ---------------------------------------------------------


@pytest.mark.integration  # a half-second benchmark in this process
@pytest.mark.parametrize("verbosity", [0, 1])
def test_a_sweep_on_a_terminal_draws_progress_unless_quiet(monkeypatch: pytest.MonkeyPatch, verbosity: int) -> None:
    """verbosity=0 (the CLI's --quiet) leaves a terminal's stderr without the progress line."""
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    (report,) = raybench.cpu.benchmark(make_simulated_device(0.001), np.zeros(1), batch_sizes=1, n_models=1,
                                       workers_per_model=1, duration=0.5, multiprocess=False, verbosity=verbosity)
    assert report["status"] == "finished", report["error"]
    drawn = terminal.getvalue()
    if verbosity:
        assert REDRAW in drawn and "config 1/1" in drawn, drawn
    else:
        assert drawn == ""
