"""Shared fixtures: one local Ray for the whole session, on loopback, with declared NeuronCores."""

from __future__ import annotations

import os

import pytest

# Test traffic stays on this machine.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

#: Resources of the session's Ray: more CPUs than the box has is fine (copies mostly sleep),
#: and declared neuron_cores let Ray's NeuronCore binding be tested without a device.
SESSION_CPUS = 4
SESSION_NEURON_CORES = 4


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray started once for every integration test, without the dashboard."""
    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=SESSION_CPUS,
            resources={"neuron_cores": SESSION_NEURON_CORES},
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            logging_level="WARNING",
        )
    yield ray
    ray.shutdown()


def pytest_collection_finish(session):
    """Pickle test modules by value, so Ray workers (which cannot import them) get their models."""
    from ray import cloudpickle

    for module in {item.module for item in session.items if getattr(item, "module", None) is not None}:
        cloudpickle.register_pickle_by_value(module)
