"""Which Ray the copies run on: the one already up, the one at ``address``/``RAY_ADDRESS``, or an
embedded local one, and what may be passed to ``ray.init``."""

from __future__ import annotations

import difflib
import inspect
import os
from typing import Any

from raybench.core.errors import ConfigError
from raybench.core.log import logger


def check_ray_init_kwargs(kwargs: dict[str, Any] | None) -> None:
    """Refuse ``ray_init_kwargs`` names that ``ray.init`` does not take, with a hint, rather than
    as Ray's own TypeError halfway into the call; names starting with ``_`` are Ray's private
    arguments and are passed through.

    Raises:
        ConfigError: names the unknown key.
    """
    if not kwargs:
        return
    import ray  # ~1 s: only when there is something to check

    known = [name for name in inspect.signature(ray.init).parameters if name not in ("args", "kwargs")]
    for key in kwargs:
        if key not in known and not key.startswith("_"):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"ray_init_kwargs must hold ray.init keyword arguments (got {key!r}{hint})")


def connect_ray(address: str | None, ray_init_kwargs: dict[str, Any] | None, verbosity: int) -> bool:
    """Use the Ray that is already up, the one at ``address``/``RAY_ADDRESS``, or start one.

    The embedded Ray is started with ``address="local"`` — a plain ``ray.init()`` would join
    whatever cluster ``/tmp/ray/ray_current_cluster`` names, even a dead one — without the
    dashboard, bound to loopback, and with its workers (the copies) at niceness 0 instead of
    Ray's 15. ``ray_init_kwargs`` override those defaults (a ``_system_config`` is merged).

    Returns:
        True when this call started Ray.
    """
    import ray

    if ray.is_initialized():
        return False
    kwargs = dict(ray_init_kwargs or {})
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        logger.info("connecting to Ray at %s...", address)
        ray.init(address=address, **kwargs)
        return True
    logger.info("starting Ray (an embedded local cluster; a few seconds)...")  # said at once, not after
    defaults: dict[str, Any] = {
        "address": "local",
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",
        "log_to_driver": verbosity >= 2,
        "logging_level": "INFO" if verbosity >= 2 else "WARNING",
    }
    # Ray starts workers at niceness 15 (worker_niceness): a copy would yield the CPU to every
    # other process on the host, where NeuronPerf's forked copies run at 0.
    system_config = {"worker_niceness": 0, **kwargs.pop("_system_config", {})}
    ray.init(**{**defaults, **kwargs}, _system_config=system_config)
    return True
