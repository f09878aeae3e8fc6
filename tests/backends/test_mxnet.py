"""The MXNet backend: errors when MXNet or mx_neuron is missing or broken, checkpoint lookup, and
(where MXNet 1.x imports: it needs numpy < 1.24) real checkpoints loaded and called in-process."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from raybench.backends.base import ModelSpec
from raybench.backends.mxnet import MXNetBackend, import_mxnet, resolve_checkpoint
from raybench.backends.neuron import NEURON_REPO_HINT, import_extension
from raybench.core.errors import ConfigError, MissingDependencyError, ModelLoadError

W = np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]], np.float32)  # FullyConnected weight: (num_hidden, in)
B = np.array([0.5, -0.5], np.float32)
X = np.arange(12, dtype=np.float32).reshape(4, 3)
EXPECTED = X @ W.T + B


def test_missing_mxnet_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mxnet", None)  # makes `import mxnet` raise ImportError
    with pytest.raises(MissingDependencyError) as info:
        import_mxnet()
    assert str(info.value) == "the mxnet backend needs MXNet: pip install mxnet"


def test_mxnet_broken_by_numpy_says_why(monkeypatch, tmp_path):
    package = tmp_path / "mxnet"
    package.mkdir()
    (package / "__init__.py").write_text("raise AttributeError(\"module 'numpy' has no attribute 'bool'.\")\n")
    monkeypatch.delitem(sys.modules, "mxnet", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingDependencyError) as info:
        import_mxnet()
    assert str(info.value) == (
        "the mxnet backend could not import MXNet (AttributeError: module 'numpy' has no attribute 'bool'.); "
        f"MXNet 1.x needs numpy older than 1.24 (this is numpy {np.__version__})"
    )


def test_missing_mx_neuron_names_the_packages(monkeypatch):
    monkeypatch.setitem(sys.modules, "mx_neuron", None)
    monkeypatch.setitem(sys.modules, "mxnet.contrib.neuron", None)
    with pytest.raises(MissingDependencyError) as info:
        import_extension("mxnet")
    hint = NEURON_REPO_HINT.format(package="mx_neuron (MXNet 1.8) or mxnet-neuron (MXNet 1.5)")
    assert str(info.value) == f"device_type 'neuron' with mxnet needs mx_neuron or mxnet-neuron: {hint}"


@pytest.fixture
def checkpoint_files(tmp_path):
    prefix = tmp_path / "net"
    for name in ("net-symbol.json", "net-0001.params", "net-0012.params", "other-0099.params"):
        (tmp_path / name).write_text("")
    return str(prefix)


def test_symbol_file_resolves_to_the_newest_epoch(checkpoint_files):
    assert resolve_checkpoint(checkpoint_files + "-symbol.json") == (checkpoint_files, 12)


def test_params_file_resolves_to_its_epoch(checkpoint_files):
    assert resolve_checkpoint(checkpoint_files + "-0001.params") == (checkpoint_files, 1)


def test_prefix_resolves_to_the_newest_epoch(checkpoint_files):
    assert resolve_checkpoint(checkpoint_files) == (checkpoint_files, 12)


def test_checkpoint_without_params_is_refused(tmp_path):
    symbol = str(tmp_path / "lonely-symbol.json")
    with pytest.raises(ModelLoadError) as info:
        resolve_checkpoint(symbol)
    prefix = str(tmp_path / "lonely")
    assert str(info.value) == f"model_filename {symbol!r} needs a {prefix}-NNNN.params file next to it (found none)"


def test_checkpoint_without_symbol_is_refused(tmp_path):
    params = tmp_path / "net-0003.params"
    params.write_text("")
    with pytest.raises(ModelLoadError) as info:
        resolve_checkpoint(str(params))
    symbol = str(tmp_path / "net-symbol.json")
    assert str(info.value) == f"model_filename {str(params)!r} needs the checkpoint file {symbol!r} (not found)"


# -- real MXNet ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mx():
    try:
        return import_mxnet()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def dense_checkpoint(mx, tmp_path_factory):
    """data -> FullyConnected(2) -> SoftmaxOutput's input, saved with a label argument as trained nets are."""
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=2, name="fc")
    symbol = mx.sym.Group([fc, mx.sym.BlockGrad(mx.sym.SoftmaxOutput(fc, name="softmax"))])
    prefix = str(tmp_path_factory.mktemp("mx") / "dense")
    mx.model.save_checkpoint(prefix, 3, symbol, {"fc_weight": mx.nd.array(W), "fc_bias": mx.nd.array(B)}, {})
    return prefix + "-symbol.json"


@pytest.fixture(scope="module")
def two_input_checkpoint(mx, tmp_path_factory):
    symbol = mx.sym.var("first") - 2 * mx.sym.var("second")
    prefix = str(tmp_path_factory.mktemp("mx2") / "two")
    mx.model.save_checkpoint(prefix, 0, symbol, {}, {})
    return prefix + "-0000.params"


def load(path):
    backend = MXNetBackend()
    spec = ModelSpec("mxnet", path, path, "cpu")
    model = backend.load(spec)
    backend.thread_init(spec)
    return model, backend, spec


def test_checkpoint_is_loaded_and_called(mx, dense_checkpoint):
    model, backend, spec = load(dense_checkpoint)
    (prepared,) = backend.prepare_inputs((X,), spec)
    assert isinstance(prepared, mx.nd.NDArray)
    fc, softmax = model(prepared)
    np.testing.assert_allclose(fc, EXPECTED, rtol=1e-6)
    np.testing.assert_allclose(softmax.sum(axis=1), np.ones(4), rtol=1e-6)
    assert model.data_names == ["data"]  # softmax_label is not an input


def test_inputs_map_positionally_or_by_name(mx, two_input_checkpoint):
    model, backend, spec = load(two_input_checkpoint)
    a, b = X, np.ones_like(X)
    np.testing.assert_allclose(model(*backend.prepare_inputs((a, b), spec)), a - 2 * b)
    (named,) = backend.prepare_inputs(({"second": b, "first": a},), spec)
    np.testing.assert_allclose(model(named), a - 2 * b)


def test_a_wrong_number_of_inputs_is_refused(mx, two_input_checkpoint):
    model, backend, spec = load(two_input_checkpoint)
    with pytest.raises(ConfigError) as info:
        model(*backend.prepare_inputs((X,), spec))
    assert str(info.value) == "inputs must hold one array per data input of the MXNet model ['first', 'second'] (got 1)"


def test_concurrent_workers_get_their_own_results(mx, dense_checkpoint):
    model, backend, spec = load(dense_checkpoint)
    inputs = [backend.prepare_inputs((X * k,), spec)[0] for k in range(4)]
    errors = []

    def worker(k):
        for _ in range(50):
            fc, _ = model(inputs[k])
            if not np.allclose(fc, (X * k) @ W.T + B, rtol=1e-5):
                errors.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_other_batch_sizes_bind_their_own_executor(mx, dense_checkpoint):
    model, backend, spec = load(dense_checkpoint)
    for rows in (1, 4):
        fc, _ = model(*backend.prepare_inputs((X[:rows],), spec))
        np.testing.assert_allclose(fc, EXPECTED[:rows], rtol=1e-6)
