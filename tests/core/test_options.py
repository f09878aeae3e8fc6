"""Argument validation and sweep expansion (no Ray): exact messages, NeuronPerf defaults."""

from __future__ import annotations

import re

import numpy as np
import pytest

from raybench.core.checks import positive_ints
from raybench.core.errors import ConfigError
from raybench.core.inputs import normalise_inputs
from raybench.core.options import Options, option_names
from raybench.core.schema import RunConfig
from raybench.run.plan import default_workers, expand_sweep, plain_variants


def options(**overrides):
    kwargs = dict(batch_sizes=(1,), duration=1.0, warmup=1, device_type="cpu")
    kwargs.update(overrides)
    return Options.from_kwargs(kwargs)


def variants(opts, name):
    return plain_variants(opts.axes.batch_sizes, opts.axes.pipeline_sizes or (1,), name)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("n_models", 0, "n_models must be a positive int or a list of them (or \"max\") (got 0)"),
        ("n_models", [1, -2], "n_models must be a positive int or a list of them (or \"max\") (got [1, -2])"),
        ("n_models", True, "n_models must be a positive int or a list of them (or \"max\") (got True)"),
        ("n_models", 1.5, "n_models must be a positive int or a list of them (or \"max\") (got 1.5)"),
        ("n_models", [], "n_models must be a positive int or a list of them (or \"max\") (got [])"),
        ("workers_per_model", "2", "workers_per_model must be a positive int or a list of them (got '2')"),
        ("workers_per_model", [0], "workers_per_model must be a positive int or a list of them (got [0])"),
        ("pipeline_sizes", -1, "pipeline_sizes must be a positive int or a list of them (got -1)"),
        ("duration", 0, "duration must be a finite number > 0 (seconds) (got 0)"),
        ("duration", -3.0, "duration must be a finite number > 0 (seconds) (got -3.0)"),
        ("duration", "10", "duration must be a finite number > 0 (seconds) (got '10')"),
        ("duration", float("nan"), "duration must be a finite number > 0 (seconds) (got nan)"),
        ("warmup", -1, "warmup must be a non-negative int number of inferences per worker or a time like '2s' or '500ms' (got -1)"),
        ("device_type", "tpu", "device_type must be one of 'auto', 'cpu', 'cuda', 'gpu', 'neuron' (got 'tpu')"),
    ],
)
def test_bad_sweep_argument_names_it(name, value, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        options(**{name: value})


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        options(n_models=0)


def test_numpy_ints_are_accepted():
    assert positive_ints("n_models", [np.int64(2), 3]) == (2, 3)


def test_max_is_accepted_for_n_models_only():
    assert positive_ints("n_models", ["max", 1], allow_max=True) == ("max", 1)
    with pytest.raises(ConfigError):
        positive_ints("workers_per_model", "max")


@pytest.mark.parametrize(
    ("inputs", "batch_sizes", "message"),
    [
        ([1, 2, 3], [1, 2], "inputs has 3 input sets but batch_sizes has 2 entries; give one input set per batch size"),
        ([1, 2], None, "batch_sizes is required when inputs holds several input sets (got 2 input sets)"),
        (1, [1, 4], "inputs has 1 input set but batch_sizes has 2 entries; give a list of inputs with one input set per batch size"),
        ([], None, "inputs must not be an empty list (got [])"),
        (None, None, "inputs must be given: one input, a tuple of inputs, or a list with one per batch size (got None)"),
        (1, 0, "batch_sizes must be a positive int or a list of them (got 0)"),
    ],
)
def test_bad_inputs_are_refused(inputs, batch_sizes, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        normalise_inputs(inputs, batch_sizes)


def test_single_input_becomes_one_argument_set_of_batch_one():
    assert normalise_inputs("x", None) == ([("x",)], (1,))


def test_tuple_is_one_multi_input_call():
    assert normalise_inputs(("a", "b"), 4) == ([("a", "b")], (4,))


def test_list_is_one_input_set_per_batch_size():
    sets, sizes = normalise_inputs(["x1", ("y", "z")], [1, 8])
    assert sets == [("x1",), ("y", "z")]
    assert sizes == (1, 8)


def test_default_workers_follow_pipeline_size():
    assert default_workers(1) == (1, 2)
    assert default_workers(2) == (1,)
    assert default_workers(4) == (1, 3)


def test_default_sweep_is_one_and_max_by_one_and_two_workers():
    opts = options()
    configs = expand_sweep(opts, variants(opts, "m.pt"), model_name="m", device_type="cpu", max_copies={1: 4})
    assert [(c.n_models, c.workers_per_model) for c in configs] == [(1, 1), (1, 2), (4, 1), (4, 2)]
    assert [c.config_id for c in configs] == [0, 1, 2, 3]


def test_default_sweep_with_max_one_has_one_copy_count():
    opts = options()
    configs = expand_sweep(opts, variants(opts, "m"), model_name="m", device_type="cpu", max_copies={1: 1})
    assert [(c.n_models, c.workers_per_model) for c in configs] == [(1, 1), (1, 2)]


def test_sweep_order_is_batch_then_pipeline_then_copies_then_workers():
    opts = options(batch_sizes=(1, 8), n_models=["max", 1], workers_per_model=[2], pipeline_sizes=[1, 2])
    configs = expand_sweep(opts, variants(opts, "m"), model_name="m", device_type="neuron", max_copies={1: 4, 2: 2})
    got = [(c.batch_size, c.input_index, c.pipeline_size, c.n_models) for c in configs]
    assert got == [(1, 0, 1, 4), (1, 0, 1, 1), (1, 0, 2, 2), (1, 0, 2, 1),
                   (8, 1, 1, 4), (8, 1, 1, 1), (8, 1, 2, 2), (8, 1, 2, 1)]


def test_run_config_carries_duration_and_flags():
    opts = options(duration=2.5, multiprocess=False)
    (config, *_) = expand_sweep(opts, variants(opts, "f"), model_name="n", device_type="cpu", max_copies={1: 1})
    assert isinstance(config, RunConfig)
    assert (config.measure.duration_s, config.multiprocess, config.model_filename, config.model_name) == (2.5, False, "f", "n")


def test_every_option_belongs_to_exactly_one_group():
    names = [name for group in option_names().values() for name in group]
    assert len(names) == len(set(names))


def test_a_config_round_trips_through_its_flat_dict():
    opts = options(arrival="poisson", rate=100, rate_per="config", stability=0.1, warmup="2s")
    (config, *_) = expand_sweep(opts, variants(opts, "f"), model_name="n", device_type="cpu", max_copies={1: 2})
    flat = config.to_dict()
    assert flat["rate"] == 100 and flat["rate_per"] == "config" and flat["warmup_s"] == 2.0
    assert RunConfig.from_dict(flat) == config
    assert config.rate == 100.0  # one copy (n_models 1): the config's rate is its copy's


def test_a_config_dict_of_the_earlier_flat_layout_still_loads():
    legacy = dict(config_id=0, model_filename="m", model_name="m", device_type="cpu", batch_size=1, input_index=0,
                  n_models=2, workers_per_model=1, pipeline_size=1, performance_level=None, duration_s=5.0, warmup=1,
                  multiprocess=True, multiinterpreter=False, warmup_s=None, arrival="constant", rate=10.0,
                  min_infs=None, stability=None, max_duration_s=None, stability_window_s=1.0)
    config = RunConfig.from_dict(legacy)
    assert config.rate == 10.0  # the old files stored the per-copy rate
    assert config.measure.duration_s == 5.0 and config.load.arrival == "constant"
