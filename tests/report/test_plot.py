"""raybench.plot: figures from a real in-process run and from hand-built results, and the PNGs."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

import raybench
from raybench import plot
from raybench.core.schema import RunConfig
from raybench.core.schema import ConfigOutcome, timer_schema

pytest.importorskip("matplotlib")

T0_NS = 1_700_000_000 * 10**9
MS = 1_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = ["latency_cdf.png", "latency_over_time.png", "scaling.png", "latency_vs_throughput.png"]
DRAWERS = [plot.latency_cdf, plot.latency_over_time, plot.scaling, plot.latency_vs_throughput]


@pytest.fixture(scope="module")
def run():
    """A real two-config run (n_models 1 and 2), in-process: no Ray, about three seconds."""
    return raybench.cpu.benchmark(
        raybench.testing.SimulatedDevice, np.zeros(4), batch_sizes=[1], n_models=[1, 2], workers_per_model=[1],
        duration=1.0, multiprocess=False, return_timers=True, verbosity=0,
    )  # fmt: skip


def _config(config_id: int, n_models: int, workers: int = 1) -> RunConfig:
    return RunConfig.from_dict(dict(config_id=config_id, model_filename="toy.pt", model_name="toy", device_type="cpu",
                                    batch_size=1, input_index=0, n_models=n_models, workers_per_model=workers,
                                    duration_s=5.0))


def _rows(config_id: int, rate: int, *, seconds: int = 5, ok: bool = True, latency_ns: int = 10 * MS) -> dict:
    """``rate`` calls ending per second, spread evenly (so every one-second bucket counts ``rate``)."""
    k = np.arange(rate * seconds, dtype=np.int64)
    end = T0_NS + (2 * k + 1) * 10**9 // (2 * rate)
    start = end - latency_ns - (k % 100) * (MS // 10)  # 10 ms .. 19.9 ms
    return {"config_id": np.full(k.size, config_id), "start_ns": start, "end_ns": end, "ok": np.full(k.size, ok)}


def _results(configs: list[RunConfig], parts: list[dict], statuses: dict[int, str] | None = None) -> raybench.Results:
    columns = {key: np.concatenate([p[key] for p in parts]) if parts else np.array([], np.int64)
               for key in ("config_id", "start_ns", "end_ns", "ok")}
    n = columns["config_id"].size
    zeros = pa.array(np.zeros(n, np.int16))
    timers = pa.table({
        "config_id": pa.array(columns["config_id"].astype(np.int16)), "copy_id": zeros, "worker_id": zeros,
        "node_id": pa.DictionaryArray.from_arrays(zeros, pa.array(["local"])),
        "start_ns": pa.array(columns["start_ns"], pa.int64()), "end_ns": pa.array(columns["end_ns"], pa.int64()),
        "ok": pa.array(columns["ok"].astype(bool)),
    }, schema=timer_schema())  # fmt: skip
    statuses = statuses or {}
    outcomes = [ConfigOutcome(c.config_id, statuses.get(c.config_id, "finished"), start_ns=T0_NS,
                              stop_ns=T0_NS + 5 * 10**9) for c in configs]
    return raybench.Results(configs, outcomes, timers)


@pytest.fixture(scope="module")
def sweep():
    """Two groups: w=1 scales 100 -> 150/s (75 %), w=2 180 -> 360/s (100 %); n=4 errored without
    rows; config 0 also has error rows whose 5 s latency must not show."""
    configs = [_config(0, 1), _config(1, 2), _config(2, 4), _config(3, 1, workers=2), _config(4, 2, workers=2)]
    parts = [_rows(0, 100), _rows(0, 3, ok=False, latency_ns=5000 * MS), _rows(1, 150), _rows(3, 180), _rows(4, 360)]
    return _results(configs, parts, {2: "error"})


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as file:
        head = file.read(24)
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def _labelled(lines: list) -> list:
    return [line for line in lines if not line.get_label().startswith("_")]


def _legend_texts(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_import_raybench_does_not_import_matplotlib():
    code = "import raybench, raybench.plot, sys; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_save_plots_writes_pngs_of_the_figure_size(run, tmp_path):
    out_dir = tmp_path / "new" / "plots"
    paths = plot.save_plots(run, out_dir, dpi=50)
    assert paths == [os.path.join(out_dir, name) for name in NAMES]
    for path, draw in zip(paths, DRAWERS):
        assert os.path.getsize(path) > 1000
        width_in, height_in = draw(run).get_size_inches()
        assert _png_size(path) == (round(width_in * 50), round(height_in * 50)) == (500, 250)


def test_save_plots_refuses_existing_files_unless_overwrite(sweep, tmp_path):
    paths = plot.save_plots(sweep, tmp_path)
    before = [_read(path) for path in paths]
    with pytest.raises(raybench.ConfigError) as error:
        plot.save_plots(sweep, tmp_path)
    listed = ", ".join(repr(path) for path in paths)
    assert str(error.value) == f"out_dir already holds {listed} (pass overwrite=True to replace)"
    assert [_read(path) for path in paths] == before
    assert plot.save_plots(sweep, tmp_path, overwrite=True, dpi=100) == paths
    assert all(_png_size(path) == (1000, 500) for path in paths)


@pytest.mark.parametrize("draw", [*DRAWERS, plot.save_plots])
def test_refuses_what_is_not_results(draw, tmp_path):
    args = (tmp_path,) if draw is plot.save_plots else ()
    with pytest.raises(raybench.ConfigError) as error:
        draw([], *args)
    assert str(error.value) == (
        "results must be a raybench Results (from return_timers=True or read_results) (got list)"
    )


@pytest.mark.parametrize("dpi", [0, -1, float("nan"), True, "100"])
def test_save_plots_refuses_bad_dpi(sweep, tmp_path, dpi):
    with pytest.raises(raybench.ConfigError) as error:
        plot.save_plots(sweep, tmp_path / "out", dpi=dpi)
    assert str(error.value) == f"dpi must be a positive number of dots per inch (got {dpi!r})"
    assert not (tmp_path / "out").exists()


def test_missing_matplotlib_names_the_extra(sweep, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(raybench.MissingDependencyError) as error:
        plot.latency_cdf(sweep)
    assert str(error.value) == "raybench.plot needs matplotlib, which is not installed: pip install 'raybench[plot]'"


def test_latency_cdf_is_log_x_with_p50_and_p99_of_the_reports(run):
    (ax,) = plot.latency_cdf(run).axes
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "latency (ms, log scale)"
    assert ax.get_title() == "Latency CDF: SimulatedDevice"
    assert len(_labelled(ax.lines)) == len(run.configs) == 2
    marks = [collection.get_offsets() for collection in ax.collections]
    expected = [[[r["latency_ms_p50"], 0.5], [r["latency_ms_p99"], 0.99]] for r in raybench.get_reports(run)]
    np.testing.assert_allclose(marks, expected)
    assert {"p50", "p99"} <= {text.get_text() for text in ax.texts}


def test_latency_cdf_counts_only_ok_rows_and_notes_a_config_without_data(sweep):
    (ax,) = plot.latency_cdf(sweep).axes
    first = _labelled(ax.lines)[0]
    assert first.get_label().startswith("#0 n=1 w=1 b=1: p50 ")
    assert first.get_xdata().max() == pytest.approx(19.9)  # the 5000 ms error rows are left out
    assert len(_labelled(ax.lines)) == 4
    assert "#2 n=4 w=1 b=1: error, no data" in _legend_texts(ax)


def test_latency_over_time_bins_per_config_from_its_start(run):
    (ax,) = plot.latency_over_time(run).axes
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "time since the config's start (s)"
    assert ax.get_ylabel() == "latency (ms, log scale)"
    lines = _labelled(ax.lines)
    assert [line.get_label() for line in lines] == ["#0 n=1 w=1 b=1", "#1 n=2 w=1 b=1"]
    assert len(ax.lines) == 3 * len(lines)  # p50, p99 and max of each config
    for line in lines:
        assert 0 <= np.nanmin(line.get_xdata()) and np.nanmax(line.get_xdata()) < 1.5
        assert 9 < np.nanmin(line.get_ydata()) < 20  # SimulatedDevice sleeps 10 ms
    assert {"p50 per bin", "p99 per bin", "max per bin"} <= set(_legend_texts(ax))


def test_large_configs_are_downsampled():
    rows = _rows(0, 100_000, seconds=3)
    results = _results([_config(0, 1)], [rows])
    (cdf,) = plot.latency_cdf(results).axes
    assert len(cdf.lines[0].get_xdata()) == 20_000
    (over_time,) = plot.latency_over_time(results).axes
    p50, _, peak = over_time.lines
    assert len(p50.get_xdata()) == 200
    assert np.nanmax(peak.get_ydata()) == pytest.approx(19.9)  # the max per bin is exact, not sampled


def test_latency_over_time_shows_a_stall_as_a_gap_and_a_tall_max():
    before, after = _rows(0, 100, seconds=2), _rows(0, 100, seconds=2)
    after["start_ns"] += 3 * 10**9
    after["end_ns"] += 3 * 10**9
    after["end_ns"][0] += 900 * MS  # the first call after the stall took 900 ms longer
    results = _results([_config(0, 1)], [before, after])
    p50, _, peak = plot.latency_over_time(results).axes[0].lines
    assert np.isnan(p50.get_ydata()).any()
    assert np.nanmax(peak.get_ydata()) == pytest.approx(910.0)


def test_scaling_draws_ideal_lines_and_efficiencies(sweep):
    (ax,) = plot.scaling(sweep).axes
    assert ax.get_xlabel() == "n_models (model copies)"
    assert ax.get_ylabel() == "throughput (inferences/s)"
    groups = _labelled(ax.lines)
    assert [line.get_label() for line in groups] == ["w=1 b=1", "w=2 b=1"]
    np.testing.assert_allclose(groups[0].get_ydata(), [100, 150])
    ideal = [line for line in ax.lines if line.get_gid() == "ideal"]
    np.testing.assert_allclose([line.get_ydata() for line in ideal], [[100, 200], [180, 360]])
    efficiencies = [text.get_text() for text in ax.texts if text.get_gid() == "efficiency"]
    assert efficiencies == ["100%", "75%", "100%", "100%"]
    assert "#2 n=4 w=1 b=1: error, no throughput" in _legend_texts(ax)


def test_scaling_of_a_real_run(run):
    (ax,) = plot.scaling(run).axes
    assert len(_labelled(ax.lines)) == 1
    assert [line.get_gid() for line in ax.lines].count("ideal") == 1
    assert len([text for text in ax.texts if text.get_gid() == "efficiency"]) == 2


def test_latency_vs_throughput_puts_each_config_at_its_report(run):
    (ax,) = plot.latency_vs_throughput(run).axes
    assert ax.get_xlabel() == "throughput (inferences/s)"
    assert ax.get_ylabel() == "latency (ms)"
    reports = raybench.get_reports(run)
    p50 = next(c for c in ax.collections if c.get_label() == "p50")
    p99 = next(c for c in ax.collections if c.get_label() == "p99")
    np.testing.assert_allclose(p50.get_offsets(), [[r["throughput_avg"], r["latency_ms_p50"]] for r in reports])
    np.testing.assert_allclose(p99.get_offsets(), [[r["throughput_avg"], r["latency_ms_p99"]] for r in reports])
    assert [text.get_text() for text in ax.texts] == ["#0 n=1 w=1 b=1", "#1 n=2 w=1 b=1"]


def test_latency_vs_throughput_notes_a_config_without_data(sweep):
    (ax,) = plot.latency_vs_throughput(sweep).axes
    assert len(ax.texts) == 4
    assert "#2 n=4 w=1 b=1: error, no data" in _legend_texts(ax)


@pytest.mark.parametrize("draw", DRAWERS)
def test_results_without_data_say_so(draw):
    results = _results([_config(0, 1)], [], {0: "error"})
    (ax,) = draw(results).axes
    assert "no data: no successful inferences" in [text.get_text() for text in ax.texts]
    assert _legend_texts(ax)[-1] == "#0 n=1 w=1 b=1: error, no data" or draw is plot.scaling


def test_results_without_data_still_save(tmp_path):
    results = _results([_config(0, 1)], [_rows(0, 5, ok=False)], {0: "error"})
    for path in plot.save_plots(results, tmp_path):
        assert _png_size(path) == (1000, 500)


@pytest.mark.parametrize("draw", DRAWERS)
def test_draws_on_the_given_axes(sweep, draw):
    from matplotlib.figure import Figure

    figure = Figure()
    left, right = figure.subplots(1, 2)
    assert draw(sweep, ax=right) is figure
    assert not left.has_data() and right.has_data()


def test_plots_a_results_file_read_back(run, tmp_path):
    path = raybench.write_results(run, tmp_path / "run.parquet")
    paths = plot.save_plots(raybench.read_results(path), tmp_path / "plots")
    assert [os.path.basename(p) for p in paths] == NAMES
    assert all(_png_size(p) == (1000, 500) for p in paths)
