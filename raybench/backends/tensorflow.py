"""The TensorFlow backend: TF2 SavedModel directories and Keras files, plain or Neuron-compiled.

TensorFlow and the Neuron extensions (``tensorflow-neuron`` for Inf1, ``tensorflow-neuronx`` for
Inf2/Trn1) are imported inside the functions that need them, never when this module is imported.

How a loaded model is called with ``model(*inputs)``:

- a Keras file (``.keras``, ``.h5``): the model inside one ``tf.function`` (an eager Keras call
  costs several times more Python overhead than the model itself for small models); one input is
  passed as is, several as a list, as Keras functional models expect;
- a SavedModel directory: its ``serving_default`` signature. One dict input is passed by name
  (``{"input_0": array}``, as in NeuronPerf); positional inputs fill the signature's inputs in
  natural name order (``input_0, input_1, ..., input_10``), because a loaded signature keeps no
  positional order. Its outputs are the signature's dict. Without that signature, the loaded
  object itself is called.

``prepare_inputs`` turns every array into a ``tf.Tensor`` once, so the hot loop never converts.
TF eager ops on the CPU (and the Neuron op) return only when their results exist; on a GPU the
outputs are copied to the host so each call's time includes its completion.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import re
import shlex
import shutil
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from raybench.backends.base import ModelSpec, construct, register
from raybench.backends.neuron import cast_compiler_args, import_extension, neuron_compiler_args
from raybench.core.errors import ConfigError, MissingDependencyError, ModelLoadError

#: File name endings loaded with ``tf.keras.models.load_model``.
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def import_tensorflow() -> Any:
    """Import TensorFlow, or raise an error naming the extra to install.

    Raises:
        MissingDependencyError: TensorFlow is not installed.
    """
    try:
        return importlib.import_module("tensorflow")
    except ImportError as exc:
        msg = "the tensorflow backend needs TensorFlow: pip install 'raybench[tensorflow]' (or tensorflow)"
        raise MissingDependencyError(msg) from exc


def load_tf_model(model: Any, tf: Any) -> Any:
    """Load a SavedModel directory or a Keras file, or construct a model class.

    Args:
        model: A path (SavedModel directory, ``.keras``/``.h5`` file), a class with a
            no-argument constructor, or an already built model (returned as is).
        tf: The imported ``tensorflow`` module.

    Returns:
        A ``keras.Model``, the object ``tf.saved_model.load`` restored, or the given model.

    Raises:
        ModelLoadError: the path is missing, of an unknown kind, or TensorFlow cannot load it.
    """
    if inspect.isclass(model):
        return construct(model)
    if not isinstance(model, (str, os.PathLike)):
        return model
    path = os.fspath(model)
    rule = "must be a SavedModel directory or a .keras/.h5 file"
    if os.path.isdir(path):
        if not tf.saved_model.contains_saved_model(path):
            raise ModelLoadError(f"model_filename {rule} (got the directory {path!r}, which has no saved_model.pb)")
        loader: Callable[[str], Any] = tf.saved_model.load
    elif path.lower().endswith(KERAS_SUFFIXES):
        loader = functools.partial(tf.keras.models.load_model, compile=False)  # inference: no optimizer
    else:
        state = "a file of another kind" if os.path.exists(path) else "no such file or directory"
        raise ModelLoadError(f"model_filename {rule} (got {path!r}: {state})")
    try:
        return loader(path)
    except Exception as exc:
        msg = f"could not load TensorFlow model {path!r}: {exc!r}"
        raise ModelLoadError(msg) from exc


def as_callable(model: Any, tf: Any) -> Callable[..., Any]:
    """The function that runs one inference, ``call(*inputs)``, for a loaded model.

    Raises:
        ModelLoadError: the object has no ``serving_default`` signature and is not callable.
    """
    if isinstance(model, tf.keras.Model):
        return _keras_call(model, tf)
    signatures = getattr(model, "signatures", None)
    if isinstance(signatures, Mapping) and "serving_default" in signatures:
        return _signature_call(signatures["serving_default"])
    if callable(model):
        return model  # type: ignore[no-any-return]
    msg = f"TensorFlow model must have a serving_default signature or be callable (got {type(model).__name__})"
    raise ModelLoadError(msg)


def _keras_call(model: Any, tf: Any) -> Callable[..., Any]:
    def call(*inputs: Any) -> Any:
        return model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)

    # One graph per input signature: traced on the first (warmup) call, cheap to call after.
    return tf.function(call, autograph=False, reduce_retracing=True)  # type: ignore[no-any-return]


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _signature_call(signature: Any) -> Callable[..., Any]:
    # structured_input_signature[1] maps input names to TensorSpecs; its order is not the
    # model's positional order, so positional inputs go in natural name order.
    names = sorted(signature.structured_input_signature[1], key=_natural_key)

    def call(*inputs: Any) -> Any:
        if len(inputs) == 1 and isinstance(inputs[0], Mapping):
            return signature(**inputs[0])
        if len(inputs) != len(names):
            raise ConfigError(f"inputs must hold one array per input of the serving_default signature {names} "
                              f"(got {len(inputs)})")
        return signature(**dict(zip(names, inputs, strict=True)))

    return call


def _fetch_outputs(model: Callable[..., Any], tf: Any) -> Callable[..., Any]:
    """Wrap a GPU model so each call returns once its outputs are on the host."""

    def call(*inputs: Any) -> Any:
        return tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, model(*inputs))

    return call


def _match_cpu_share(tf: Any) -> None:
    """Size TF's intra-op pool to ``OMP_NUM_THREADS``, which Ray sets to a CPU copy's share.

    TensorFlow ignores that variable (torch follows it) and would give every op all the
    machine's cores, so several CPU copies would oversubscribe them. The inter-op pool is left
    alone: it lets a copy's workers run their calls side by side. Only possible before TF's
    first op in this process.
    """
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if not threads.isdigit() or int(threads) < 1:
        return
    with contextlib.suppress(RuntimeError):  # TF already initialised here: keep its pool
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))


class TensorFlowBackend:
    """A TF2 SavedModel directory or a Keras file; Neuron-compiled with ``device_type="neuron"``."""

    def load(self, spec: ModelSpec, device_id: int = 0) -> Callable[..., Any]:
        """Load ``spec.model`` and return ``model(*inputs)``.

        Raises:
            MissingDependencyError: TensorFlow (or, for neuron, its Neuron extension) is missing.
            ModelLoadError: the model could not be loaded.
        """
        tf = import_tensorflow()
        if spec.device_type == "neuron":
            import_extension("tensorflow")  # registers the Neuron op before the artifact loads
        if spec.device_type == "cpu":
            _match_cpu_share(tf)
        model = as_callable(load_tf_model(spec.model, tf), tf)
        return _fetch_outputs(model, tf) if spec.device_type == "gpu" else model

    def prepare_inputs(self, inputs: tuple[Any, ...], spec: ModelSpec) -> tuple[Any, ...]:
        """Turn every array (also inside dicts and lists) into a ``tf.Tensor`` on the model's device."""
        tf = import_tensorflow()
        on_gpu = spec.device_type == "gpu"

        def convert(value: Any) -> Any:
            tensor = value if tf.is_tensor(value) else tf.constant(value)
            return tf.identity(tensor) if on_gpu else tensor  # identity copies it into the GPU

        with tf.device("/GPU:0" if on_gpu else "/CPU:0"):
            return tuple(tf.nest.map_structure(convert, x) for x in inputs)

    def thread_init(self, spec: ModelSpec) -> None:
        """Nothing to do: TF has no per-thread state to set up for inference."""


