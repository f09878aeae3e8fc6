"""raybench.plot.compare_cdf: two real runs' CDFs overlaid, config by config."""

from __future__ import annotations

import numpy as np
import pytest

import raybench
from raybench import plot

pytest.importorskip("matplotlib")


def _run(model: type, n_models: list[int], **options) -> raybench.Results:
    return raybench.cpu.benchmark(model, np.zeros(4), batch_sizes=[1], n_models=n_models, workers_per_model=[1],
                                  duration=0.6, return_timers=True, verbosity=0, **options)


@pytest.fixture(scope="module")
def base():
    """A real in-process run of n_models 1, 2 and 3 (10 ms a call)."""
    return _run(raybench.testing.SimulatedDevice, [1, 2, 3], multiprocess=False)


@pytest.fixture(scope="module")
def new():
    """A real in-process run of n_models 1 and 2 of a slower device (12 ms a call): another model name."""
    return _run(raybench.testing.make_simulated_device(0.012), [1, 2], multiprocess=False)


def _lines(ax, gid: str) -> list:
    return [line for line in ax.lines if line.get_gid() == gid]


def _legend_texts(figure) -> list[str]:
    return [text.get_text() for text in figure.legends[0].get_texts()]


def test_paired_configs_get_a_dashed_base_and_a_solid_new_line_of_one_colour(base):
    figure = plot.compare_cdf(base, base)
    (ax,) = figure.axes
    old, fresh = _lines(ax, "base"), _lines(ax, "new")
    assert len(old) == len(fresh) == len(base.configs) == 3  # two lines per paired config
    assert {line.get_linestyle() for line in old} == {"--"} and {line.get_linestyle() for line in fresh} == {"-"}
    assert [line.get_color() for line in old] == [line.get_color() for line in fresh]
    assert len({line.get_color() for line in fresh}) == 3
    for line, report in zip(fresh, raybench.get_reports(base)):
        p99 = f"{report['latency_ms_p99']:.3g}"
        config = f"#{report['config_id']} n={report['n_models']} w=1 b=1"
        assert line.get_label() == f"{config}: p99 {p99} → {p99} ms (+0 %)"
    assert [label.get_text() for label in ax.get_yticklabels()] == ["0", "50", "90", "99", "99.9"]
    assert {"base (dashed)", "new (solid)"} <= set(_legend_texts(figure))


def test_pairs_across_models_with_match_and_names_the_configs_only_one_run_has(base, new):
    figure = plot.compare_cdf(base, new, match="batch_size,n_models,workers_per_model,pipeline_size")
    (ax,) = figure.axes
    assert len(_lines(ax, "base")) == len(_lines(ax, "new")) == 2
    base_reports, new_reports = raybench.get_reports(base), raybench.get_reports(new)
    for line, b, n in zip(_lines(ax, "new"), base_reports, new_reports):
        assert f"p99 {b['latency_ms_p99']:.3g} → {n['latency_ms_p99']:.3g} ms" in line.get_label()
        assert np.median(line.get_xdata()) == pytest.approx(12, rel=0.1)  # the new device sleeps 12 ms
    assert "#2 n=3 w=1 b=1: only in base" in _legend_texts(figure)


def test_says_which_keys_kept_every_config_apart(base, new):
    (ax,) = plot.compare_cdf(base, new).axes  # the default keys include model_name, which differs
    assert not ax.lines
    (hint,) = [text.get_text() for text in ax.texts if text.get_gid() == "unpaired"]
    assert hint.replace("\n", " ").startswith("no config paired: the runs share no model_name")


def test_title_names_the_models_and_each_runs_date_host_and_commit(base, new):
    (ax,) = plot.compare_cdf(base, new, match="n_models").axes
    head, *runs = ax.get_title().split("\n")
    assert head == "Latency CDF, base vs new: SimulatedDevice, SimulatedDevice_12ms"
    for line, name, results in zip(runs, ("base", "new"), (base, new)):
        assert line.startswith(f"{name}: {results.metadata['started_at'][:10]} ")
        assert f"host {results.metadata['host']}" in line


@pytest.mark.parametrize(("args", "message"), [
    (([], None), "base must be a raybench Results (from return_timers=True or read_results) (got list)"),
    ((None, []), "new must be a raybench Results (from return_timers=True or read_results) (got list)"),
])  # fmt: skip
def test_refuses_what_is_not_results(base, args, message):
    left, right = (base if arg is None else arg for arg in args)
    with pytest.raises(raybench.ConfigError) as error:
        plot.compare_cdf(left, right)
    assert str(error.value) == message


def test_refuses_an_unknown_match_key(base):
    with pytest.raises(raybench.ConfigError) as error:
        plot.compare_cdf(base, base, match="n_models,colour")
    assert str(error.value).startswith("match must name keys among model_name, batch_size")


def test_is_exported_and_saves(base, tmp_path):
    assert "compare_cdf" in plot.__all__
    path = tmp_path / "compare.png"
    plot.compare_cdf(base, base).savefig(path, format="png", dpi=50)
    assert path.stat().st_size > 1000


@pytest.mark.ray
def test_a_run_on_ray_pairs_with_an_in_process_run(ray_session, base):
    on_ray = _run(raybench.testing.SimulatedDevice, [1, 2])
    assert on_ray.configs[0].multiprocess and not base.configs[0].multiprocess  # not a key: they pair
    figure = plot.compare_cdf(base, on_ray)
    (ax,) = figure.axes
    assert len(_lines(ax, "base")) == len(_lines(ax, "new")) == 2
    for line in _lines(ax, "new"):
        assert np.median(line.get_xdata()) == pytest.approx(10, rel=0.1)  # SimulatedDevice sleeps 10 ms
    assert f"new: {on_ray.metadata['started_at'][:10]}" in ax.get_title()
    assert "#2 n=3 w=1 b=1: only in base" in _legend_texts(figure)
