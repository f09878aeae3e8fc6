"""How a config is named in logs and on the progress line: ``config 3``, ``config 2 probe 5``,
``n_models=2 workers=1 batch=8 pipeline=1 rate=97.6/s``."""

from __future__ import annotations

from raybench.core.schema import RunConfig


def config_name(config: RunConfig) -> str:
    """``config 3``, or for a search's probe ``config 2 probe 5``."""
    if config.search_id is None:
        return f"config {config.config_id + 1}"
    return f"config {config.search_id + 1} probe {config.probe}"


def config_position(config: RunConfig, n_configs: int) -> str:
    """``3/8``, or for a search's probe ``2/8 probe 5``."""
    if config.search_id is None:
        return f"{config.config_id + 1}/{n_configs}"
    return f"{config.search_id + 1}/{n_configs} probe {config.probe}"


def config_label(config: RunConfig) -> str:
    """What a config runs; for a probe, its config and its load."""
    label = (f"n_models={config.n_models} workers={config.workers_per_model} batch={config.batch_size} "
             f"pipeline={config.pipeline_size}")
    if config.search is None:
        return label
    load = "closed loop" if config.rate is None else f"rate={config.rate * config.n_models:.4g}/s"
    return f"config {(config.search_id or 0) + 1}: {label} {load}"


def planned_s(config: RunConfig) -> float:
    """Expected seconds of a config: its measurement, plus about a second of set-up."""
    return config.measure.duration_s + 1.0
