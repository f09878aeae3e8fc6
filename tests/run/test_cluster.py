"""Cluster resources, MAX, fit checks, device resolution and instance detection (no Ray)."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from raybench.run.cluster import (
    CopyRequest,
    NodeResources,
    check_fits,
    copies_per_node,
    copy_request,
    max_copies,
    resolve_device_type,
    shared_cpu_request,
)
from raybench.core.errors import ClusterError
from raybench.run.instance import detect_instance_type, neuron_cores_hint, on_ec2

TWO_NODES = [
    NodeResources("node-a-0123456789", {"CPU": 8.0, "neuron_cores": 4.0}),
    NodeResources("node-b-0123456789", {"CPU": 8.0, "neuron_cores": 3.0}),
]


def test_neuron_copy_asks_for_its_pipeline_of_cores_and_no_cpu():
    request = copy_request("neuron", 2)
    assert request.ray_options() == {"num_cpus": 0, "resources": {"neuron_cores": 2.0}}


def test_gpu_copy_asks_for_one_gpu_and_cpu_copy_for_one_cpu():
    assert copy_request("gpu", 1).ray_options() == {"num_cpus": 0, "num_gpus": 1}
    assert copy_request("cpu", 1).ray_options() == {"num_cpus": 1}


def test_max_counts_whole_copies_per_node():
    # 4 cores -> 2 copies of pipeline 2; 3 cores -> 1 copy (a copy's cores are on one node).
    assert max_copies(copy_request("neuron", 2), TWO_NODES) == 3
    assert max_copies(copy_request("neuron", 1), TWO_NODES) == 7
    assert copies_per_node(copy_request("neuron", 4), TWO_NODES[1]) == 0


def test_a_config_that_does_not_fit_is_refused_with_needed_and_available_per_node():
    with pytest.raises(ClusterError) as caught:
        check_fits(4, copy_request("neuron", 2), TWO_NODES, pipeline_size=2)
    assert str(caught.value) == (
        "n_models=4 with pipeline_size=2 needs 8 neuron_cores, but the cluster has 7 neuron_cores and can place "
        "3 copies (node node-a-01234: 4 neuron_cores -> 2 copies; node node-b-01234: 3 neuron_cores -> 1 copies)"
    )


@pytest.mark.parametrize(
    ("n_models", "nodes", "share"),
    [
        (2, [{"CPU": 2.0}], 1),  # fits on whole CPUs: one CPU each
        (16, [{"CPU": 2.0}], 0.125),  # NeuronPerf's n_models=16 on a 2-CPU box
        (3, [{"CPU": 2.0}], 0.5),
        (7, [{"CPU": 1.0}], 0.1428),  # rounded down to Ray's 4 decimals, so 7 fit in one CPU
        (4, [{"CPU": 2.0}, {"CPU": 1.0}], 0.5),  # counted per node: 2 + 1 CPUs at 2 a CPU
    ],
)
def test_cpu_copies_beyond_the_cpus_ask_for_a_share_that_places_them_all(n_models, nodes, share):
    cluster = [NodeResources(f"n{i}", r) for i, r in enumerate(nodes)]
    request = shared_cpu_request(n_models, cluster)
    assert request.num_cpus == share
    assert max_copies(request, cluster) >= n_models
    check_fits(n_models, request, cluster)


def test_max_stays_the_whole_cpus_and_neuron_cores_are_never_shared():
    assert max_copies(copy_request("cpu", 1), [NodeResources("n", {"CPU": 2.0})]) == 2
    with pytest.raises(ClusterError, match="needs 8 neuron_cores"):
        check_fits(8, copy_request("neuron", 1), TWO_NODES)


def test_a_config_that_fits_passes():
    check_fits(3, copy_request("neuron", 2), TWO_NODES, pipeline_size=2)


def test_auto_picks_neuron_then_gpu_then_cpu():
    assert resolve_device_type("auto", TWO_NODES) == "neuron"
    assert resolve_device_type("auto", [NodeResources("n", {"CPU": 4.0, "GPU": 1.0})]) == "gpu"
    assert resolve_device_type("auto", [NodeResources("n", {"CPU": 4.0})]) == "cpu"
    assert resolve_device_type("cuda", []) == "gpu"


def test_copy_request_as_dict_names_ray_resources():
    assert CopyRequest(num_cpus=1, num_gpus=0).as_dict() == {"CPU": 1}


def test_instance_type_comes_from_the_environment_first(tmp_path):
    assert detect_instance_type({"RAYBENCH_INSTANCE_TYPE": "inf2.xlarge"}, dmi_dir=str(tmp_path)) == "inf2.xlarge"


def test_off_ec2_the_metadata_service_is_not_asked(tmp_path, fake_imds):
    (tmp_path / "sys_vendor").write_text("QEMU\n")
    assert not on_ec2(str(tmp_path))
    assert detect_instance_type({}, dmi_dir=str(tmp_path), imds_url=fake_imds) == "unknown"
    assert FakeImds.requests == []


class FakeImds(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_PUT(self):  # noqa: N802 - http.server's naming
        FakeImds.requests.append(self.path)
        assert self.path == "/latest/api/token"
        assert self.headers["X-aws-ec2-metadata-token-ttl-seconds"] == "60"
        self._reply(b"token-123")

    def do_GET(self):  # noqa: N802
        FakeImds.requests.append(self.path)
        if self.path == "/latest/meta-data/instance-type" and self.headers["X-aws-ec2-metadata-token"] == "token-123":
            self._reply(b"inf1.6xlarge")
        else:
            self.send_error(401)

    def _reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_imds():
    FakeImds.requests = []
    server = http.server.HTTPServer(("127.0.0.1", 0), FakeImds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def ec2_dmi(tmp_path):
    (tmp_path / "sys_vendor").write_text("Amazon EC2\n")
    return str(tmp_path)


def test_on_ec2_the_instance_type_comes_from_imdsv2(ec2_dmi, fake_imds):
    assert detect_instance_type({}, dmi_dir=ec2_dmi, imds_url=fake_imds) == "inf1.6xlarge"
    assert FakeImds.requests == ["/latest/api/token", "/latest/meta-data/instance-type"]


def test_an_unreachable_metadata_service_gives_unknown_quickly(ec2_dmi):
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t0 = time.monotonic()
    assert detect_instance_type({}, dmi_dir=ec2_dmi, imds_url=f"http://127.0.0.1:{port}") == "unknown"
    assert time.monotonic() - t0 < 2


def test_core_count_hint_explains_known_instances_and_never_guesses():
    assert "inf1.xlarge, which has 4 NeuronCores" in neuron_cores_hint("inf1.xlarge")
    assert neuron_cores_hint("unknown") == ""
    assert neuron_cores_hint("m5.large") == ""
