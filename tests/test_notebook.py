"""The example notebook runs top to bottom on a results file made here, in this interpreter."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import raybench

pytestmark = pytest.mark.integration  # a notebook kernel runs the example

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "analysis.ipynb"
#: The folder holding the raybench package these tests import.
PACKAGE_ROOT = str(Path(raybench.__file__).resolve().parents[1])
#: The kernelspec the test writes: it names this interpreter, whatever "python3" resolves to.
KERNEL_NAME = "raybench-test-python"
#: The notebook's plot cells, one per function of raybench.plot (their ids are the plots' names).
PLOTS = ("latency_cdf", "latency_over_time", "scaling", "latency_vs_throughput")
#: Seconds one cell may take (kernel start and the first plot, which imports matplotlib, are the slowest).
CELL_TIMEOUT_S = 120


def write_kernelspec(jupyter_dir: Path) -> None:
    """A kernelspec that starts ipykernel in this interpreter (the venv the tests run in).

    ``python3`` could resolve to a user-wide kernelspec of another Python, which would run the
    notebook without this checkout of raybench; a spec naming ``sys.executable`` cannot.
    """
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "raybench tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory):
    """The notebook after running it on a fresh two-config results file, in a temporary folder.

    The results file reaches the notebook through ``RAYBENCH_RESULTS``, which its parameter cell
    reads before falling back to the demo's file.
    """
    root = tmp_path_factory.mktemp("notebook")
    results = raybench.cpu.benchmark(
        raybench.testing.SimulatedDevice, np.zeros(4), batch_sizes=[1], n_models=[1, 2], workers_per_model=[1],
        duration=1.0, multiprocess=False, return_timers=True, verbosity=0,
    )  # fmt: skip
    path = raybench.write_results(results, root / "run.results.parquet")
    write_kernelspec(root / "jupyter")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAYBENCH_RESULTS", path)
        # JUPYTER_PATH is searched before the user's and the environment's kernelspecs.
        mp.setenv("JUPYTER_PATH", str(root / "jupyter"))
        mp.setenv("JUPYTER_RUNTIME_DIR", str(root / "runtime"))
        mp.setenv("IPYTHONDIR", str(root / "ipython"))
        mp.delenv("MPLBACKEND", raising=False)  # ipykernel's inline backend makes the PNGs
        # The kernel imports the raybench under test, even where it is not the installed one.
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])))
        nb = nbformat.read(NOTEBOOK, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
        client = nbclient.NotebookClient(
            nb, kernel_name=KERNEL_NAME, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(root)}},
        )  # fmt: skip
        client.execute()
    return nb, root


def outputs(nb) -> list[dict]:
    """Every output of every code cell."""
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


def html_of(nb, cell_id: str) -> str:
    """The HTML a cell displayed last (a DataFrame's table)."""
    (cell,) = [c for c in nb.cells if c.get("id") == cell_id]
    return [o.data["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})][-1]


def test_the_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)

    code = [c for c in nb.cells if c.cell_type == "code"]
    nbformat.validate(nb)
    assert [(c.outputs, c.execution_count) for c in code] == [([], None)] * len(code)


def test_every_cell_ran_without_error(executed) -> None:
    nb, _ = executed

    assert [o for o in outputs(nb) if o.output_type == "error"] == []
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")


def test_the_kernel_was_this_interpreter(executed) -> None:
    nb, _ = executed

    assert nb.cells[-1].outputs[0].text.strip() == sys.executable


def test_the_report_table_is_shown(executed) -> None:
    nb, _ = executed

    html = html_of(nb, "report")
    assert all(f"<th>{name}</th>" in html for name in ("status", "throughput_avg", "latency_ms_p50", "latency_ms_p99"))
    assert html.count("</tr>") == 1 + 2  # the header, then one row per config


def test_the_percentiles_per_copy_and_node_are_shown(executed) -> None:
    nb, _ = executed

    per_copy, per_node = html_of(nb, "per-copy"), html_of(nb, "per-node")
    assert "<th>copy_id</th>" in per_copy and "<th>p99_ms</th>" in per_copy
    assert per_copy.count("</tr>") == 2 + 3  # two header rows, then copies 0; 0 and 1
    assert "<th>node_id</th>" in per_node and "<th>p99_ms</th>" in per_node
    assert "<th>n_copies</th>" in html_of(nb, "node-reports")


def test_the_streaming_run_shows_its_token_figures_and_plots(executed) -> None:
    nb, _ = executed

    html = html_of(nb, "stream-run")
    assert all(f"<th>{name}</th>" in html for name in ("ttft_ms_p50", "itl_ms_p99", "output_tokens_per_s", "slo_ok"))
    assert html.count("</tr>") == 1 + 2
    assert "<th>chunk_ns</th>" in html_of(nb, "stream-timers")
    for name in ("token-latency-cdf", "tokens-vs-concurrency"):
        (cell,) = [c for c in nb.cells if c.get("id") == name]
        assert ["image/png" in o.get("data", {}) for o in cell.outputs] == [True], name


def test_the_plots_are_shown_and_saved(executed) -> None:
    nb, root = executed

    for name in PLOTS:
        (cell,) = [c for c in nb.cells if c.get("id") == name.replace("_", "-")]
        assert ["image/png" in o.get("data", {}) for o in cell.outputs] == [True], name
    assert sorted(p.name for p in (root / "plots").iterdir()) == sorted(f"{name}.png" for name in PLOTS)
