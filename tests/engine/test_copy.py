"""ModelCopy and Collector in-process (no Ray): the same classes the Ray actors run."""

from __future__ import annotations

import asyncio
import time

import pyarrow as pa
import pytest

import raybench
from raybench.backends.base import ModelSpec
from raybench.core.errors import ModelLoadError
from raybench.core.options import Hooks
from raybench.core.schema import ConfigOutcome, RunConfig, stages_of, timer_schema
from raybench.engine.binding import wall_anchor_ns
from raybench.engine.collector import Collector
from raybench.engine.copy import CopySetup, ModelCopy
from raybench.engine.hotloop import TimerBuffer
from raybench.engine.storage import combine_timers, empty_config_table
from raybench.engine.wire import GO_ON, STOP_BUDGET, BatchEncoder
from raybench.testing import BrokenConstructorModel, FailingModel, NoopModel, make_simulated_device


def config(**overrides) -> RunConfig:
    values = dict(config_id=0, model_filename="m", model_name="m", device_type="cpu", batch_size=1,
                  input_index=0, n_models=1, workers_per_model=1, duration_s=0.3, warmup=1)
    values.update(overrides)
    return RunConfig.from_dict(values)


def make_copy(model_class, collector, first_config=None, **hooks) -> ModelCopy:
    setup = CopySetup(ModelSpec("class", model_class, None, "cpu"), Hooks(**hooks), stats_interval_s=0.05, run_id="run")
    copy = ModelCopy(0, setup, [(1,)], collector, first_config=first_config)
    copy.load()
    return copy


def test_wall_anchor_converts_monotonic_to_wall_time():
    offset = wall_anchor_ns()
    assert abs(time.perf_counter_ns() + offset - time.time_ns()) < 5_000_000


def test_encoded_batch_round_trips_through_the_collector():
    buf = TimerBuffer(4, with_stages=False)
    buf.starts[:3] = [10, 20, 30]
    buf.ends[:3] = [15, 26, 37]
    buf.n = 3
    buf.note_error(1, ValueError("x"))
    collector = Collector()
    collector.start_run("run", keep_timers=True)
    collector.add(BatchEncoder(("infer_ns",), 1000).encode(buf, {"run_id": "run", "config_id": "7", "copy_id": "2", "worker_id": "1", "node_id": "n1"}))
    report, _, kept = collector.finish("run", config(config_id=7), ConfigOutcome(7, "finished"))
    table = combine_timers([(7, kept)])
    assert table.schema == timer_schema()
    assert table.column("start_ns").to_pylist() == [1010, 1020, 1030]
    assert table.column("end_ns").to_pylist() == [1015, 1026, 1037]
    assert table.column("ok").to_pylist() == [True, False, True]
    assert table.column("copy_id").to_pylist() == [2, 2, 2]
    assert table.column("node_id").to_pylist() == ["n1", "n1", "n1"]
    assert "preprocess_ns" not in table.column_names
    assert report["n_errors"] == 1
    assert report["total_infs"] == 2


def test_collector_copies_out_so_the_encoder_may_reuse_its_buffer():
    encoder = BatchEncoder((), 0)
    collector = Collector()
    collector.start_run("run", keep_timers=True)
    collector.start_run("run", keep_timers=True)
    buf = TimerBuffer(2, with_stages=False)
    for first in (100, 200):
        buf.starts[:2] = [first, first + 1]
        buf.ends[:2] = [first + 5, first + 6]
        buf.n = 2
        collector.add(encoder.encode(buf, {"run_id": "run", "config_id": "0", "copy_id": "0", "worker_id": "0", "node_id": "n"}))
    _, _, kept = collector.finish("run", config(), ConfigOutcome(0, "finished"))
    assert kept.column("start_ns").to_pylist() == [100, 101, 200, 201]


