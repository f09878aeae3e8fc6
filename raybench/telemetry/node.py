"""The node's device monitor: one ``neuron-monitor`` per node and config, run by whichever copy
on the node takes the node's lock first, so a node with eight copies still runs one monitor.

``neuron-monitor`` is looked up on PATH (and in ``/opt/aws/neuron/bin``); ``RAYBENCH_NEURON_MONITOR``
names another command (split like a shell line) for an install elsewhere. Without one, nothing
runs and there are no Neuron series.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import tempfile
from typing import Any

from raybench.telemetry import Sample
from raybench.telemetry.neuron import NeuronMonitor, available
from raybench.telemetry.neuron_json import process_tag

#: Names the neuron-monitor command to run instead of the one on PATH.
MONITOR_ENV = "RAYBENCH_NEURON_MONITOR"
#: The environment variable the Neuron runtime reports as each process's tag.
PROCESS_TAG_ENV = "NEURON_PROCESS_TAG"


def tag_process(copy_id: int) -> None:
    """Tag this copy's Neuron runtime (before it loads), so the monitor's reports name the copy."""
    os.environ[PROCESS_TAG_ENV] = process_tag(copy_id)


def monitor_command() -> list[str] | None:
    """The command ``RAYBENCH_NEURON_MONITOR`` names, or None for ``neuron-monitor`` itself."""
    text = os.environ.get(MONITOR_ENV, "").strip()
    return shlex.split(text) if text else None


class NodeMonitor:
    """The node's monitor for one config, if this copy is the first on its node to ask.

    Args:
        key: Names the config across the node's copies (the run and config ids).
        interval_s: The monitor's reporting period (``stats_interval``).
    """

    def __init__(self, key: str, interval_s: float) -> None:
        self._lock_path = os.path.join(tempfile.gettempdir(), f"raybench-monitor-{key}.lock")
        self._interval_s = interval_s
        self._lock: Any = None
        self._monitor: NeuronMonitor | None = None
        self._hardware: dict[str, Any] | None = None

    def start(self) -> NodeMonitor:
        """Take the node's lock and start the monitor; a copy that does not get the lock, or a
        node without neuron-monitor, runs nothing."""
        command = monitor_command()
        if not available(command):
            return self
        lock = open(self._lock_path, "a")  # noqa: SIM115 - held until stop
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another copy on this node runs the monitor
            lock.close()
            return self
        self._lock = lock
        self._monitor = NeuronMonitor(self._interval_s, command=command)
        self._monitor.start()
        return self

    @property
    def hardware_info(self) -> dict[str, Any] | None:
        """The node's Neuron hardware as the monitor reported it, or None."""
        return self._monitor.hardware_info if self._monitor is not None else self._hardware

    def stop(self) -> list[Sample]:
        """Stop the monitor, release the lock; return the samples it took."""
        if self._monitor is None:
            return []
        samples = self._monitor.drain()
        self._monitor.stop()
        samples += self._monitor.drain()
        self._hardware = self._monitor.hardware_info
        try:
            os.unlink(self._lock_path)  # before unlocking: a copy that opens it now gets a new file
        except OSError:
            pass
        self._lock.close()
        self._monitor = self._lock = None
        return samples