@contextlib.contextmanager
def _neuron_cc_flags(flags: list[str]) -> Iterator[None]:
    """Add ``flags`` to ``NEURON_CC_FLAGS`` (how tensorflow-neuron takes compiler options) for a while."""
    before = os.environ.get("NEURON_CC_FLAGS")
    os.environ["NEURON_CC_FLAGS"] = " ".join(part for part in (before, shlex.join(flags)) if part)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("NEURON_CC_FLAGS", None)
        else:
            os.environ["NEURON_CC_FLAGS"] = before


def compile_tensorflow(
    model: Any,
    input_set: tuple[Any, ...],
    pipeline_size: int,
    performance_level: int,
    compiler_args: list[str],
    artifact_path: str,
    device_type: str,
    cast_mode: str | None = None,
) -> str:
    """Build one TensorFlow artifact, a SavedModel directory at ``artifact_path``.

    On ``"neuron"`` the model is traced with ``tensorflow_neuron.trace`` (Inf1: ``compiler_args``
    plus :func:`~raybench.run.compile.neuron_compiler_args`'s pipeline and fast-math flags) or
    ``tensorflow_neuronx.trace`` (Inf2/Trn1: ``compiler_args`` only), which take compiler flags
    from ``NEURON_CC_FLAGS``, and saved. On ``"cpu"`` a SavedModel directory is copied as is;
    anything else is saved with a ``serving_default`` signature whose inputs are ``input_0``,
    ``input_1``... shaped like ``input_set`` with any batch size.

    Args:
        model: A ``keras.Model``, a ``tf.Module`` or callable, a class building one, or the path
            of a SavedModel directory or Keras file.
        input_set: Example inputs for one call, ``model(*input_set)`` (numpy arrays or tensors).
        pipeline_size: NeuronCores the artifact spans (Inf1 only).
        performance_level: 0-3, mapped to neuron-cc's ``--fast-math`` (Inf1 only).
        compiler_args: The user's extra compiler flags.
        artifact_path: Where to write the SavedModel directory.
        device_type: ``"neuron"`` or ``"cpu"``.
        cast_mode: neuronx-cc's ``--auto-cast`` mode (Inf2/Trn1; no effect on Inf1 and CPU).

    Returns:
        ``artifact_path``.

    Raises:
        ConfigError: an unknown ``device_type``, or a non-array input for a cpu export.
        MissingDependencyError: TensorFlow (or, for neuron, its Neuron extension) is missing.
        ModelLoadError: ``model`` could not be loaded.
    """
    if device_type not in ("cpu", "neuron"):
        raise ConfigError(f"device_type must be 'cpu' or 'neuron' to compile a TensorFlow model (got {device_type!r})")
    tf = import_tensorflow()
    if device_type == "neuron":
        neuron = import_extension("tensorflow")
        example = tuple(tf.nest.map_structure(tf.constant, x) for x in input_set)
        loaded = load_tf_model(model, tf)
        # trace calls func(example) for one input and func(*example) for a tuple.
        func = loaded if isinstance(loaded, tf.keras.Model) and len(example) == 1 else as_callable(loaded, tf)
        flags = (neuron_compiler_args(pipeline_size, performance_level, compiler_args)
                 if neuron.__name__ == "tensorflow_neuron"
                 else [*compiler_args, *cast_compiler_args(neuron, cast_mode)])
        with _neuron_cc_flags(flags):
            traced = neuron.trace(func, example[0] if len(example) == 1 else example)
        traced.save(artifact_path)
        return artifact_path
    if isinstance(model, (str, os.PathLike)) and os.path.isdir(model):
        load_tf_model(model, tf)  # fail here, not in the benchmark, if it does not load
        shutil.copytree(os.fspath(model), artifact_path)
        return artifact_path
    _export_saved_model(load_tf_model(model, tf), input_set, artifact_path, tf)
    return artifact_path


def _export_saved_model(model: Any, input_set: tuple[Any, ...], path: str, tf: Any) -> None:
    """Save ``model`` with a ``serving_default`` signature taking ``input_0, input_1, ...``."""
    specs = []
    for i, value in enumerate(input_set):
        if isinstance(value, (Mapping, list, tuple)):
            msg = f"compile on cpu takes one array per model input (input {i} is a {type(value).__name__})"
            raise ConfigError(msg)
        tensor = tf.constant(value)
        shape = [None, *tensor.shape[1:]] if tensor.shape.rank else []  # any batch size on CPU
        specs.append(tf.TensorSpec(shape, tensor.dtype, name=f"input_{i}"))
    call = as_callable(model, tf)
    module = tf.Module()
    module.model = model  # tracks the variables the function captures
    module.__call__ = tf.function(lambda *inputs: call(*inputs), input_signature=specs, autograph=False)
    tf.saved_model.save(module, path, signatures={"serving_default": module.__call__.get_concrete_function()})


register("tensorflow", TensorFlowBackend())