def test_collector_ignores_batches_of_a_run_that_ended():
    collector = Collector()
    buf = TimerBuffer(2, with_stages=False)
    buf.n = 2
    collector.add(BatchEncoder((), 0).encode(buf, {"run_id": "gone", "config_id": "0", "copy_id": "0", "worker_id": "0", "node_id": "n"}))
    assert collector.held_bytes() == 0


def test_end_run_frees_the_run():
    collector = Collector()
    collector.start_run("run", keep_timers=True)
    buf = TimerBuffer(2, with_stages=False)
    buf.n = 2
    collector.add(BatchEncoder((), 0).encode(buf, {"run_id": "run", "config_id": "0", "copy_id": "0", "worker_id": "0", "node_id": "n"}))
    collector.end_run("run")
    assert collector.held_bytes() == 0


def test_collector_drops_timers_unless_asked_to_keep_them():
    collector = Collector()
    collector.start_run("run", keep_timers=False)
    buf = TimerBuffer(2, with_stages=False)
    buf.n = 2
    collector.add(BatchEncoder((), 0).encode(buf, {"run_id": "run", "config_id": "0", "copy_id": "0", "worker_id": "0", "node_id": "n"}))
    assert collector.held_bytes() > 0
    _, _, kept = collector.finish("run", config(), ConfigOutcome(0, "finished"))
    assert collector.held_bytes() == 0
    assert kept is None


def test_copy_runs_for_duration_and_ships_every_row():
    collector = Collector()
    collector.start_run("run", keep_timers=True)
    copy = make_copy(make_simulated_device(0.005), collector)
    cfg = config(workers_per_model=2, duration_s=0.4)
    (n_warm, warm_ns, wall_ns), error = asyncio.run(copy.warmup(cfg))
    assert error is None and n_warm == 2  # one inference per worker
    assert warm_ns >= 2 * 5_000_000 and wall_ns >= 5_000_000
    start = time.time_ns() + 50_000_000
    outcome = asyncio.run(copy.run(cfg, start))
    report, _, table = collector.finish("run", cfg, ConfigOutcome(0, "finished", None, start, start + 400_000_000,
                                                                  copies=(outcome,)))
    assert outcome.n_infs == table.num_rows == report["total_infs"]
    assert set(table.column("worker_id").to_pylist()) == {0, 1}
    assert min(table.column("start_ns").to_pylist()) >= start
    # 2 workers x 0.4 s / 5 ms: at most 160 calls; sleeping at least 5 ms each.
    assert 40 <= outcome.n_infs <= 162
    assert report["latency_ms_p50"] >= 5.0
    assert outcome.cpu_percent, "CPU was sampled during the run"


def test_warmup_reports_the_model_error():
    copy = make_copy(FailingModel, Collector())
    (n_warm, _, _), error = asyncio.run(copy.warmup(config()))
    assert error == "model raised during warmup: RuntimeError: FailingModel always fails"
    assert n_warm == 1


def test_load_reports_a_constructor_error():
    copy = ModelCopy(0, CopySetup(ModelSpec("class", BrokenConstructorModel, None, "cpu")), [(1,)], Collector())
    with pytest.raises(ModelLoadError, match="BrokenConstructorModel cannot be built"):
        copy.load()


def test_setup_functions_run_around_load_with_copy_id_and_config():
    calls = []
    copy = make_copy(NoopModel, Collector(), env_setup_fn=lambda i, c: calls.append(("env", i, c["model_name"])),
                     setup_fn=lambda i, c, m: calls.append(("setup", i, type(m).__name__)),
                     first_config=config())
    assert calls == [("env", 0, "m"), ("setup", 0, "NoopModel")]
    outcome = asyncio.run(copy.run(config(duration_s=0.05), time.time_ns()))
    assert outcome.env_setup_ns is not None and outcome.setup_ns is not None and outcome.load_ns is not None


