"""Multi-node clusters: two Ray nodes on this machine (``ray.cluster_utils.Cluster``, loopback only).

A driver can be connected to one cluster only, and the session may already hold a local Ray
(``conftest.ray_session``), so each scenario runs as a driver script in a subprocess that builds
the cluster, benchmarks ``raybench.testing.SimulatedDevice`` on it and writes the results file;
the assertions read that file here. Each node declares 2 CPUs and 2 ``neuron_cores``, so a
pipeline-1 copy (one core) fits twice per node and MAX is 4 copies on the two nodes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import raybench
from raybench.report.reports import REPORT_FIELDS
from raybench.report.results import get_node_reports
from raybench.core.schema import STATUS_ERROR, STATUS_FINISHED, timer_schema

pytestmark = [
    pytest.mark.ray,  # each test starts a multi-node Ray cluster in a subprocess
    pytest.mark.skipif(sys.platform == "win32", reason="ray.cluster_utils.Cluster is POSIX only"),
]

#: Starts the head node (2 CPUs, 2 neuron_cores, loopback only); ``{body}`` connects, adds the
#: worker node and benchmarks, and the cluster is shut down whatever happens.
_SCRIPT = '''
import json, sys, threading, time

import ray
from ray.cluster_utils import Cluster

import raybench
import raybench.testing

OUT = sys.argv[1]


def load_fn(_filename):
    return raybench.testing.SimulatedDevice()


def run(path, **kwargs):
    options = dict(device_type="neuron", workers_per_model=1, duration=1, return_timers=True,
                   verbosity=0, batch_sizes=[1])
    results = raybench.benchmark(load_fn, "sim", 1, **{{**options, **kwargs}})
    raybench.write_results(results, path)


cluster = Cluster(
    initialize_head=True,
    head_node_args={{"num_cpus": 2, "resources": {{"neuron_cores": 2}},
                    "node_ip_address": "127.0.0.1", "include_dashboard": False}},
)
try:
{body}
finally:
    ray.shutdown()
    cluster.shutdown()
'''

_ADD_WORKER = '''
worker = cluster.add_node(num_cpus=2, resources={"neuron_cores": 2}, node_ip_address="127.0.0.1")
cluster.wait_for_nodes()
'''

_CONNECT = (
    'ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False,'
    ' logging_level="WARNING")\n'
)

#: One head-only run (the single-node reference), then the default sweep on two nodes: with one
#: worker per copy that is n_models [1, max], and max is the 4 copies the two nodes hold.
_SWEEPS = (
    _CONNECT
    + 'run(OUT + "/single.parquet", n_models=[1], duration=0.5)\n'
    + _ADD_WORKER
    + 'run(OUT + "/default.parquet")\n'
)

#: The worker node is removed ~0.5 s into the measurement of a 3-second, 4-copy config; a 2-copy
#: config follows. Each copy drops a marker file at its first (warmup) call; measuring starts
#: ~0.1 s after the last copy's warmup (the barrier), so the node goes 0.5 s after 4 markers.
#: The collector is spawned while both nodes are up: it must be pinned to the driver's node, or
#: (as it was before the pin, in 4 of 6 runs) it dies with the removed node and benchmark() raises.
_REMOVAL = (
    _CONNECT
    + _ADD_WORKER
    + textwrap.dedent('''
    import os, pathlib

    class MarkingDevice(raybench.testing.SimulatedDevice):
        marked = False

        def __call__(self, *inputs):
            if not self.marked:
                self.marked = True
                pathlib.Path(OUT, f"called-{os.getpid()}").touch()
            return super().__call__(*inputs)

    def load_fn(_filename):
        return MarkingDevice()

    def remove():
        while len(list(pathlib.Path(OUT).glob("called-*"))) < 4:
            time.sleep(0.01)
        time.sleep(0.5)
        cluster.remove_node(worker)
        with open(OUT + "/removed.json", "w") as f:
            json.dump({"removed_ns": time.time_ns()}, f)
    threading.Thread(target=remove, daemon=True).start()
    run(OUT + "/removal.parquet", n_models=[4, 2], duration=3)
    ''')
)


def run_driver(tmp_path: Path, body: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run one driver script on a fresh two-node cluster; its files land in ``tmp_path``."""
    script = tmp_path / "driver.py"
    script.write_text(_SCRIPT.format(body=textwrap.indent(body, "    ")))
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("RAY_ADDRESS", None)  # the script builds its own cluster
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=timeout_s, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, raybench.Results]:
    """The single-node run and the two-node default sweep, run once for the module."""
    out = tmp_path_factory.mktemp("multinode")
    done = run_driver(out, _SWEEPS, timeout_s=120)
    if done.returncode != 0:
        pytest.fail(f"two-node driver failed (rc {done.returncode}):\n{done.stderr[-4000:]}")
    return {name: raybench.read_results(out / f"{name}.parquet") for name in ("single", "default")}


