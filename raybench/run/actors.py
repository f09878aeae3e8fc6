"""The Ray actors a sweep talks to beyond its copies: the collector (one per driver, shared by
its runs) and the remote classes, made once per process; and the calls on the collector.
"""

from __future__ import annotations

import contextlib
from typing import Any

from raybench.core.errors import RunError
from raybench.core.schema import ConfigOutcome, RunConfig
from raybench.engine.collector import Collector
from raybench.run.pools import ray_failure

#: Deadline of the collector's bookkeeping calls (a dead collector must not hang the driver).
COLLECTOR_TIMEOUT_S = 300.0


class CollectorLost(RunError):
    """The collector actor died (killed, out of memory): the running config's timers are lost."""


_REMOTE_CLASSES: dict[type, Any] = {}
_SHARED_COLLECTOR: dict[str, Any] = {}


def remote_class(cls: type) -> Any:
    """``ray.remote(cls)``, made once per process: Ray fingerprints the class (disassembling
    its code) every time, ~0.1 s per class per call."""
    if cls not in _REMOTE_CLASSES:
        import ray

        _REMOTE_CLASSES[cls] = ray.remote(cls)
    return _REMOTE_CLASSES[cls]


def shared_collector() -> Any:
    """This driver's collector actor, spawned on first use and reused by later runs.

    A new one is spawned when Ray was restarted (a new job) or the old one died.
    """
    import ray

    job = ray.get_runtime_context().get_job_id()
    handle = _SHARED_COLLECTOR.get(job)
    if handle is not None:
        try:
            ray.get(handle.ping.remote(), timeout=10)
            return handle
        except ray.exceptions.RayError:  # dead, killed for memory, unreachable: spawn another
            pass
    _SHARED_COLLECTOR.clear()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # No CPU reserved: the collector mostly waits, and MAX copies on CPU counts every CPU.
    # Pinned to the driver's node: losing another node must cost only the copies on it.
    on_driver_node = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    handle = remote_class(Collector).options(
        num_cpus=0, max_concurrency=1, scheduling_strategy=on_driver_node
    ).remote()
    _SHARED_COLLECTOR[job] = handle
    return handle


class CollectorCalls:
    """This run's calls on the collector, the same whether it is a Ray actor or in-process."""

    def __init__(self, handle: Any, run_id: str, cost_per_hour: float | None,
                 slo: dict[str, float] | None = None) -> None:
        self.handle = handle
        self._run_id = run_id
        self._cost_per_hour = cost_per_hour
        self._slo = slo
        self._remote = hasattr(handle.add, "remote")

    def call(self, method: str, *args: Any) -> Any:
        """``collector.method(*args)``, waited for (a deadline: a dead collector must not hang).

        Raises:
            CollectorLost: the collector died or did not answer in time.
        """
        if not self._remote:
            return getattr(self.handle, method)(*args)
        import ray

        try:
            return ray.get(getattr(self.handle, method).remote(*args), timeout=COLLECTOR_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError as exc:
            raise CollectorLost(f"the collector did not answer within {COLLECTOR_TIMEOUT_S:g} s") from exc
        except ray.exceptions.RayError as exc:
            raise CollectorLost(f"the collector was lost: {ray_failure(0, exc)}") from exc

    def finish(self, config: RunConfig, outcome: ConfigOutcome) -> tuple[dict[str, Any], ConfigOutcome, Any]:
        """The config's report, its outcome as the collector settled it, and its timer table when
        the run keeps timers (else None)."""
        return self.call("finish", self._run_id, config, outcome, self._cost_per_hour,  # type: ignore[no-any-return]
                         self._slo)

    def end_run(self) -> None:
        """Free the run's data on the collector (not waited for; a lost collector holds nothing)."""
        if not self._remote:
            self.handle.end_run(self._run_id)
            return
        with contextlib.suppress(Exception):
            self.handle.end_run.remote(self._run_id)
