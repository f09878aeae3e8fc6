"""The burst loops: stamps, deadlines, full buffers, recorded errors, stages."""

from __future__ import annotations

import time

import numpy as np

from raybench.engine.hotloop import Stages, TimerBuffer, run_plain_burst, run_staged_burst


class Counter:
    def __init__(self, fail_on=()):
        self.calls = 0
        self.fail_on = set(fail_on)
        self.args = []

    def __call__(self, *args):
        self.calls += 1
        self.args.append(args)
        if self.calls in self.fail_on:
            raise ValueError(f"bad call {self.calls}")
        return sum(args)


def test_burst_stops_when_buffer_is_full():
    buf = TimerBuffer(5, with_stages=False)
    model = Counter()
    run_plain_burst(model, (1, 2), buf, deadline=time.perf_counter_ns() + 10**12)
    assert buf.n == 5
    assert model.calls == 5
    assert model.args[0] == (1, 2)


def test_burst_stops_at_deadline_after_one_call_when_deadline_passed():
    buf = TimerBuffer(100, with_stages=False)
    run_plain_burst(Counter(), (), buf, deadline=0)
    assert buf.n == 1


def test_stamps_are_ordered_and_non_negative():
    buf = TimerBuffer(50, with_stages=False)
    run_plain_burst(Counter(), (1,), buf, deadline=time.perf_counter_ns() + 10**12)
    starts, ends = buf.starts[: buf.n], buf.ends[: buf.n]
    assert np.all(ends >= starts)
    assert np.all(starts[1:] >= ends[:-1])


def test_burst_resumes_after_a_model_error_and_records_it():
    buf = TimerBuffer(6, with_stages=False)
    run_plain_burst(Counter(fail_on={2, 5}), (1,), buf, deadline=time.perf_counter_ns() + 10**12)
    assert buf.n == 6
    assert buf.ok.tolist() == [True, False, True, True, False, True]
    assert buf.n_errors == 2
    assert buf.first_error == "ValueError: bad call 2"
    assert np.all(buf.ends[:6] >= buf.starts[:6])


def test_burst_continues_filling_from_where_the_buffer_stands():
    buf = TimerBuffer(4, with_stages=False)
    run_plain_burst(Counter(), (), buf, deadline=0)
    run_plain_burst(Counter(), (), buf, deadline=0)
    assert buf.n == 2
    assert buf.starts[1] >= buf.ends[0]


def test_clear_resets_rows_and_error_flags():
    buf = TimerBuffer(3, with_stages=False)
    run_plain_burst(Counter(fail_on={1}), (), buf, deadline=time.perf_counter_ns() + 10**12)
    buf.clear()
    assert (buf.n, buf.n_errors, buf.first_error) == (0, 0, None)
    assert buf.ok.all()


def test_staged_burst_times_each_stage_and_feeds_preprocess_output_to_model():
    seen = []

    def pre(x):
        time.sleep(0.002)
        return (x, 10)

    def post(y):
        seen.append(y)

    buf = TimerBuffer(3, with_stages=True)
    run_staged_burst(Counter(), (1,), buf, time.perf_counter_ns() + 10**12, Stages(pre, post))
    assert buf.n == 3
    assert seen == [11, 11, 11]
    stages = buf.stages
    assert np.all(stages["preprocess_ns"][:3] >= 2_000_000)
    total = stages["preprocess_ns"][:3] + stages["infer_ns"][:3] + stages["postprocess_ns"][:3]
    assert np.all(total <= buf.ends[:3] - buf.starts[:3])


def test_staged_burst_passes_a_non_tuple_preprocess_result_as_one_argument():
    model = Counter()
    buf = TimerBuffer(1, with_stages=True)
    run_staged_burst(model, (3,), buf, 0, Stages(preprocess=lambda x: x * 2))
    assert model.args == [(6,)]


def test_a_closed_loop_on_open_loop_buffers_records_no_queueing():
    """A capacity search measures its closed loop on copies built for open-loop sends: the
    queue column, left over from an earlier open-loop probe, must read 0, not ``t_in - 0``."""
    from raybench.engine.hotloop import Feed, run_fed_burst

    buf = TimerBuffer(8, stage_names=("queue_ns", "infer_ns"))
    buf.stages["queue_ns"][:] = 123_456_789  # an earlier probe's waits
    feed = Feed(next_item=None, take_slot=None, args=(1,))
    run_fed_burst(Counter(fail_on={3}), feed, buf, time.perf_counter_ns() + 10**9, Stages())
    assert buf.n == 8 and buf.n_errors == 1
    assert buf.stages["queue_ns"][: buf.n].tolist() == [0] * 8
