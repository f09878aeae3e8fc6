"""NeuronPerf's model index: a JSON file listing compiled model artifacts and how each was built.

``create, append, filter, save, load, copy, move, delete`` as NeuronPerf has them, plus
``model_files`` (what ``delete`` would remove) and ``resolve_model_path``. The implementation
lives in :mod:`raybench.backends.model_index` and :mod:`raybench.backends.model_files`.
"""

from raybench.backends.model_files import ARTIFACT_DIR_MARKERS, copy, delete, model_files, move
from raybench.backends.model_index import (
    CONFIG_KEYS,
    INDEX_KEYS,
    STATUSES,
    append,
    create,
    filter,
    load,
    resolve_model_path,
    save,
)

__all__ = [
    "ARTIFACT_DIR_MARKERS", "CONFIG_KEYS", "INDEX_KEYS", "STATUSES", "append", "copy", "create", "delete",
    "filter", "load", "model_files", "move", "resolve_model_path", "save",
]
