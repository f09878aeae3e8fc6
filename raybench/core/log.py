"""raybench's logger and NeuronPerf's ``set_verbosity``."""

from __future__ import annotations

import logging
import numbers
import sys

from raybench.core.errors import ConfigError

#: The one logger raybench writes to; its children (``raybench.x``) inherit its level.
logger = logging.getLogger("raybench")

_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}

#: Marks the handler set_verbosity added, so calling it again does not add a second one.
_HANDLER_MARK = "_raybench_stderr"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted.

    A handler bound to the stderr of its creation would keep writing to a stream pytest's
    capture or a notebook has since replaced (and maybe closed).
    """

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        # StreamHandler.__init__ assigns a stream; the property ignores it on purpose.
        pass


def check_verbosity(verbosity: object) -> int:
    """Return ``verbosity`` if it is 0, 1 or 2.

    Raises:
        ConfigError: anything else (``True`` too: a bool is an int, but not a level).
    """
    if isinstance(verbosity, bool) or not isinstance(verbosity, numbers.Integral) or verbosity not in _LEVELS:
        raise ConfigError(f"verbosity must be 0, 1 or 2 (got {verbosity!r})")
    return int(verbosity)


def set_verbosity(verbosity: int) -> None:
    """Set how much raybench logs to stderr: 0 warnings only, 1 progress (info), 2 debug.

    The first call adds one stderr handler to the ``raybench`` logger (never to the root
    logger, which belongs to the application); later calls only change the level.

    Args:
        verbosity: 0, 1 or 2.

    Returns:
        None.

    Raises:
        ConfigError: ``verbosity`` is not 0, 1 or 2.
    """
    verbosity = check_verbosity(verbosity)
    if not any(getattr(handler, _HANDLER_MARK, False) for handler in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s raybench %(levelname)s: %(message)s"))
        setattr(handler, _HANDLER_MARK, True)
        logger.addHandler(handler)
        # Not propagating: an application that configured the root logger would otherwise
        # print every raybench line twice. (pytest's caplog listens on the root logger, so
        # tests of raybench's log lines attach caplog.handler to this logger instead.)
        logger.propagate = False
    logger.setLevel(_LEVELS[int(verbosity)])
