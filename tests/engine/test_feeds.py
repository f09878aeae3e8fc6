"""Dataset feeds and open-loop send schedules: thread safety, looping, timing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from raybench.core.inputs import DatasetInput, looks_like_dataset
from raybench.engine.feeds import DatasetExhausted, DatasetFeed, SendSchedule

MS = 1_000_000


def drain(feed: DatasetFeed, workers: int, limit: int = 10_000) -> list[list[object]]:
    """Take items from ``workers`` threads until the feed is exhausted (or ``limit`` each)."""
    taken: list[list[object]] = [[] for _ in range(workers)]
    barrier = threading.Barrier(workers)

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(limit):
            try:
                taken[i].append(feed.next_item())
            except DatasetExhausted:
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return taken


def test_map_style_items_go_out_once_across_threads():
    feed = DatasetFeed(DatasetInput(list(range(5000))), workers=4)
    taken = drain(feed, 4)
    flat = [x for part in taken for x in part]
    assert sorted(flat) == list(range(5000))  # each item exactly once
    assert feed.exhausted


class Countdown:
    """An iterable dataset (no len, no indexing): a fresh pass on every iter()."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


def test_iterable_items_go_out_once_across_threads():
    feed = DatasetFeed(DatasetInput(Countdown(3000)), workers=3)
    flat = [x for part in drain(feed, 3) for x in part]
    assert sorted(flat) == list(range(3000))


def test_loop_dataset_cycles_through_the_items():
    feed = DatasetFeed(DatasetInput([1, 2, 3], loop=True), workers=1)
    assert [feed.next_item() for _ in range(7)] == [1, 2, 3, 1, 2, 3, 1]
    iterable = DatasetFeed(DatasetInput(Countdown(2), loop=True), workers=1)
    assert [iterable.next_item() for _ in range(5)] == [0, 1, 0, 1, 0]
    assert not feed.exhausted


def test_loader_fn_gets_the_inputs_and_workers():
    seen = []

    def loader(source, workers):
        seen.append(workers)
        return [x * 10 for x in source]

    feed = DatasetFeed(DatasetInput([1, 2], loader_fn=loader), workers=3)
    assert [feed.next_item(), feed.next_item()] == [10, 20]
    with pytest.raises(DatasetExhausted):
        feed.next_item()
    assert seen == [3]


def test_first_item_does_not_consume_the_pass():
    feed = DatasetFeed(DatasetInput(Countdown(3)), workers=1)
    assert feed.first_item() == 0
    assert [feed.next_item() for _ in range(3)] == [0, 1, 2]


def test_what_counts_as_a_dataset():
    torch_data = pytest.importorskip("torch.utils.data")
    import torch

    assert looks_like_dataset(torch_data.TensorDataset(torch.zeros(3, 2)))
    assert looks_like_dataset(range(5)) and looks_like_dataset(Countdown(2))
    # NeuronPerf's meanings are kept: a list is one input set per batch size, a tuple multi-input.
    assert not any(looks_like_dataset(x) for x in ([1, 2], (1, 2), np.zeros(3), torch.zeros(2), "ab", {"a": 1}))


def test_constant_schedule_is_evenly_spaced_and_ends_before_end():
    schedule = SendSchedule("constant", 100, start_ns=0, end_ns=50 * MS)
    times = []
    while (t := schedule.take(0)) is not None:
        times.append(t)
    assert times == [i * 10 * MS for i in range(5)]
    assert schedule.counts(10**12) == (5, 5)
    assert schedule.queue_depth_max == 1


def test_poisson_schedule_has_the_rate_and_is_reproducible():
    def sends(seed: int) -> np.ndarray:
        schedule = SendSchedule("poisson", 10_000, start_ns=0, end_ns=10_000 * MS, seed=seed)
        out = []
        while (t := schedule.take(0)) is not None:
            out.append(t)
        return np.array(out)

    a, b = sends(1), sends(1)
    assert np.array_equal(a, b)  # chunked generation included: 100k sends, two chunks
    assert abs(a.size - 100_000) < 4 * np.sqrt(100_000)  # Poisson count: within 4 sigma
    gaps = np.diff(a)
    assert abs(gaps.mean() / (0.1 * MS) - 1) < 0.02
    assert abs(gaps.std() / gaps.mean() - 1) < 0.03  # exponential: sd == mean


def test_queue_depth_counts_the_sends_due_and_not_taken():
    schedule = SendSchedule("constant", 1000, start_ns=0, end_ns=10 * MS)  # sends at 0..9 ms
    assert schedule.take(0) == 0
    assert schedule.take(5 * MS + 1) == 1 * MS  # due 1..5 ms at 5 ms: 5 waiting, this one included
    assert schedule.queue_depth_max == 5
    assert schedule.counts(8 * MS) == (8, 2)  # 0..7 ms due, 2 taken


def test_a_torch_iterable_dataset_is_read_by_iteration():
    torch_data = pytest.importorskip("torch.utils.data")

    class Stream(torch_data.IterableDataset):
        def __iter__(self):
            return iter(range(100))

    feed = DatasetFeed(DatasetInput(Stream()), workers=2)
    assert sorted(x for part in drain(feed, 2) for x in part) == list(range(100))
