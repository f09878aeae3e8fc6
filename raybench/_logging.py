"""raybench's logger and NeuronPerf's ``set_verbosity``."""

from __future__ import annotations

import logging
import sys

from raybench._exceptions import ConfigError

logger = logging.getLogger("raybench")

_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


def set_verbosity(verbosity: int) -> None:
    """Set how much raybench logs: 0 warnings only, 1 progress (info), 2 debug.

    Raises:
        ConfigError: ``verbosity`` is not 0, 1 or 2.
    """
    if isinstance(verbosity, bool) or verbosity not in _LEVELS:
        msg = f"verbosity must be 0, 1 or 2 (got {verbosity!r})"
        raise ConfigError(msg)
    if not any(getattr(h, "_raybench", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s raybench %(levelname)s: %(message)s"))
        handler._raybench = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(_LEVELS[verbosity])
