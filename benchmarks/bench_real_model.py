"""A real model through raybench against its bare call loop, on an embedded local Ray (CPU).
Prints the figures; no asserts.

Usage:  .venv/bin/python benchmarks/bench_real_model.py [--rounds N] [--duration S] [--warmup N] [--quick]

The demo's TorchScript MLP (``raybench.cli.demo.build_demo_model``: 256 -> 512 -> 512 -> 10,
batch 8), one intra-op torch thread everywhere, measured three ways, alternating in every round
(the box is shared and noisy: compare the ratios within a round, not the absolutes; the order
rotates from round to round so that no kind always runs first):

(a) raybench: ``raybench.torch.benchmark`` with 1 copy x 1 worker on the Ray this script started
    (raybench reuses it); ``throughput_avg`` in samples/s (the mean of the complete one-second
    buckets). A ``setup_fn`` calls ``torch.set_num_threads(1)`` in the copy (Ray already sets
    ``OMP_NUM_THREADS=1`` for a one-CPU actor) and records the copy's pid, ``os.nice(0)``, torch
    threads, ``OMP_NUM_THREADS`` and which raybench it imported. While it runs, the driver reads
    every thread of the copy from ``/proc/<pid>/task/*`` every 0.2 s: the worker thread is the
    busiest one, the measurement the span in which it is on a CPU at least half the time.
(b) forked: the bare loop in a plain ``multiprocessing`` fork of this script: load the file,
    ``torch.set_num_threads(1)``, ``torch.no_grad()``, call the model for ``duration`` seconds;
    samples/s = calls x 8 / elapsed.
(c) Ray actor: the same bare loop in a plain ``@ray.remote(num_cpus=1)`` actor (the control:
    what Ray's process itself costs).

Each warms up for ``--warmup`` calls first (raybench: ``warmup=`` the same count). Per run it
prints the throughput, the niceness of the thread that called the model (``/proc``), and two
noise indicators: ``wait``, the share of the run the model's thread was runnable but waiting for
a CPU (``/proc/.../schedstat``: another process had the core), and ``host``, the cores busy on
the whole machine meanwhile (``/proc/stat``; the loop itself is ~1). Then the medians, the median
of the per-round ratios raybench/forked (the issue's target: >= 0.97) and Ray actor/forked, the
same over the rounds in which no run waited more than ``--clean-wait`` % for a CPU, and where
each kind ran (niceness, torch threads, ``OMP_NUM_THREADS``).
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


def host_busy() -> tuple[int, int]:
    """``(busy, all)`` clock ticks of the whole machine so far (``/proc/stat``)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:8]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(before: tuple[int, int], after: tuple[int, int], wall_s: float) -> float:
    """Cores busy on the machine between two :func:`host_busy` readings."""
    return (after[0] - before[0]) / os.sysconf("SC_CLK_TCK") / wall_s if wall_s > 0 else 0.0


def thread_sched(base: str) -> tuple[int, int, int]:
    """``(ns on a CPU, ns runnable but waiting for one, niceness)`` of the thread at ``base``
    (``/proc/thread-self`` or ``/proc/<pid>/task/<tid>``)."""
    with open(f"{base}/schedstat") as f:
        on_cpu, waiting, _ = (int(v) for v in f.read().split())
    with open(f"{base}/stat") as f:
        nice = int(f.read().rsplit(")", 1)[1].split()[16])
    return on_cpu, waiting, nice


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
        _, wait0, _ = thread_sched("/proc/thread-self")
        host0 = host_busy()
        calls = 0
        t_start = pc()
        end = t_start + int(seconds * 1e9)
        while pc() < end:
            model(x)
            calls += 1
        elapsed_ns = pc() - t_start
        _, wait1, nice = thread_sched("/proc/thread-self")
        host = busy_cores(host0, host_busy(), elapsed_ns / 1e9)
    return {"rate": calls * BATCH / (elapsed_ns / 1e9), "nice": os.nice(0), "thread_nice": nice,
            "wait_pct": (wait1 - wait0) / elapsed_ns * 100, "host_cores": host,
            "torch_threads": torch.get_num_threads(), "omp": os.environ.get("OMP_NUM_THREADS"), "pid": os.getpid()}


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
                   "omp": os.environ.get("OMP_NUM_THREADS"), "raybench": raybench.__file__,
                   "setup_thread": threading.current_thread().name}, f)


#: One reading of a copy: (monotonic ns, host_busy(), {tid: (ns on a CPU, ns waiting, niceness)}).
Sample = tuple[int, tuple[int, int], dict[int, tuple[int, int, int]]]


def read_copy(pid: int) -> Sample:
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            threads[int(tid)] = thread_sched(f"/proc/{pid}/task/{tid}")
        except OSError:  # the thread ended
            continue
    return time.monotonic_ns(), host_busy(), threads


