"""Models in: one module per framework, each turning a model spec into a callable (load), and
compiling artifacts for it (compile), plus the Neuron helpers and NeuronPerf's model index.

A backend registers itself when its module is imported (``base.register``); importing this
package imports every backend module, none of which imports its framework until it is used.
Imports only ``core``.
"""

from raybench.backends import generate, mxnet, plain, tensorflow, torch  # noqa: F401 - each registers its backend
