"""A real model through raybench against its bare call loop, on an embedded local Ray (CPU).
Prints the figures; no asserts.

Usage:  .venv/bin/python benchmarks/bench_real_model.py [--rounds N] [--duration S] [--quick]

The demo's TorchScript MLP (``raybench.cli.demo.build_demo_model``: 256 -> 512 -> 512 -> 10,
batch 8), one intra-op torch thread everywhere, measured three ways, alternating in every round
(the box is shared and noisy: compare the ratios within a round, not the absolutes):

(a) raybench: ``raybench.torch.benchmark`` with 1 copy x 1 worker, ``throughput_avg`` (samples/s,
    the mean of the complete one-second buckets). A ``setup_fn`` sets ``torch.set_num_threads(1)``
    in the copy and records the copy's pid, niceness, torch threads, ``OMP_NUM_THREADS`` and which
    raybench it imported; while it runs, the driver reads the niceness and CPU time of every thread
    of the copy from ``/proc/<pid>/task/*/stat`` every 0.2 s (the worker thread is the busiest one;
    the measurement is the span in which it is on a CPU at least half the time).
(b) forked: the bare loop in a plain ``multiprocessing`` fork of this script: load the file,
    ``torch.set_num_threads(1)``, ``torch.no_grad()``, call the model for ``duration`` seconds;
    samples/s = calls x 8 / elapsed.
(c) Ray actor: the same bare loop in a plain ``@ray.remote(num_cpus=1)`` actor (the control:
    what Ray's process itself costs).

Each of them warms up for ``--warmup`` calls first (raybench: ``warmup=`` the same count). Then
the per-round throughputs, their medians and the median of the per-round ratios raybench/forked
and Ray actor/forked (the issue's target: raybench/forked >= 0.97), and the niceness each ran at.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from typing import Any

import ray

import raybench.torch
from raybench.cli.demo import build_demo_model

BATCH = 8


def bare_loop(path: str, seconds: float, warmup: int) -> dict[str, Any]:
    """The model's bare call loop: samples/s over ``seconds``, and where it ran."""
    import torch

    torch.set_num_threads(1)
    model = torch.jit.load(path, map_location="cpu").eval()
    x = torch.randn(BATCH, 256)
    pc = time.perf_counter_ns
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        calls = 0
        t_start = pc()
        end = t_start + int(seconds * 1e9)
        while pc() < end:
            model(x)
            calls += 1
        elapsed_ns = pc() - t_start
    return {"rate": calls * BATCH / (elapsed_ns / 1e9), "nice": os.nice(0), "torch_threads": torch.get_num_threads(),
            "omp": os.environ.get("OMP_NUM_THREADS"), "pid": os.getpid()}


def _forked_child(conn: Any, path: str, seconds: float, warmup: int) -> None:
    conn.send(bare_loop(path, seconds, warmup))
    conn.close()


def run_forked(path: str, seconds: float, warmup: int) -> dict[str, Any]:
    """:func:`bare_loop` in a fresh fork of this process (niceness inherited from the driver)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_forked_child, args=(child, path, seconds, warmup), daemon=True)
    proc.start()
    child.close()
    out = parent.recv()
    proc.join()
    return out  # type: ignore[no-any-return]


@ray.remote(num_cpus=1)
class BareActor:
    """A plain Ray actor running :func:`bare_loop` (the control)."""

    def run(self, path: str, seconds: float, warmup: int) -> dict[str, Any]:
        return bare_loop(path, seconds, warmup)


def record_copy(info_path: str, copy_id: int, config: dict[str, Any], model: Any) -> None:
    """raybench's ``setup_fn``: one intra-op thread, and where the copy runs, into a file."""
    import torch

    torch.set_num_threads(1)
    with open(info_path, "w") as f:
        json.dump({"pid": os.getpid(), "nice": os.nice(0), "torch_threads": torch.get_num_threads(),
                   "omp": os.environ.get("OMP_NUM_THREADS"), "raybench": raybench.__file__}, f)


def read_threads(pid: int) -> dict[int, tuple[int, int, str]]:
    """``{tid: (nice, utime+stime ticks, comm)}`` of every thread of ``pid``, from /proc."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1: raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
        out[int(tid)] = (int(fields[16]), int(fields[11]) + int(fields[12]), comm)
    return out


def watch_copy(info_path: str, done: threading.Event, result: dict[str, Any], every_s: float = 0.2) -> None:
    """Once the copy's info file exists, read its threads every ``every_s`` until ``done``; keep
    the intervals in which the busiest thread (the worker) was on a CPU at least half the time
    (the measurement), and each thread's niceness and CPU seconds over them."""
    while not os.path.exists(info_path) and not done.wait(0.05):
        pass
    samples: list[tuple[float, dict[int, tuple[int, int, str]]]] = []
    try:
        with open(info_path) as f:
            pid = json.load(f)["pid"]
        samples.append((time.monotonic(), read_threads(pid)))
        while not done.wait(every_s):
            samples.append((time.monotonic(), read_threads(pid)))
    except (OSError, ValueError, KeyError):  # no info file, or the copy ended between two reads
        pass
    ticks = os.sysconf("SC_CLK_TCK")
    pairs = [(t1 - t0, a, b) for (t0, a), (t1, b) in zip(samples, samples[1:])]
    total: dict[int, int] = {}
    for _, a, b in pairs:
        for tid in b:
            if tid in a:
                total[tid] = total.get(tid, 0) + b[tid][1] - a[tid][1]
    if not total:
        return
    worker = max(total, key=lambda tid: total[tid])
    used: dict[int, float] = {}
    window = 0.0
    for span, a, b in pairs:
        if worker not in a or worker not in b or (b[worker][1] - a[worker][1]) / ticks < 0.5 * span:
            continue
        window += span
        for tid in b:
            if tid in a:
                used[tid] = used.get(tid, 0.0) + (b[tid][1] - a[tid][1]) / ticks
    if not used:
        return
    last = next(threads for _, threads in reversed(samples) if worker in threads)
    result["window_s"] = window
    result["worker_cpu_s"] = used[worker]
    result["worker_nice"] = last[worker][0]
    result["others_cpu_s"] = sum(v for tid, v in used.items() if tid != worker)
    result["busy_others"] = sorted(((v, last[tid][0]) for tid, v in used.items() if tid != worker and tid in last),
                                   reverse=True)[:2]
    result["n_threads"] = len(last)
    result["nice_all"] = sorted({v[0] for v in last.values()})


