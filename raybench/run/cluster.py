"""What the cluster has, how many copies fit, and what one copy asks Ray for (driver side; the
binding of a copy to its cores, inside the actor, is :mod:`raybench.engine.binding`).

Per node, from Ray's view of the cluster: a copy needs all its resources on one node, so MAX is
counted in whole copies per node and summed. A config that asks for more than fits is refused
before anything is spawned (Ray would otherwise queue the actor forever).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from raybench.core.errors import ClusterError
from raybench.engine.binding import NEURON_CORES
from raybench.run.instance import instance_type, neuron_cores_hint


@dataclass(frozen=True)
class NodeResources:
    """One alive node's total resources as Ray reports them."""

    node_id: str
    resources: dict[str, float]


@dataclass(frozen=True)
class CopyRequest:
    """The Ray resources one model copy asks for."""

    num_cpus: float
    num_gpus: float = 0.0
    resources: tuple[tuple[str, float], ...] = ()

    def as_dict(self) -> dict[str, float]:
        """All requested resources by Ray's names (``CPU``, ``GPU``, custom)."""
        wanted = {"CPU": self.num_cpus, "GPU": self.num_gpus, **dict(self.resources)}
        return {k: v for k, v in wanted.items() if v > 0}

    def ray_options(self) -> dict[str, Any]:
        """Keyword arguments for ``ray.remote(...).options(...)``."""
        options: dict[str, Any] = {"num_cpus": self.num_cpus}
        if self.num_gpus:
            options["num_gpus"] = self.num_gpus
        if self.resources:
            options["resources"] = dict(self.resources)
        return options


def alive_nodes() -> list[NodeResources]:
    """The alive nodes of the connected Ray cluster and their total resources."""
    import ray

    return [
        NodeResources(str(node["NodeID"]), dict(node.get("Resources", {})))
        for node in ray.nodes()
        if node.get("Alive")
    ]


def local_node() -> list[NodeResources]:
    """This machine as a one-node cluster (for ``multiprocess=False``: no Ray)."""
    return [NodeResources("local", {"CPU": float(os.cpu_count() or 1)})]


def resolve_device_type(device_type: str, nodes: list[NodeResources]) -> str:
    """Turn ``"auto"``/``"cuda"`` into ``"neuron"``, ``"gpu"`` or ``"cpu"``.

    ``"auto"`` picks neuron when any node has ``neuron_cores``, else gpu when any has GPUs,
    else cpu.
    """
    if device_type == "cuda":
        return "gpu"
    if device_type != "auto":
        return device_type
    if any(n.resources.get(NEURON_CORES, 0) > 0 for n in nodes):
        return "neuron"
    if any(n.resources.get("GPU", 0) > 0 for n in nodes):
        return "gpu"
    return "cpu"


def copy_request(device_type: str, pipeline_size: int) -> CopyRequest:
    """The resources one copy asks for.

    neuron: ``pipeline_size`` whole NeuronCores (Ray then sets ``NEURON_RT_VISIBLE_CORES``);
    gpu: one GPU; cpu: one CPU per copy, so MAX on CPU is the cluster's CPU count (more copies
    share CPUs: :func:`shared_cpu_request`). Neuron and GPU copies ask for no CPU, so the host's
    CPUs do not cap the copy count; a NeuronCore or a GPU is never shared.
    """
    if device_type == "neuron":
        return CopyRequest(num_cpus=0, resources=((NEURON_CORES, float(pipeline_size)),))
    if device_type == "gpu":
        return CopyRequest(num_cpus=0, num_gpus=1)
    return CopyRequest(num_cpus=1)


#: Ray keeps resource amounts to 4 decimals: a shared CPU share is rounded down to that, so
#: k shares always fit in one CPU.
_CPU_SHARE_STEP = 10_000


def shared_cpu_request(n_models: int, nodes: list[NodeResources]) -> CopyRequest:
    """The CPU request that lets ``n_models`` CPU copies share the cluster's cores.

    A CPU copy asks for one whole CPU, so MAX is the CPU count. An explicit ``n_models`` beyond it
    is run on purpose (to see where CPU scaling saturates, as NeuronPerf's ``n_models=16`` on any
    machine does): each copy then asks for ``1/k`` of a CPU, with ``k`` the fewest copies per CPU
    that place them all, counted per node.
    """
    whole = CopyRequest(num_cpus=1)
    if n_models <= max_copies(whole, nodes):
        return whole
    cpus = [node.resources.get("CPU", 0.0) for node in nodes]
    per_cpu = 2
    while sum(math.floor(c * per_cpu + 1e-9) for c in cpus) < n_models:
        per_cpu += 1
    return CopyRequest(num_cpus=math.floor(_CPU_SHARE_STEP / per_cpu) / _CPU_SHARE_STEP)


def copies_per_node(request: CopyRequest, node: NodeResources) -> int:
    """Whole copies of ``request`` that fit on ``node``."""
    fits = [math.floor(node.resources.get(name, 0.0) / amount + 1e-9) for name, amount in request.as_dict().items()]
    return min(fits) if fits else 0


def max_copies(request: CopyRequest, nodes: list[NodeResources]) -> int:
    """MAX: whole copies that fit on the cluster, counted per node."""
    return sum(copies_per_node(request, node) for node in nodes)


def check_fits(n_models: int, request: CopyRequest, nodes: list[NodeResources], *, pipeline_size: int = 1) -> None:
    """Refuse a config that the cluster cannot place, before spawning anything.

    Raises:
        ClusterError: needed vs available, in total and per node.
    """
    available = max_copies(request, nodes)
    if n_models <= available:
        return
    wanted = request.as_dict()
    needed = ", ".join(f"{amount * n_models:g} {name}" for name, amount in wanted.items())
    have = {name: sum(node.resources.get(name, 0.0) for node in nodes) for name in wanted}
    have_text = ", ".join(f"{amount:g} {name}" for name, amount in have.items())
    per_node = "; ".join(
        f"node {node.node_id[:12]}: "
        + ", ".join(f"{node.resources.get(name, 0.0):g} {name}" for name in wanted)
        + f" -> {copies_per_node(request, node)} copies"
        for node in nodes
    )
    msg = (
        f"n_models={n_models} with pipeline_size={pipeline_size} needs {needed}, "
        f"but the cluster has {have_text} and can place {available} copies ({per_node or 'no alive nodes'})"
    )
    if NEURON_CORES in wanted and have[NEURON_CORES] == 0:
        msg += neuron_cores_hint(instance_type())
    raise ClusterError(msg)
