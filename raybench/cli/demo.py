"""The README's main job: the default sweep of a small bundled torch model on a local Ray."""

from __future__ import annotations

import os
from typing import Any

import raybench.torch
from raybench.core.errors import MissingDependencyError
from raybench.cli.history import make_run_folder, point_latest
from raybench.cli.table import print_table, sort_best_first
from raybench.report.output import write_csv, write_json
from raybench.report.results import get_reports, write_results


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError("the demo needs PyTorch: pip install 'raybench[torch]'") from exc
    return torch


def build_demo_model(path: str) -> tuple[str, Any]:
    """Trace a small MLP (256 -> 512 -> 512 -> 10) to a TorchScript file; return it and an input.

    The model is small enough that several copies fit on a laptop CPU, large enough
    (~0.4 M parameters) that a call costs real work rather than just harness overhead.
    """
    torch = _import_torch()
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    ).eval()
    example = torch.randn(8, 256)
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.jit.save(traced, path)
    return path, example


def run_demo(out_dir: str = "results", duration: float = 5.0, verbosity: int = 1) -> dict[str, str]:
    """Benchmark the demo model with the default sweep; print the table; keep the run (and the
    model file) in its own folder ``out_dir/demo_mlp-<UTC time>/``, pointed at by ``out_dir/latest``.

    Returns:
        The paths written: ``{"model", "csv", "json", "parquet", "latest"}``.
    """
    folder = make_run_folder(out_dir, "demo_mlp")
    model_path, example = build_demo_model(os.path.join(folder, "demo_mlp.pt"))
    results = raybench.torch.benchmark(
        model_path, example, batch_sizes=[8], duration=duration, device_type="cpu",
        model_name="demo_mlp", return_timers=True, verbosity=verbosity,
    )
    reports = get_reports(results)
    print_table(sort_best_first(reports, "best"))
    return {
        "model": model_path,
        "csv": write_csv(reports, os.path.join(folder, "demo_mlp.results.csv")),
        "json": write_json(reports, os.path.join(folder, "demo_mlp.results.json")),
        "parquet": write_results(results, os.path.join(folder, "demo_mlp.results.parquet")),
        "latest": point_latest(folder),
    }