def four_copy(results: raybench.Results) -> tuple[dict, dict]:
    (pair,) = [(config, result) for config, result in results if config["n_models"] == 4]
    return pair


def test_four_copies_spread_two_per_node(sweeps: dict[str, raybench.Results]) -> None:
    _, result = four_copy(sweeps["default"])

    per_node: dict[str, int] = {}
    for copy in result["copies"]:
        per_node[copy["node_id"]] = per_node.get(copy["node_id"], 0) + 1

    assert result["status"] == STATUS_FINISHED
    assert sorted(per_node.values()) == [2, 2]


def test_four_copy_timers_hold_two_node_ids(sweeps: dict[str, raybench.Results]) -> None:
    _, result = four_copy(sweeps["default"])

    nodes = pc.unique(result["timers"].column("node_id").cast(pa.string())).to_pylist()

    assert len(nodes) == 2
    assert set(nodes) == {copy["node_id"] for copy in result["copies"]}


def test_telemetry_from_both_nodes_lands_in_one_table(sweeps: dict[str, raybench.Results]) -> None:
    results = sweeps["default"]
    (config,) = [c for c in results.configs if c.n_models == 4]
    rows = [r for r in results.telemetry.to_pylist() if r["config_id"] == config.config_id]
    host_nodes = {r["node_id"] for r in rows if r["source"] == "host" and r["metric"] == "cpu_percent"}
    copy_nodes = {(r["node_id"], r["copy_id"]) for r in rows if r["source"] == "process" and r["metric"] == "rss_mb"}
    assert len(host_nodes) == 2  # one host series per node
    assert len(copy_nodes) == 4 and {node for node, _ in copy_nodes} == host_nodes


def test_report_counts_two_nodes(sweeps: dict[str, raybench.Results]) -> None:
    reports = raybench.get_reports(sweeps["default"])

    assert [(r["n_models"], r["n_nodes"], r["status"]) for r in reports] == [
        (1, 1, STATUS_FINISHED), (4, 2, STATUS_FINISHED),
    ]  # fmt: skip


def test_node_totals_add_up_to_the_config_total(sweeps: dict[str, raybench.Results]) -> None:
    results = sweeps["default"]
    (report,) = [r for r in raybench.get_reports(results) if r["n_models"] == 4]
    _, result = four_copy(results)

    rows = [row for row in get_node_reports(results) if row["config_id"] == report["config_id"]]

    assert result["nodes"] == rows
    assert [row["n_copies"] for row in rows] == [2, 2]
    assert sum(row["total_infs"] for row in rows) == report["total_infs"] > 0
    assert all(row["throughput_avg"] > 0 for row in rows)


def test_two_node_results_have_the_single_node_shape(sweeps: dict[str, raybench.Results]) -> None:
    single, multi = sweeps["single"], sweeps["default"]

    assert single.timers.schema == multi.timers.schema == timer_schema()
    assert single.reports.schema == multi.reports.schema
    assert single.reports.column_names == list(REPORT_FIELDS)
    assert sorted(single[0][1]) == sorted(multi[-1][1])
    assert sorted(single.metadata) == sorted(multi.metadata)
    assert (single.metadata["n_nodes"], multi.metadata["n_nodes"]) == (1, 2)


def test_max_counts_every_node(sweeps: dict[str, raybench.Results]) -> None:
    reports = raybench.get_reports(sweeps["default"])

    assert [(r["n_models"], r["n_devices"]) for r in reports] == [(1, 1), (4, 4)]
    assert reports[-1]["n_nodes"] == 2


def test_removed_node_fails_its_config_and_the_sweep_goes_on(tmp_path: Path) -> None:
    done = run_driver(tmp_path, _REMOVAL, timeout_s=120)
    assert done.returncode == 0, done.stderr[-4000:]
    results = raybench.read_results(tmp_path / "removal.parquet")
    removed_ns = json.loads((tmp_path / "removed.json").read_text())["removed_ns"]

    reports = raybench.get_reports(results)
    assert [(o.status, r["n_models"]) for o, r in zip(results.outcomes, reports)] == [
        (STATUS_ERROR, 4), (STATUS_FINISHED, 2),
    ]  # fmt: skip
    assert re.match(r"copy \d+ died: ", results.outcomes[0].error), results.outcomes[0].error
    assert reports[1]["n_nodes"] == 1
    assert reports[1]["total_infs"] > 0
    # The second config started after the node was gone.
    assert results.outcomes[1].start_ns > removed_ns
