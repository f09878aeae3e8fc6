"""The Neuron SDK, where it is installed: its framework extensions and the compiler's flags.

The SDK is never a dependency (PyPI's ``torch-neuron``, ``tensorflow-neuron`` and ``neuronperf``
are placeholders that raise on import): an extension is imported only for
``device_type="neuron"``, and a missing one raises an error naming the packages to install from
the Neuron pip repository.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from raybench.core.errors import MissingDependencyError

NEURON_REPO_HINT = (
    "install the AWS Neuron SDK from the Neuron pip repository "
    "(pip install --extra-index-url=https://pip.repos.neuron.amazonaws.com {package}); "
    "the packages of that name on PyPI are placeholders"
)

#: Each framework's Neuron extensions, tried in order, and the names to install them by.
EXTENSIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "torch": (("torch_neuron", "torch_neuronx"), "torch-neuron (Inf1) or torch-neuronx (Inf2/Trn1)"),
    "tensorflow": (("tensorflow_neuron", "tensorflow_neuronx"),
                   "tensorflow-neuron (Inf1) or tensorflow-neuronx (Inf2/Trn1)"),
    "mxnet": (("mx_neuron", "mxnet.contrib.neuron"), "mx_neuron (MXNet 1.8) or mxnet-neuron (MXNet 1.5)"),
}

#: neuron-cc's --fast-math setting for each NeuronPerf performance level.
FAST_MATH = {0: "none", 1: "fp32-cast-matmult no-fast-relayout", 2: "fp32-cast-matmult", 3: "all"}


def import_extension(framework: str) -> Any:
    """Import the Neuron extension of ``framework`` ("torch", "tensorflow" or "mxnet").

    Importing it registers the Neuron ops a compiled artifact needs before it can be loaded.

    Returns:
        The extension module (its ``trace`` compiles a model).

    Raises:
        MissingDependencyError: no extension is installed (or only PyPI's placeholder is).
    """
    modules, packages = EXTENSIONS[framework]
    for module in modules:
        try:
            return importlib.import_module(module)
        except Exception:  # noqa: BLE001, S112 - PyPI's placeholders raise on import with "WRONG PACKAGE"
            continue
    names = " or ".join(p.split(" (")[0] for p in packages.split(" or "))
    msg = f"device_type 'neuron' with {framework} needs {names}: {NEURON_REPO_HINT.format(package=packages)}"
    raise MissingDependencyError(msg)


def cast_compiler_args(extension: Any, cast_mode: str | None) -> list[str]:
    """The compiler flags of a cast mode: ``--auto-cast MODE`` for neuronx-cc (Inf2/Trn1, the
    ``*_neuronx`` extensions; e.g. ``none``, ``matmult``, ``all``); none for neuron-cc (Inf1),
    whose casting is ``--fast-math``, set by the performance level."""
    if cast_mode is None or not extension.__name__.endswith("_neuronx"):
        return []
    return ["--auto-cast", cast_mode]


def neuron_compiler_args(pipeline_size: int, performance_level: int, compiler_args: Sequence[str] | None) -> list[str]:
    """The neuron-cc (Inf1) flags for one artifact: the user's, then pipeline and fast-math.

    ``--neuroncore-pipeline-cores`` is added for pipeline sizes > 1; ``--fast-math`` follows
    :data:`FAST_MATH`.
    """
    args = list(compiler_args or [])
    if pipeline_size > 1:
        args += ["--neuroncore-pipeline-cores", str(pipeline_size)]
    args += ["--fast-math", *FAST_MATH[performance_level].split()]
    return args