def run_raybench(path: str, example: Any, seconds: float, warmup: int, work_dir: str,
                 round_no: int) -> dict[str, Any]:
    """One raybench run of 1 copy x 1 worker; its throughput and what the copy recorded."""
    info_path = os.path.join(work_dir, f"copy_{round_no}.json")
    watched: dict[str, Any] = {}
    done = threading.Event()
    watcher = threading.Thread(target=watch_copy, args=(info_path, done, watched), daemon=True)
    watcher.start()
    try:
        (report,) = raybench.torch.benchmark(
            path, example, batch_sizes=[BATCH], n_models=[1], workers_per_model=[1], duration=seconds,
            device_type="cpu", verbosity=0, warmup=warmup, setup_fn=functools.partial(record_copy, info_path),
        )
    finally:
        done.set()
        watcher.join()
    with open(info_path) as f:
        info = json.load(f)
    info.update(watched)
    info["rate"] = report["throughput_avg"]
    info["rate_total"] = report["total_infs"] * BATCH / report["total_s"]
    return info


def describe_threads(info: dict[str, Any]) -> str:
    if "window_s" not in info:
        return "threads not sampled"
    others = ", ".join(f"{cpu:.2f} s @nice {nice}" for cpu, nice in info["busy_others"])
    return (f"over {info['window_s']:.1f} s of measurement the worker thread used {info['worker_cpu_s']:.2f} s CPU "
            f"@nice {info['worker_nice']}, the other {info['n_threads'] - 1} threads {info['others_cpu_s']:.2f} s "
            f"(busiest: {others}); thread nice values {info['nice_all']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (at least 5; default 5)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds each run measures (default 5)")
    parser.add_argument("--warmup", type=int, default=200, help="warmup calls before each measurement (default 200)")
    parser.add_argument("--quick", action="store_true", help="5 rounds of 1.5 s (a smoke run, not the figures)")
    args = parser.parse_args()
    rounds = max(args.rounds, 5)
    duration = 1.5 if args.quick else args.duration
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="WARNING")
    work_dir = tempfile.mkdtemp(prefix="raybench_real_model_")
    path, example = build_demo_model(os.path.join(work_dir, "demo_mlp.pt"))
    actor = BareActor.remote()  # type: ignore[attr-defined]
    ray.get(actor.run.remote(path, 0.2, 10))  # the actor's process and torch import, before round 1
    print(f"demo MLP, batch {BATCH}, 1 copy x 1 worker, {rounds} rounds of {duration:g} s each "
          f"(driver nice {os.nice(0)}, {os.cpu_count()} CPUs)")
    rows = []
    for round_no in range(1, rounds + 1):
        rb = run_raybench(path, example, duration, args.warmup, work_dir, round_no)
        fk = run_forked(path, duration, args.warmup)
        ra = ray.get(actor.run.remote(path, duration, args.warmup))
        rows.append((rb, fk, ra))
        print(f"round {round_no}: raybench {rb['rate']:8,.0f} samples/s (total/total_s {rb['rate_total']:,.0f}) | "
              f"forked {fk['rate']:8,.0f} | Ray actor {ra['rate']:8,.0f} | "
              f"raybench/forked {rb['rate'] / fk['rate']:.3f}, Ray actor/forked {ra['rate'] / fk['rate']:.3f}")
        print(f"         copy pid {rb['pid']}: {describe_threads(rb)}")
    print(f"median samples/s: raybench {statistics.median(r[0]['rate'] for r in rows):,.0f}, "
          f"forked {statistics.median(r[1]['rate'] for r in rows):,.0f}, "
          f"Ray actor {statistics.median(r[2]['rate'] for r in rows):,.0f}")
    print(f"median ratio raybench/forked: {statistics.median(r[0]['rate'] / r[1]['rate'] for r in rows):.3f} "
          f"(target >= 0.97); Ray actor/forked: {statistics.median(r[2]['rate'] / r[1]['rate'] for r in rows):.3f}")
    for name, i in (("raybench copy", 0), ("forked loop", 1), ("Ray actor", 2)):
        info = rows[-1][i]
        how = {0: "os.nice(0) in setup_fn (the copy's load thread); worker-thread nice from /proc above",
               1: "os.nice(0) in the loop's process", 2: "os.nice(0) in the actor's method"}[i]
        print(f"  {name:13}: nice {info['nice']}, torch threads {info['torch_threads']}, "
              f"OMP_NUM_THREADS={info['omp']} ({how})")
    print(f"  the copy imported {rows[-1][0]['raybench']}")
    ray.shutdown()


if __name__ == "__main__":
    main()
