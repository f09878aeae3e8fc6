"""Where a copy runs, seen from inside it: its node, its NeuronCores, its clock's wall anchor.

Everything here runs inside a Ray actor (or, for copies in the calling process, in the driver,
where it changes nothing).
"""

from __future__ import annotations

import os
import sys
import time
from time import perf_counter_ns

#: Ray's resource name for NeuronCores and the Neuron runtime's variable naming a process's cores.
NEURON_CORES = "neuron_cores"
NEURON_CORES_ENV = "NEURON_RT_VISIBLE_CORES"


def wall_anchor_ns(samples: int = 5) -> int:
    """Return ``wall - monotonic`` in ns: add it to a ``perf_counter_ns`` stamp to get wall time.

    Takes the tightest of a few bracketed readings so the offset is good to about a microsecond.
    """
    best_gap, best_offset = None, 0
    for _ in range(samples):
        before = perf_counter_ns()
        wall = time.time_ns()
        after = perf_counter_ns()
        gap = after - before
        if best_gap is None or gap < best_gap:
            best_gap, best_offset = gap, wall - (before + after) // 2
    return best_offset


def current_node_id() -> str:
    """The Ray node id of this actor's host, or ``"local"`` for a copy in the calling process."""
    ray = sys.modules.get("ray")  # a copy never imports Ray itself: only Ray actors have a node
    if ray is None or not ray.is_initialized():
        return "local"
    context = ray.get_runtime_context()
    if context.get_actor_id() is None:  # the driver, running copies in-process
        return "local"
    return str(context.get_node_id())


def bind_neuron_cores(device_type: str) -> str | None:
    """State ``NEURON_RT_VISIBLE_CORES`` explicitly in a Ray actor; return the cores it sees.

    A neuron copy gets exactly the cores Ray assigned to it (Ray sets the variable too, unless a
    deployment turned that off). Any other actor must not inherit a value from the driver's
    environment, nor an empty one from an older Ray: it has no NeuronCores, so the variable is
    removed. Outside a Ray actor (copies in the calling process) nothing is changed: the driver's
    environment is not raybench's to edit.
    """
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized() or ray.get_runtime_context().get_actor_id() is None:
        return os.environ.get(NEURON_CORES_ENV) if device_type == "neuron" else None
    if device_type != "neuron":
        os.environ.pop(NEURON_CORES_ENV, None)
        return None
    assigned = ray.get_runtime_context().get_accelerator_ids().get(NEURON_CORES) or []
    if assigned:
        os.environ[NEURON_CORES_ENV] = ",".join(str(core) for core in assigned)
    return os.environ.get(NEURON_CORES_ENV)


def normal_priority() -> int:
    """Run this copy's process at niceness 0, as NeuronPerf's forked copies do; return the
    niceness it runs at afterwards.

    Ray starts its workers at niceness 15 (its ``worker_niceness``), so a copy would yield the CPU
    to every other process on the host. Lowering niceness needs the right to (root, or
    ``CAP_SYS_NICE``): without it the niceness stays as it is, and the caller warns. On Linux
    niceness is per thread, so every thread the process has now is raised; threads started
    later inherit it from the thread that starts them. Outside a Ray actor nothing changes:
    the calling process's priority is not raybench's to edit.
    """
    if current_node_id() == "local":
        return os.getpriority(os.PRIO_PROCESS, 0)
    tasks = os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]
    for task in tasks:
        try:
            if os.getpriority(os.PRIO_PROCESS, int(task)) > 0:
                os.setpriority(os.PRIO_PROCESS, int(task), 0)
        except (PermissionError, ProcessLookupError):  # not allowed, or the thread has ended
            continue
    return os.getpriority(os.PRIO_PROCESS, 0)
