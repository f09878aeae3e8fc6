"""``raybench run --config run.toml``: a run's options in a TOML file; the flags override it.

The file's keys are the command's long options, with dashes or underscores (``n-models`` or
``n_models``; ``workers``, ``input-shape``...), and its values what the flag takes, typed:
``n_models = [1, 2]`` or ``"1:8:2"``, ``duration = 10``, ``slo = "latency_ms_p99=50"``,
``input_shape = [[1, 3, 224, 224]]`` (one shape per model input), ``plots = true``. Each value
goes through the flag's own check, so a bad one is refused as the flag would be, naming the
file and the key.
"""

from __future__ import annotations

import argparse
import difflib
from typing import Any

from raybench.core.errors import ConfigError

#: Keys that are not options of a run (the model is the command's argument).
_NOT_OPTIONS = {"help", "config", "model"}


def _text(value: Any) -> str:
    """A TOML value as the flag's text: a list is comma-separated."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _convert(action: argparse.Action, value: Any, where: str) -> Any:
    """``value`` checked and converted as ``action``'s flag would convert its text."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)) or action.nargs == 0:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false (got {value!r})")
        return value if not isinstance(action, argparse._StoreFalseAction) else not value
    if isinstance(action, argparse._AppendAction):
        items = value if isinstance(value, list) and all(isinstance(v, list) for v in value) else [value]
        return [_convert_one(action, item, where) for item in items]
    return _convert_one(action, value, where)


def _convert_one(action: argparse.Action, value: Any, where: str) -> Any:
    text = _text(value)
    try:
        converted = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, ValueError) as err:
        raise ConfigError(f"{where} {err}") from None
    if action.choices is not None and converted not in action.choices:
        allowed = ", ".join(repr(c) for c in action.choices)
        raise ConfigError(f"{where} must be one of {allowed} (got {value!r})")
    return converted


def read_run_config(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The defaults a run config file gives ``parser`` (``run`` or ``capacity``), by dest.

    Raises:
        ConfigError: the file cannot be read or parsed, a key is no option of the command (with
            the closest one), or a value breaks its flag's rule.
    """
    import tomli

    try:
        with open(path, "rb") as f:
            data = tomli.load(f)
    except OSError as err:
        raise ConfigError(f"--config must name a readable TOML file (got {path!r}: {err.strerror})") from None
    except tomli.TOMLDecodeError as err:
        raise ConfigError(f"--config {path!r} is not valid TOML: {err}") from None
    actions = {a.option_strings[-1][2:]: a for a in parser._actions
               if a.option_strings and a.option_strings[-1].startswith("--") and a.dest not in _NOT_OPTIONS}
    defaults: dict[str, Any] = {}
    for key, value in data.items():
        action = actions.get(str(key).replace("_", "-"))
        if action is None:
            close = difflib.get_close_matches(str(key).replace("_", "-"), list(actions), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{path}: {key!r} is not an option of 'raybench {parser.prog.split()[-1]}'{hint}")
        defaults[action.dest] = _convert(action, value, f"{path}: {key}")
    return defaults
