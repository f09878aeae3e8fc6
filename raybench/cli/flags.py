"""The API's argument names in an error, said as the command line's flags: a CLI user reads
``--workers must be ...`` and ``pass --overwrite``, not ``workers_per_model`` or ``overwrite=True``."""

from __future__ import annotations

import re

#: ``benchmark`` keyword -> the ``run`` command's argument (its argparse dest; the flag is the
#: dest with dashes): what ``run`` passes on, and how an error about the keyword names the flag.
API_DESTS: dict[str, str] = {
    "n_models": "n_models", "workers_per_model": "workers", "pipeline_sizes": "pipeline_sizes",
    "performance_levels": "performance_levels", "cast_modes": "cast_modes", "duration": "duration",
    "warmup": "warmup", "device_type": "device", "address": "address", "cost_per_hour": "cost_per_hour",
    "arrival": "arrival", "rate": "rate", "rate_per": "rate_per", "min_infs": "min_infs", "stability": "stability",
    "max_duration": "max_duration", "stability_window": "stability_window", "load_timeout": "load_timeout",
    "warmup_timeout": "warmup_timeout", "keep_going": "keep_going", "streaming": "streaming", "slo": "slo",
    "search": "search", "search_tolerance": "search_tolerance", "max_steps": "max_steps",
}  # fmt: skip
#: Keywords ``run`` passes on its own way, and other commands' arguments.
_OTHER_DESTS = {"batch_sizes": "batch_sizes", "model_name": "model_name", "max_new_tokens": "max_new_tokens",
                "out_dir": "out", "match": "match", "confidence": "confidence"}
_FLAGS = {name: "--" + dest.replace("_", "-") for name, dest in {**API_DESTS, **_OTHER_DESTS}.items()}
#: An argument named as the subject of a rule (``n_models must``), given a value (``rate=3``), or
#: indexed (``slo['x']``); names inside other words or prose are left alone.
_NAMED = re.compile(r"(?<![\w.-])(" + "|".join(sorted(map(re.escape, _FLAGS), key=len, reverse=True))
                    + r")(?=(?: must\b|=|\[))")
_PASS_TRUE = re.compile(r"pass (\w+)=True")


def as_flags(message: str) -> str:
    """``message`` with the API's argument names said as flags (``overwrite=True`` -> ``--overwrite``)."""
    message = _PASS_TRUE.sub(lambda m: f"pass --{m.group(1).replace('_', '-')}", message)
    return _NAMED.sub(lambda m: _FLAGS[m.group(1)], message)
