"""How a sweep tells its failed configs: one line each, the same error not repeated, and a stop
when the first configs all failed the same way before measuring."""

from __future__ import annotations

from raybench.core.errors import SweepStopped, one_line
from raybench.core.log import logger
from raybench.core.schema import STATUS_FINISHED, ConfigOutcome, RunConfig
from raybench.run.names import config_name

#: A sweep whose first this many configs failed alike before measuring stops (unless keep_going).
STOP_AFTER_ALIKE = 2


class FailureLog:
    """The failures of one sweep, as they are told.

    Args:
        keep_going: Never stop the sweep (``keep_going=True``).
    """

    def __init__(self, keep_going: bool) -> None:
        self._keep_going = keep_going
        self._last: str | None = None  # the last failed config's error, in one line

    def warn(self, config: RunConfig, status: str, error: str) -> None:
        """Say in one line that a config failed; the same error as the last failure's is not
        repeated. The whole message (a traceback, maybe) goes to the debug log."""
        line = one_line(error)
        if line == self._last:
            logger.warning("%s failed (%s): the same error as the config before", config_name(config), status)
        else:
            logger.warning("%s failed (%s): %s", config_name(config), status, line)
        self._last = line
        if line != error:
            logger.debug("%s failed: the whole message:\n%s", config_name(config), error)

    def stop_if_alike(self, outcomes: list[ConfigOutcome]) -> None:
        """Stop the sweep once its first ``STOP_AFTER_ALIKE`` configs all failed before measuring
        (loading or warmup) with the same error: a wrong input shape or a broken model fails
        every config the same way, and the sweep would only say it again (``keep_going`` runs
        every config anyway). Call it when more configs are to come.

        Raises:
            SweepStopped: the first configs failed alike.
        """
        if self._keep_going or len(outcomes) != STOP_AFTER_ALIKE:
            return
        before_measuring = [o for o in outcomes if o.status != STATUS_FINISHED and o.start_ns is None]
        errors = {one_line(o.error) for o in before_measuring}
        if len(before_measuring) == len(outcomes) and len(errors) == 1:
            (error,) = errors
            raise SweepStopped(error, len(outcomes))
