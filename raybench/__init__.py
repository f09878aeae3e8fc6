"""raybench: NeuronPerf's benchmarking API on Ray.

``import raybench as npf`` and NeuronPerf code keeps working: ``npf.cpu.benchmark``,
``npf.torch.benchmark``, ``npf.print_reports``, ``npf.write_csv``... Each model copy is a Ray
actor (bound to its NeuronCores, GPU or CPU), worker threads inside it call the model, and a
collector actor turns the streamed Arrow timers into percentile reports.
"""

from __future__ import annotations

__version__ = "0.1.0"

from raybench import cpu, testing, torch
from raybench._api import benchmark
from raybench._exceptions import (
    ClusterError,
    ConfigError,
    MissingDependencyError,
    ModelLoadError,
    RaybenchError,
    RunError,
)
from raybench._logging import set_verbosity
from raybench._results import Results, get_reports, read_results, write_results
from raybench._schema import TIMER_SCHEMA
from raybench.testing import DummyModel

__all__ = [
    "ClusterError",
    "ConfigError",
    "DummyModel",
    "MissingDependencyError",
    "ModelLoadError",
    "RaybenchError",
    "Results",
    "RunError",
    "TIMER_SCHEMA",
    "__version__",
    "benchmark",
    "cpu",
    "get_reports",
    "read_results",
    "set_verbosity",
    "testing",
    "torch",
    "write_results",
]
