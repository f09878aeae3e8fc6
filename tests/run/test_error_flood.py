"""What a sweep says when configs fail: one line per config, a stop when they all fail alike,
and a warning for a config that never converged."""

from __future__ import annotations

import numpy as np
import pytest

import raybench
from raybench.core.errors import SweepStopped, one_line

TRACEBACK = """The following operation failed in the TorchScript interpreter.
Traceback of TorchScript, serialized code (most recent call last):
  File "code/__torch__/torch/nn/modules/conv.py", line 23, in forward
    input: Tensor) -> Tensor:
    _0 = __torch__.torch.nn.modules.conv.Conv2d._conv_forward
    ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ <--- HERE
RuntimeError: Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [1, 10]"""


class WrongShape:
    """Raises what a TorchScript model given the wrong input shape raises: a long traceback."""

    def __call__(self, x):
        raise RuntimeError(TRACEBACK)


class FailsBySize:
    """Fails one way on a one-sample input, another way on larger ones."""

    def __call__(self, x):
        raise ValueError("first kind") if np.size(x) == 1 else ValueError("second kind")


def test_one_line_keeps_the_lead_in_and_the_raised_exception():
    line = one_line(f"model raised during warmup: RuntimeError: {TRACEBACK}")
    assert line == ("model raised during warmup: RuntimeError: Expected 3D (unbatched) or 4D (batched) input to "
                    "conv2d, but got input of size: [1, 10]")
    assert one_line("ValueError: bad") == "ValueError: bad"
    assert one_line("copy 0 died: killed\nby the OOM killer") == "copy 0 died: killed ... by the OOM killer"
    assert one_line("model raised during warmup: KeyError: 'x'\n  more text") == \
        "model raised during warmup: KeyError: more text"
    assert one_line(None) is None


def test_a_sweep_failing_alike_stops_after_two_configs_with_that_error(raybench_log):
    with pytest.raises(SweepStopped) as caught:
        raybench.cpu.benchmark(WrongShape, np.zeros(1), batch_sizes=1, n_models=[1, 2], workers_per_model=[1, 2],
                               duration=1, multiprocess=False)
    assert caught.value.n_configs == 2
    assert caught.value.error.endswith("but got input of size: [1, 10]") and "\n" not in caught.value.error
    assert "keep_going=True runs every config" in str(caught.value)
    failures = [r.getMessage() for r in raybench_log.records if "failed (error)" in r.getMessage()]
    assert len(failures) == 2 and failures[1].endswith("the same error as the config before")
    assert all("\n" not in message for message in failures)


def test_keep_going_runs_every_config_and_the_outcome_keeps_the_whole_message():
    results = raybench.cpu.benchmark(WrongShape, np.zeros(1), batch_sizes=1, n_models=[1, 2], workers_per_model=[1, 2],
                                     duration=1, multiprocess=False, keep_going=True, return_timers=True, verbosity=0)
    reports = raybench.get_reports(results)
    assert len(reports) == 4 and all(r["status"] == "error" for r in reports)
    assert all("\n" not in r["error"] and r["error"].endswith("[1, 10]") for r in reports)
    assert all("Traceback of TorchScript" in outcome.error for outcome in results.outcomes)


def test_configs_failing_differently_do_not_stop_the_sweep():
    inputs = [np.zeros(1), np.zeros(2), np.zeros(3)]
    reports = raybench.cpu.benchmark(FailsBySize, inputs, batch_sizes=[1, 2, 3], n_models=1, workers_per_model=1,
                                     duration=1, multiprocess=False, verbosity=0)
    assert len(reports) == 3 and reports[0]["error"] != reports[1]["error"] == reports[2]["error"]


def test_a_config_that_never_converged_is_warned_about(raybench_log):
    (report,) = raybench.cpu.benchmark(raybench.testing.SimulatedDevice, np.zeros(1), batch_sizes=1, n_models=1,
                                       workers_per_model=1, duration=1, stability=1e-6, max_duration=1.5,
                                       multiprocess=False)
    assert report["converged"] is False
    warnings = [r.getMessage() for r in raybench_log.records if "did not converge" in r.getMessage()]
    assert warnings == [f"config 1 did not converge: {report['error']}"]