def test_async_model_is_awaited():
    class AsyncModel:
        async def __call__(self, x):
            await asyncio.sleep(0.002)
            return x

    collector = Collector()
    collector.start_run("run", keep_timers=True)
    copy = make_copy(AsyncModel, collector)
    cfg = config(workers_per_model=2, duration_s=0.2)
    outcome = asyncio.run(copy.run(cfg, time.time_ns()))
    assert outcome.n_errors == 0
    assert outcome.n_infs >= 20
    _, _, kept = collector.finish("run", cfg, ConfigOutcome(0, "finished"))
    lat = pa.compute.subtract(kept["end_ns"], kept["start_ns"]).to_pylist()
    assert min(lat) >= 2_000_000


def test_collector_keeps_exactly_its_budget_and_says_when_it_is_used_up():
    collector = Collector()
    collector.start_run("run", keep_timers=True, max_rows=5)
    encoder = BatchEncoder((), 0)
    buf = TimerBuffer(4, with_stages=False)
    buf.starts[:4] = [1, 2, 3, 4]
    buf.ends[:4] = [2, 3, 4, 5]
    buf.n = 4
    ids = {"run_id": "run", "config_id": "0", "copy_id": "0", "worker_id": "0", "node_id": "n"}
    assert collector.add(encoder.encode(buf, ids)) == GO_ON
    assert collector.add(encoder.encode(buf, ids)) == STOP_BUDGET  # 4 + 1 of 4: the budget is reached
    assert collector.add(encoder.encode(buf, ids)) == STOP_BUDGET  # dropped whole
    _, _, kept = collector.finish("run", config(), ConfigOutcome(0, "finished"))
    assert kept.column("start_ns").to_pylist() == [1, 2, 3, 4, 1]


def test_budget_frees_with_each_report_when_timers_are_not_kept():
    collector = Collector()
    collector.start_run("run", keep_timers=False, max_rows=4)
    buf = TimerBuffer(4, with_stages=False)
    buf.n = 4
    for config_id in ("0", "1"):
        ids = {"run_id": "run", "config_id": config_id, "copy_id": "0", "worker_id": "0", "node_id": "n"}
        assert collector.add(BatchEncoder((), 0).encode(buf, ids)) == STOP_BUDGET
        report, _, _ = collector.finish("run", config(config_id=int(config_id)), ConfigOutcome(int(config_id), "finished"))
        assert report["total_infs"] == 4


def test_a_config_without_stages_before_a_failed_one_keeps_the_schema_order(tmp_path):
    # A config measured without stage columns, then one that failed in warmup (its empty table has
    # every stage column). Concatenating them used to put the stages after ok, and such a file did
    # not read back ("Target schema's field names are not matching").
    buf = TimerBuffer(4, with_stages=False)
    buf.starts[:2], buf.ends[:2], buf.n = [10, 20], [15, 26], 2
    collector = Collector()
    collector.start_run("run", keep_timers=True)
    collector.add(BatchEncoder((), 1000).encode(buf, {"run_id": "run", "config_id": "1", "copy_id": "0",
                                                       "worker_id": "0", "node_id": "n1"}))
    _, _, kept = collector.finish("run", config(config_id=1), ConfigOutcome(1, "finished"))
    table = combine_timers([(1, kept), (2, empty_config_table())])
    assert table.schema == timer_schema(stages_of(table.schema))
    results = raybench.Results([config(config_id=1), config(config_id=2)],
                               [ConfigOutcome(1, "finished"), ConfigOutcome(2, "error", error="boom")], table, {})
    path = raybench.write_results(results, tmp_path / "r.parquet")
    assert raybench.read_results(path).timers.column("end_ns").to_pylist() == [1015, 1026]
    # A file written by the code before (ok before the stage columns) reads back too.
    stages = list(stages_of(table.schema))
    old_order = table.select([n for n in table.column_names if n not in stages] + stages)
    old = raybench.write_results(raybench.Results(results.configs, results.outcomes, old_order, {}),
                                 tmp_path / "old.parquet")
    assert raybench.read_results(old).timers.schema == table.schema