def watch_copy(info_path: str, done: threading.Event, result: dict[str, Any], every_s: float = 0.2) -> None:
    """Once the copy's info file exists, read its threads every ``every_s`` until ``done``; over
    the span in which the busiest thread (the worker) was on a CPU at least half the time (the
    measurement): its niceness and CPU wait, the other threads' CPU, the host's busy cores."""
    while not os.path.exists(info_path) and not done.wait(0.05):
        pass
    samples: list[Sample] = []
    try:
        with open(info_path) as f:
            pid = json.load(f)["pid"]
        samples.append(read_copy(pid))
        while not done.wait(every_s):
            samples.append(read_copy(pid))
    except (OSError, ValueError, KeyError):  # no info file, or the copy ended
        pass

    def on_cpu(tid: int) -> int:
        seen = [s[2][tid][0] for s in samples if tid in s[2]]
        return seen[-1] - seen[0] if seen else 0

    tids = set().union(*(s[2] for s in samples)) if samples else set()
    if not tids:
        return
    worker = max(tids, key=on_cpu)
    busy = [i for i in range(1, len(samples))
            if worker in samples[i][2] and worker in samples[i - 1][2]
            and samples[i][2][worker][0] - samples[i - 1][2][worker][0] >= 0.5 * (samples[i][0] - samples[i - 1][0])]
    if not busy:
        return
    first, last = samples[busy[0] - 1], samples[busy[-1]]
    wall_ns = last[0] - first[0]
    both = set(first[2]) & set(last[2])
    result["window_s"] = wall_ns / 1e9
    result["worker_cpu_s"] = (last[2][worker][0] - first[2][worker][0]) / 1e9
    result["wait_pct"] = (last[2][worker][1] - first[2][worker][1]) / wall_ns * 100
    result["thread_nice"] = last[2][worker][2]
    result["others_cpu_s"] = sum(last[2][t][0] - first[2][t][0] for t in both if t != worker) / 1e9
    result["n_threads"] = len(last[2])
    result["host_cores"] = busy_cores(first[1], last[1], wall_ns / 1e9)


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


def noise(info: dict[str, Any]) -> str:
    if "wait_pct" not in info:
        return "(not sampled)"
    return f"(nice {info['thread_nice']}, wait {info['wait_pct']:.1f} %, host {info['host_cores']:.2f})"


def ratios(rows: list[dict[str, dict[str, Any]]], kind: str) -> list[float]:
    return [r[kind]["rate"] / r["forked"]["rate"] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (at least 5; default 5)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds each run measures (default 5)")
    parser.add_argument("--warmup", type=int, default=200, help="warmup calls before each measurement (default 200)")
    parser.add_argument("--clean-wait", type=float, default=1.0,
                        help="a round is clean when no run's model thread waited more than this %% for a CPU")
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
          f"(driver nice {os.nice(0)}, {os.cpu_count()} CPUs); per run: samples/s (nice of the model's thread, "
          f"% of the run it waited for a CPU, cores busy on the host)")
    kinds = ("raybench", "forked", "actor")
    rows: list[dict[str, dict[str, Any]]] = []
    for round_no in range(1, rounds + 1):
        runs = {
            "raybench": lambda: run_raybench(path, example, duration, args.warmup, work_dir, round_no),
            "forked": lambda: run_forked(path, duration, args.warmup),
            "actor": lambda: ray.get(actor.run.remote(path, duration, args.warmup)),
        }
        order = kinds[(round_no - 1) % 3:] + kinds[:(round_no - 1) % 3]  # no kind always runs first
        got = {name: runs[name]() for name in order}
        rows.append(got)
        rb, fk, ra = got["raybench"], got["forked"], got["actor"]
        print(f"round {round_no} ({' > '.join(order)}):")
        print(f"   raybench  {rb['rate']:8,.0f} {noise(rb)}  [total_infs/total_s {rb['rate_total']:,.0f}; "
              f"other threads of the copy {rb.get('others_cpu_s', float('nan')):.2f} s CPU over "
              f"{rb.get('window_s', float('nan')):.1f} s, {rb.get('n_threads', '?')} threads]")
        print(f"   forked    {fk['rate']:8,.0f} {noise(fk)}")
        print(f"   Ray actor {ra['rate']:8,.0f} {noise(ra)}")
        print(f"   raybench/forked {rb['rate'] / fk['rate']:.3f}, Ray actor/forked {ra['rate'] / fk['rate']:.3f}")
    print(f"median samples/s: raybench {statistics.median(r['raybench']['rate'] for r in rows):,.0f}, "
          f"forked {statistics.median(r['forked']['rate'] for r in rows):,.0f}, "
          f"Ray actor {statistics.median(r['actor']['rate'] for r in rows):,.0f}")
    print(f"median ratio raybench/forked: {statistics.median(ratios(rows, 'raybench')):.3f} (target >= 0.97); "
          f"Ray actor/forked: {statistics.median(ratios(rows, 'actor')):.3f}   (all {len(rows)} rounds)")
    clean = [r for r in rows if all(r[k].get("wait_pct", 100.0) <= args.clean_wait for k in kinds)]
    if clean:
        print(f"median ratio raybench/forked: {statistics.median(ratios(clean, 'raybench')):.3f}; "
              f"Ray actor/forked: {statistics.median(ratios(clean, 'actor')):.3f}   "
              f"({len(clean)} clean rounds: no run waited > {args.clean_wait:g} % for a CPU)")
    else:
        print(f"no clean round (every round had a run that waited > {args.clean_wait:g} % for a CPU)")
    last = rows[-1]
    print("where each ran (last round):")
    print(f"  raybench copy: os.nice(0) {last['raybench']['nice']} in setup_fn (thread "
          f"{last['raybench']['setup_thread']!r}), "
          f"worker thread nice {last['raybench'].get('thread_nice')} (/proc); torch threads "
          f"{last['raybench']['torch_threads']}, OMP_NUM_THREADS={last['raybench']['omp']}; "
          f"imported {last['raybench']['raybench']}")
    for name, kind in (("forked loop", "forked"), ("Ray actor", "actor")):
        info = last[kind]
        print(f"  {name}: os.nice(0) {info['nice']} in the loop's process, thread nice {info['thread_nice']}; "
              f"torch threads {info['torch_threads']}, OMP_NUM_THREADS={info['omp']}")
    ray.shutdown()


if __name__ == "__main__":
    main()
