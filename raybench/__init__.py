"""raybench: NeuronPerf's benchmarking API on Ray.

``import raybench as npf`` and NeuronPerf code keeps working: ``npf.cpu.benchmark``,
``npf.torch.benchmark``, ``npf.print_reports``, ``npf.write_csv``... Each model copy is a Ray
actor (bound to its NeuronCores, GPU or CPU), worker threads inside it call the model, and a
collector actor turns the streamed Arrow timers into percentile reports.
"""

__version__ = "0.1.0"

from raybench import cpu, model_index, mxnet, tensorflow, testing, torch
from raybench._api import benchmark
from raybench._exceptions import (
    ClusterError,
    ConfigError,
    MissingDependencyError,
    ModelLoadError,
    RaybenchError,
    RunError,
    TimerError,
)
from raybench._logging import set_verbosity
from raybench._output import CSV_COLS, PRINT_COLS, print_reports, write_csv, write_json
from raybench._results import Results, get_node_reports, get_reports, read_results, write_results
from raybench._schema import TIMER_SCHEMA
from raybench._timer import Timer, timestamp_convert
from raybench.testing import DummyModel

# isort: split
# Last: both import names defined above. matplotlib is imported only when a plot is drawn.
from raybench import compare, plot  # noqa: E402

__all__ = [
    "CSV_COLS",
    "ClusterError",
    "ConfigError",
    "DummyModel",
    "MissingDependencyError",
    "ModelLoadError",
    "PRINT_COLS",
    "RaybenchError",
    "Results",
    "RunError",
    "TIMER_SCHEMA",
    "Timer",
    "TimerError",
    "__version__",
    "benchmark",
    "compare",
    "cpu",
    "get_node_reports",
    "get_reports",
    "model_index",
    "mxnet",
    "plot",
    "print_reports",
    "read_results",
    "set_verbosity",
    "tensorflow",
    "testing",
    "timestamp_convert",
    "torch",
    "write_csv",
    "write_json",
    "write_results",
]
