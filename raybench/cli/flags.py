"""The API's argument names in an error, said as the command line's flags: a CLI user reads
``--workers must be ...`` and ``pass --overwrite``, not ``workers_per_model`` or ``overwrite=True``."""

from __future__ import annotations

import re

#: API argument -> CLI flag, where the flag's name is not the argument's with dashes.
_RENAMED = {"workers_per_model": "--workers", "device_type": "--device", "out_dir": "--out"}
#: API arguments whose flag is the argument's name with dashes.
_SAME = ("batch_sizes", "n_models", "pipeline_sizes", "performance_levels", "cast_modes", "duration", "warmup",
         "address", "cost_per_hour", "arrival", "rate_per", "rate", "min_infs", "stability_window", "stability",
         "max_duration", "load_timeout", "warmup_timeout", "streaming", "slo", "search_tolerance", "search",
         "max_steps", "keep_going", "model_name", "max_new_tokens", "match", "confidence")
_FLAGS = {**_RENAMED, **{name: "--" + name.replace("_", "-") for name in _SAME}}
#: An argument named as the subject of a rule (``n_models must``), given a value (``rate=3``), or
#: indexed (``slo['x']``); names inside other words or prose are left alone.
_NAMED = re.compile(r"(?<![\w.-])(" + "|".join(sorted(map(re.escape, _FLAGS), key=len, reverse=True))
                    + r")(?=(?: must\b|=|\[))")
_PASS_TRUE = re.compile(r"pass (\w+)=True")


def as_flags(message: str) -> str:
    """``message`` with the API's argument names said as flags (``overwrite=True`` -> ``--overwrite``)."""
    message = _PASS_TRUE.sub(lambda m: f"pass --{m.group(1).replace('_', '-')}", message)
    return _NAMED.sub(lambda m: _FLAGS[m.group(1)], message)
