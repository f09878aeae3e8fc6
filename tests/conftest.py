"""Shared fixtures: one local Ray for the whole session, on loopback, with declared NeuronCores.

Two markers tell the tests apart. ``ray``: the test needs Ray — the session's (the
``ray_session`` fixture) or one a subprocess starts. ``integration``: the test runs something
whole — Ray, a ``raybench`` command in a subprocess, a notebook kernel, a timed benchmark — and
every ``ray`` test is one. The pure unit tests run alone in well under a minute:
``pytest -m "not integration"``. A test without the ``ray`` marker that tries to start Ray
in-process fails at once, saying to mark it.
"""

from __future__ import annotations

import os

import pytest

# Test traffic stays on this machine.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

#: Resources of the session's Ray: more CPUs than the box has is fine (copies mostly sleep),
#: and declared neuron_cores let Ray's NeuronCore binding be tested without a device.
SESSION_CPUS = 4
SESSION_NEURON_CORES = 4

#: Fixtures that run Ray (in this process or in a subprocess): a test using one is a Ray test.
RAY_FIXTURES = {"ray_session", "torch_run", "interrupted_class_run", "demo_run"}


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


def pytest_collection_modifyitems(config, items):
    """Mark every test that uses a Ray fixture as a Ray test, and every Ray test as an integration test."""
    for item in items:
        if RAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ray)
        if item.get_closest_marker("ray") is not None:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _pure_tests_start_no_ray(request, monkeypatch):
    """A test not marked ``ray`` must not start Ray: refuse it with a message saying so."""
    if request.node.get_closest_marker("ray") is None:
        from raybench.run import api

        def refuse(*args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} starts Ray: mark it @pytest.mark.ray")

        monkeypatch.setattr(api, "connect_ray", refuse)


def pytest_collection_finish(session):
    """Pickle test modules by value, so Ray workers (which cannot import them) get their models."""
    from ray import cloudpickle

    for module in {item.module for item in session.items if getattr(item, "module", None) is not None}:
        cloudpickle.register_pickle_by_value(module)


@pytest.fixture
def raybench_log(caplog):
    """``caplog``, listening on the ``raybench`` logger (which does not propagate to the root)."""
    from raybench.core.log import logger

    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)
