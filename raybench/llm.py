"""Generative models: benchmark a causal language model's token stream (``pip install
'raybench[llm]'``).

``raybench.llm.benchmark(model_dir, prompt_ids)`` loads the model in each copy and streams
``max_new_tokens`` tokens per call; the reports carry TTFT, ITL, TPOT and tokens per second
beside the latency (see the README's definitions). Any other model whose call returns a
generator streams the same way through ``raybench.benchmark``/``raybench.cpu.benchmark``.
"""

from __future__ import annotations

import os
from typing import Any

from raybench.backends.generate import GenerativeModel, is_model_directory
from raybench.core.checks import is_int
from raybench.core.errors import ConfigError
from raybench.report.results import Results
from raybench.run.api import run_benchmark

__all__ = ["benchmark"]


def benchmark(model: str | os.PathLike[str], inputs: Any, *, max_new_tokens: int = 32,
              generate_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]] | Results:
    """Benchmark a causal language model's generation, token by token.

    Args:
        model: A directory written by ``save_pretrained`` (a transformers causal LM), or one
            optimum-neuron exported for ``device_type="neuron"``.
        inputs: Prompt token ids (a ``(batch, length)`` tensor), a tokenizer's output dict, or
            a prompt string (list of strings for a batch) when the directory holds a
            tokenizer; a list holds one per batch size, as for every benchmark.
        max_new_tokens: Tokens each call generates (every call generates exactly this many,
            unless ``generate_kwargs`` sets ``min_new_tokens``).
        generate_kwargs: More arguments of ``generate`` (default: greedy decoding).
        **kwargs: Every option of :func:`raybench.benchmark`; ``streaming`` is True, and
            ``batch_sizes`` should be the prompts' batch size (each chunk then counts one
            token per sequence).

    Returns:
        The reports, or a :class:`~raybench.Results` with ``return_timers=True``.

    Raises:
        ConfigError: a bad argument.
    """
    path = os.fspath(model) if isinstance(model, (str, os.PathLike)) else None
    if path is None or not is_model_directory(path):
        raise ConfigError(f"model must be a directory written by save_pretrained, holding config.json (got {model!r})")
    if not is_int(max_new_tokens) or int(max_new_tokens) < 1:  # type: ignore[call-overload]
        raise ConfigError(f"max_new_tokens must be a positive int (got {max_new_tokens!r})")
    if generate_kwargs is not None and not isinstance(generate_kwargs, dict):
        raise ConfigError(f"generate_kwargs must be a dict of generate() arguments (got {generate_kwargs!r})")
    kwargs.setdefault("streaming", True)
    kwargs.setdefault("model_name", os.path.basename(os.path.normpath(path)))
    spec = GenerativeModel(path, int(max_new_tokens), dict(generate_kwargs or {}))  # type: ignore[call-overload]
    return run_benchmark("llm", spec, path, inputs, **kwargs)
