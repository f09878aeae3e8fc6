"""The TensorFlow backend in-process: Keras files and SavedModels loaded and called, cpu compile, Neuron paths."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pytest

from raybench.backends.base import ModelSpec
from raybench.backends.neuron import NEURON_REPO_HINT
from raybench.core.errors import ConfigError, MissingDependencyError, ModelLoadError

pytestmark = pytest.mark.integration  # real TensorFlow models are saved, loaded and benchmarked

W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
B = np.array([0.5, -0.5], np.float32)
X = np.arange(12, dtype=np.float32).reshape(4, 3)
EXPECTED = X @ W + B

NEURON_MESSAGE = (
    "device_type 'neuron' with tensorflow needs tensorflow-neuron or tensorflow-neuronx: "
    + NEURON_REPO_HINT.format(package="tensorflow-neuron (Inf1) or tensorflow-neuronx (Inf2/Trn1)")
)


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def backend_tf(tf):
    from raybench.backends import tensorflow as _backend_tf
    return _backend_tf


@pytest.fixture(scope="module")
def keras_model(tf):
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
    model.layers[0].set_weights([W, B])
    return model


@pytest.fixture(scope="module")
def keras_file(keras_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "dense.keras"
    keras_model.save(path)
    return str(path)


@pytest.fixture(scope="module")
def saved_model_dir(backend_tf, keras_model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("compiled") / "dense_b4_p1")
    return backend_tf.compile_tensorflow(keras_model, (X,), 1, 3, [], path, "cpu")


@pytest.fixture(scope="module")
def two_input_dir(tf, tmp_path_factory):
    """A plain tf.Module whose inputs sort differently by plain and by natural name order."""
    specs = [tf.TensorSpec([None, 3], tf.float32, name="x_2"), tf.TensorSpec([None, 3], tf.float32, name="x_10")]
    module = tf.Module()
    module.__call__ = tf.function(lambda x_2, x_10: x_2 - 2.0 * x_10, input_signature=specs)
    path = str(tmp_path_factory.mktemp("two") / "two_inputs")
    tf.saved_model.save(module, path, signatures={"serving_default": module.__call__.get_concrete_function()})
    return path


def run(backend_tf, path, inputs, device_type="cpu"):
    backend = backend_tf.TensorFlowBackend()
    spec = ModelSpec("tensorflow", path, path, device_type)
    model = backend.load(spec)
    backend.thread_init(spec)
    prepared = backend.prepare_inputs(inputs, spec)
    return model(*prepared)


def test_keras_file_is_loaded_and_called(backend_tf, keras_file):
    np.testing.assert_allclose(run(backend_tf, keras_file, (X,)).numpy(), EXPECTED, rtol=1e-6)


def test_saved_model_is_called_through_serving_default(backend_tf, saved_model_dir):
    out = run(backend_tf, saved_model_dir, (X,))
    assert list(out) == ["output_0"]
    np.testing.assert_allclose(out["output_0"].numpy(), EXPECTED, rtol=1e-6)


def test_prepare_inputs_makes_tensors_once(tf, backend_tf):
    spec = ModelSpec("tensorflow", "m", "m", "cpu")
    prepared = backend_tf.TensorFlowBackend().prepare_inputs((X, {"a": X}), spec)
    assert tf.is_tensor(prepared[0]) and prepared[0].dtype == tf.float32
    assert tf.is_tensor(prepared[1]["a"])


def test_positional_inputs_fill_the_signature_in_natural_name_order(backend_tf, two_input_dir):
    a, b = X, np.ones_like(X)
    out = run(backend_tf, two_input_dir, (a, b))
    np.testing.assert_allclose(out["output_0"].numpy(), a - 2.0 * b)


def test_a_dict_input_names_the_signature_inputs(backend_tf, two_input_dir):
    a, b = X, np.ones_like(X)
    out = run(backend_tf, two_input_dir, ({"x_10": b, "x_2": a},))
    np.testing.assert_allclose(out["output_0"].numpy(), a - 2.0 * b)


def test_a_wrong_number_of_inputs_is_refused(backend_tf, two_input_dir):
    with pytest.raises(ConfigError) as info:
        run(backend_tf, two_input_dir, (X,))
    assert str(info.value) == (
        "inputs must hold one array per input of the serving_default signature ['x_2', 'x_10'] (got 1)"
    )


def test_compile_on_cpu_writes_a_saved_model_for_any_batch_size(tf, saved_model_dir):
    assert tf.saved_model.contains_saved_model(saved_model_dir)
    signature = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
    out = signature(input_0=tf.constant(X[:1]))["output_0"]
    np.testing.assert_allclose(out.numpy(), EXPECTED[:1], rtol=1e-6)


def test_compile_on_cpu_from_a_keras_file(backend_tf, keras_file, tmp_path):
    path = backend_tf.compile_tensorflow(keras_file, (X,), 1, 3, [], str(tmp_path / "from_keras"), "cpu")
    np.testing.assert_allclose(run(backend_tf, path, (X,))["output_0"].numpy(), EXPECTED, rtol=1e-6)


def test_compile_on_cpu_copies_a_saved_model_directory(backend_tf, saved_model_dir, tmp_path):
    path = backend_tf.compile_tensorflow(saved_model_dir, (X,), 1, 3, [], str(tmp_path / "copy"), "cpu")
    assert sorted(os.listdir(path)) == sorted(os.listdir(saved_model_dir))


def test_compile_rejects_other_device_types(backend_tf, keras_model, tmp_path):
    with pytest.raises(ConfigError) as info:
        backend_tf.compile_tensorflow(keras_model, (X,), 1, 3, [], str(tmp_path / "m"), "gpu")
    assert str(info.value) == "device_type must be 'cpu' or 'neuron' to compile a TensorFlow model (got 'gpu')"


def test_neuron_without_the_sdk_names_the_packages(backend_tf, saved_model_dir):
    with pytest.raises(MissingDependencyError) as info:
        run(backend_tf, saved_model_dir, (X,), device_type="neuron")
    assert str(info.value) == NEURON_MESSAGE


def test_compile_for_neuron_without_the_sdk_names_the_packages(backend_tf, keras_model, tmp_path):
    with pytest.raises(MissingDependencyError) as info:
        backend_tf.compile_tensorflow(keras_model, (X,), 1, 3, [], str(tmp_path / "m"), "neuron")
    assert str(info.value) == NEURON_MESSAGE


def test_a_file_of_another_kind_is_refused(backend_tf, tmp_path):
    path = tmp_path / "model.txt"
    path.write_text("not a model")
    with pytest.raises(ModelLoadError) as info:
        run(backend_tf, str(path), (X,))
    assert str(info.value) == (
        "model_filename must be a SavedModel directory or a .keras/.h5 file "
        f"(got {str(path)!r}: a file of another kind)"
    )


def test_a_directory_without_a_saved_model_is_refused(backend_tf, tmp_path):
    with pytest.raises(ModelLoadError) as info:
        run(backend_tf, str(tmp_path), (X,))
    assert str(info.value) == (
        "model_filename must be a SavedModel directory or a .keras/.h5 file "
        f"(got the directory {str(tmp_path)!r}, which has no saved_model.pb)"
    )


def fake_neuron_sdk(name, calls):
    """A stand-in for tensorflow_neuron(x): records what trace saw, returns the model to save."""

    def trace(func, example_inputs):
        calls.append({"flags": os.environ.get("NEURON_CC_FLAGS"), "example": example_inputs, "func": func})
        return types.SimpleNamespace(save=lambda path: calls.append({"saved": path}))

    module = types.ModuleType(name)
    module.trace = trace
    return module


@pytest.mark.parametrize(
    ("package", "flags"),
    [
        ("tensorflow_neuron", "--verbose INFO --neuroncore-pipeline-cores 2 --fast-math fp32-cast-matmult"),
        ("tensorflow_neuronx", "--verbose INFO"),
    ],
)
def test_compile_for_neuron_traces_with_the_compiler_flags(backend_tf, keras_model, monkeypatch, package, flags):
    calls = []
    monkeypatch.setitem(sys.modules, "tensorflow_neuron", None)  # only `package` imports
    monkeypatch.setitem(sys.modules, package, fake_neuron_sdk(package, calls))
    monkeypatch.delenv("NEURON_CC_FLAGS", raising=False)
    path = backend_tf.compile_tensorflow(keras_model, (X,), 2, 2, ["--verbose", "INFO"], "m_b4_p2", "neuron")
    assert path == "m_b4_p2"
    assert calls[0]["flags"] == flags
    assert calls[0]["func"] is keras_model and calls[0]["example"].shape == (4, 3)
    assert calls[1] == {"saved": "m_b4_p2"}
    assert "NEURON_CC_FLAGS" not in os.environ


def test_neuron_load_imports_the_sdk_first(backend_tf, saved_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_neuron", fake_neuron_sdk("tensorflow_neuron", []))
    out = run(backend_tf, saved_model_dir, (X,), device_type="neuron")
    np.testing.assert_allclose(out["output_0"].numpy(), EXPECTED, rtol=1e-6)


def test_backend_modules_do_not_import_their_frameworks():
    code = (
        "import sys, raybench, raybench.tensorflow, raybench.mxnet, raybench.backends.tensorflow, raybench.backends.mxnet\n"
        "print(sorted({'tensorflow', 'keras', 'mxnet'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
