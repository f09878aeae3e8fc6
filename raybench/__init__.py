"""raybench: NeuronPerf's benchmarking API on Ray.

``import raybench as npf`` and NeuronPerf code keeps working: ``npf.cpu.benchmark``,
``npf.torch.benchmark``, ``npf.print_reports``, ``npf.write_csv``... Each model copy is a Ray
actor (bound to its NeuronCores, GPU or CPU), worker threads inside it call the model, and a
collector actor turns the streamed Arrow timers into percentile reports.
"""

from raybench import compare, cpu, llm, model_index, mxnet, plot, tensorflow, testing, torch
from raybench.core.errors import (
    ClusterError,
    ConfigError,
    MissingDependencyError,
    ModelLoadError,
    RaybenchError,
    RunError,
    TimerError,
)
from raybench.core.log import set_verbosity
from raybench.core.schema import TIMER_SCHEMA
from raybench.core.timer import Timer, timestamp_convert
from raybench.core.version import __version__
from raybench.report.output import CSV_COLS, PRINT_COLS, print_reports, write_csv, write_json
from raybench.report.results import (
    Results,
    get_capacity_reports,
    get_node_reports,
    get_reports,
    read_results,
    write_results,
)
from raybench.run.api import benchmark
from raybench.run.compile import compile  # noqa: A004 - NeuronPerf's name
from raybench.plot import write_html
from raybench.testing import DummyModel



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
    "compile",
    "cpu",
    "get_capacity_reports",
    "get_node_reports",
    "get_reports",
    "llm",
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
    "write_html",
    "write_json",
    "write_results",
]
