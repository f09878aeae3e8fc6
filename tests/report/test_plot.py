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
    """The texts of the axes' legend, or of its figure's (a legend under the plot)."""
    legend = ax.get_legend() or ax.figure.legends[0]
    return [text.get_text() for text in legend.get_texts()]


def _texts(figure, gid: str | None = None) -> list[str]:
    return [text.get_text() for ax in figure.axes for text in ax.texts if gid is None or text.get_gid() == gid]


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
        assert _png_size(path) == (round(width_in * 50), round(height_in * 50))
    # Every plot is 10 x 5 inches but latency over time, which grows a row of panels per two configs.
    assert [_png_size(path) for path in paths] == [(500, 250), (500, 230), (500, 250), (500, 250)]


def test_save_plots_refuses_existing_files_unless_overwrite(sweep, tmp_path):
    paths = plot.save_plots(sweep, tmp_path)
    before = [_read(path) for path in paths]
    with pytest.raises(raybench.ConfigError) as error:
        plot.save_plots(sweep, tmp_path)
    listed = ", ".join(repr(path) for path in paths)
    assert str(error.value) == f"out_dir already holds {listed} (pass overwrite=True to replace)"
    assert [_read(path) for path in paths] == before
    assert plot.save_plots(sweep, tmp_path, overwrite=True, dpi=100) == paths
    assert [_png_size(path) for path in paths] == [(1000, 500), (1000, 630), (1000, 500), (1000, 500)]


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


def test_every_title_names_the_model_date_host_and_commit(run):
    git = run.metadata["git"]
    for draw in DRAWERS:
        figure = draw(run)
        title = (figure.get_suptitle() or figure.axes[0].get_title()).split("\n")
        assert title[0].endswith(": SimulatedDevice")
        assert title[1].startswith(run.metadata["started_at"][:10] + " ")
        assert f"host {run.metadata['host']}" in title[1]
        assert (f"commit {git['commit'][:10]}" in title[1]) if git else "commit" not in title[1]


def test_a_title_without_run_metadata_is_one_line(sweep):
    assert plot.latency_cdf(sweep).axes[0].get_title() == "Latency CDF: toy"


def test_latency_cdf_has_a_percentile_axis_and_the_reports_marks(run):
    (ax,) = plot.latency_cdf(run).axes
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "latency (ms, log scale)"
    # Each "nine" gets the same height: 50, 90, 99 and 99.9 sit one unit apart on the scale.
    assert [label.get_text() for label in ax.get_yticklabels()] == ["0", "50", "90", "99", "99.9"]
    heights = ax.transData.transform([(1, q) for q in (0.5, 0.9, 0.99, 0.999)])[:, 1]
    np.testing.assert_allclose(np.diff(heights[1:]), np.diff(heights[1:])[0])
    assert len(_labelled(ax.lines)) == len(run.configs) == 2
    marks = [collection.get_offsets() for collection in ax.collections]
    # About 100 and 200 rows: the curves stop short of 99.9, so only p50 and p99 are marked.
    expected = [[[r["latency_ms_p50"], 0.5], [r["latency_ms_p99"], 0.99]] for r in raybench.get_reports(run)]
    np.testing.assert_allclose(marks, expected)


def test_latency_cdf_legend_goes_under_the_plot_in_columns(sweep):
    figure = plot.latency_cdf(sweep)
    (ax,) = figure.axes
    assert ax.get_legend() is None
    (legend,) = figure.legends
    assert legend._ncols == 4
    figure.draw_without_rendering()
    assert legend.get_window_extent().y1 <= ax.get_window_extent().y0  # below the axes, not over them


def test_latency_cdf_counts_only_ok_rows_and_notes_a_config_without_data(sweep):
    (ax,) = plot.latency_cdf(sweep).axes
    first = _labelled(ax.lines)[0]
    assert first.get_label().startswith("#0 n=1 w=1 b=1: p50 ")
    assert first.get_xdata().max() == pytest.approx(19.9)  # the 5000 ms error rows are left out
    assert len(_labelled(ax.lines)) == 4
    assert "#2 n=4 w=1 b=1: error, no data" in _legend_texts(ax)


def test_large_configs_draw_a_sampled_body_and_an_exact_tail():
    rows = _rows(0, 100_000, seconds=3)
    latency_ms = np.sort(rows["end_ns"] - rows["start_ns"]) / MS
    results = _results([_config(0, 1)], [rows])
    (cdf,) = plot.latency_cdf(results).axes
    (line,) = cdf.lines
    assert len(line.get_xdata()) <= 20_000
    np.testing.assert_array_equal(line.get_xdata()[-10_000:], latency_ms[-10_000:])  # every slowest row
    assert line.get_ydata().max() < 1 and "99.99" in [t.get_text() for t in cdf.get_yticklabels()]
    np.testing.assert_allclose([offset[1] for offset in cdf.collections[0].get_offsets()], [0.5, 0.99, 0.999])


def test_latency_over_time_has_a_panel_per_config_on_shared_axes_and_a_throughput_panel(sweep):
    figure = plot.latency_over_time(sweep)
    *panels, rate = figure.axes
    assert [panel.get_title() for panel in panels] == [_label for _label in
                                                      ("#0 n=1 w=1 b=1", "#1 n=2 w=1 b=1", "#2 n=4 w=1 b=1",
                                                       "#3 n=1 w=2 b=1", "#4 n=2 w=2 b=1")]
    assert all(panel.get_shared_y_axes().joined(panels[0], panel) for panel in panels)
    assert all(panel.get_shared_x_axes().joined(rate, panel) for panel in panels)
    assert panels[0].get_yscale() == "log" and panels[0].get_ylabel() == "latency (ms)"
    assert "error, no data" in [text.get_text() for text in panels[2].texts]
    assert rate.get_xlabel() == "time since the config's start (s)" and rate.get_ylabel() == "samples/s"
    # _rows spreads 100 (150, 180, 360) calls a second evenly: the throughput of every full bin.
    expected = [100, 150, 180, 360]
    for line, per_s in zip(rate.lines, expected):
        np.testing.assert_allclose(np.median(line.get_ydata()), per_s, rtol=0.05)
    assert [line.get_color() for line in rate.lines] == [panels[i].lines[0].get_color() for i in (0, 1, 3, 4)]


def test_latency_over_time_bins_are_sized_to_the_run():
    short, long = _rows(0, 100_000, seconds=2), _rows(0, 10_000, seconds=20)
    for rows, seconds in ((short, 2), (long, 20)):
        panel, _ = plot.latency_over_time(_results([_config(0, 1)], [rows])).axes
        p50, _, peak = panel.lines
        centres = p50.get_xdata()
        assert len(centres) == 80
        assert np.diff(centres)[0] == pytest.approx(seconds / 80, rel=0.01)
    few = _rows(0, 100, seconds=2)  # 200 rows: 10 bins of 20, not 80 bins of 2 rows
    panel, _ = plot.latency_over_time(_results([_config(0, 1)], [few])).axes
    assert len(panel.lines[0].get_xdata()) == 10


def test_latency_over_time_max_per_bin_is_exact():
    results = _results([_config(0, 1)], [_rows(0, 100_000, seconds=3)])
    panel, _ = plot.latency_over_time(results).axes
    assert np.nanmax(panel.lines[2].get_ydata()) == pytest.approx(19.9)


def test_latency_over_time_shows_a_stall_as_a_gap_a_tall_max_and_no_throughput():
    before, after = _rows(0, 100, seconds=2), _rows(0, 100, seconds=2)
    after["start_ns"] += 3 * 10**9
    after["end_ns"] += 3 * 10**9
    after["end_ns"][0] += 900 * MS  # the first call after the stall took 900 ms longer
    results = _results([_config(0, 1)], [before, after])
    panel, rate = plot.latency_over_time(results).axes
    p50, _, peak = panel.lines
    assert np.isnan(p50.get_ydata()).any()
    assert np.nanmax(peak.get_ydata()) == pytest.approx(910.0)
    assert rate.lines[0].get_ydata().min() == 0


def test_latency_over_time_counts_samples_not_calls():
    config = RunConfig.from_dict({**_config(0, 1).to_dict(), "batch_size": 4})
    _, rate = plot.latency_over_time(_results([config], [_rows(0, 100)])).axes
    np.testing.assert_allclose(np.median(rate.lines[0].get_ydata()), 400, rtol=0.05)


def test_scaling_draws_ideal_lines_and_efficiencies(sweep):
    (ax,) = plot.scaling(sweep).axes
    assert ax.get_xlabel() == "n_models (model copies)"
    assert ax.get_ylabel() == "throughput (samples/s = inferences/s × batch size)"
    groups = _labelled(ax.lines)
    assert [line.get_label() for line in groups] == ["w=1 b=1", "w=2 b=1"]
    np.testing.assert_allclose(groups[0].get_ydata(), [100, 150])
    ideal = [line for line in ax.lines if line.get_gid() == "ideal"]
    np.testing.assert_allclose([line.get_ydata() for line in ideal], [[100, 200], [180, 360]])
    assert _texts(ax.figure, "efficiency") == ["75%", "100%"]  # n=1 is 100 % by definition: not labelled
    assert "#2 n=4 w=1 b=1: error, no throughput" in _legend_texts(ax)


def test_scaling_spans_the_n_models_run_and_ticks_each(sweep):
    (ax,) = plot.scaling(sweep).axes
    left, right = ax.get_xlim()
    assert 0.5 < left < 1 and 2 < right < 2.5  # n=1 and n=2 ran (n=4 errored): no empty third
    assert list(ax.get_xticks()) == [1, 2]


def test_scaling_says_a_two_point_sweep_shows_only_the_ends(sweep):
    (hint,) = _texts(plot.scaling(sweep), "hint")
    assert hint.startswith("2 points per line (n_models 1 and 2): a sweep like n_models=[1, MAX] shows only the ends")


def test_scaling_of_three_points_gives_no_hint():
    results = _results([_config(0, 1), _config(1, 2), _config(2, 4)], [_rows(0, 100), _rows(1, 190), _rows(2, 350)])
    figure = plot.scaling(results)
    assert _texts(figure, "hint") == []
    assert list(figure.axes[0].get_xticks()) == [1, 2, 4]


def test_scaling_labels_at_one_n_do_not_overlap():
    # Four groups whose n=2 points lie within 1 % of each other: their labels must be spread apart.
    configs = [_config(2 * g + i, n, workers=g + 1) for g in range(4) for i, n in enumerate((1, 2))]
    parts = [_rows(2 * g + i, rate) for g in range(4) for i, rate in enumerate((100, 180 + g))]
    figure = plot.scaling(_results(configs, parts))
    (ax,) = figure.axes
    figure.draw_without_rendering()
    boxes = [text.get_window_extent() for text in ax.texts if text.get_gid() == "efficiency"]
    assert len(boxes) == 4
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(ax.get_window_extent().contains(box.x0, box.y0) for box in boxes)


def test_latency_vs_throughput_joins_configs_by_concurrency_on_a_log_axis(sweep):
    (ax,) = plot.latency_vs_throughput(sweep).axes
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "throughput (samples/s = inferences/s × batch size)"
    reports = {r["config_id"]: r for r in raybench.get_reports(sweep)}
    p99 = [line for line in ax.lines if line.get_gid() == "p99"]
    # One line per n_models, along workers_per_model: n=1 joins #0 (w=1) and #3 (w=2), n=2 #1 and #4.
    assert [line.get_label() for line in p99] == ["n=1 b=1", "n=2 b=1"]
    for line, ids in zip(p99, ([0, 3], [1, 4])):
        np.testing.assert_allclose(line.get_xdata(), [reports[i]["throughput_avg"] for i in ids])
        np.testing.assert_allclose(line.get_ydata(), [reports[i]["latency_ms_p99"] for i in ids])
    p50 = [line for line in ax.lines if line.get_gid() == "p50"]
    np.testing.assert_allclose(p50[0].get_ydata(), [reports[i]["latency_ms_p50"] for i in (0, 3)])
    assert [text.get_text() for text in ax.texts] == ["w=1", "w=2", "w=1", "w=2"]
    assert "#2 n=4 w=1 b=1: error, no data" in _legend_texts(ax)


def test_latency_vs_throughput_joins_along_n_models_when_workers_were_not_swept(run):
    (ax,) = plot.latency_vs_throughput(run).axes
    (line,) = [line for line in ax.lines if line.get_gid() == "p99"]
    assert line.get_label() == "w=1 b=1"
    np.testing.assert_allclose(line.get_xdata(), [r["throughput_avg"] for r in raybench.get_reports(run)])
    assert [text.get_text() for text in ax.texts] == ["n=1", "n=2"]


def test_latency_vs_throughput_marks_the_pareto_front():
    # #1 beats #0 on both; #2 has the most samples/s at a higher p99: the front is #1, #2.
    configs = [_config(0, 1), _config(1, 2), _config(2, 4)]
    parts = [_rows(0, 100, latency_ns=30 * MS), _rows(1, 200, latency_ns=20 * MS), _rows(2, 300, latency_ns=40 * MS)]
    results = _results(configs, parts)
    (ax,) = plot.latency_vs_throughput(results).axes
    (front,) = [line for line in ax.lines if line.get_gid() == "pareto"]
    reports = raybench.get_reports(results)
    np.testing.assert_allclose(front.get_xdata(), [reports[1]["throughput_avg"], reports[2]["throughput_avg"]])
    np.testing.assert_allclose(front.get_ydata(), [reports[1]["latency_ms_p99"], reports[2]["latency_ms_p99"]])


def test_latency_vs_throughput_draws_an_slo_line(sweep):
    (ax,) = plot.latency_vs_throughput(sweep, slo_ms=15).axes
    (slo,) = [line for line in ax.lines if line.get_gid() == "slo"]
    assert list(slo.get_ydata()) == [15, 15] and "SLO p99 ≤ 15 ms" in _legend_texts(ax)
    assert ax.get_ylim()[1] > 15
    assert not [line for line in plot.latency_vs_throughput(sweep).axes[0].lines if line.get_gid() == "slo"]


def test_latency_vs_throughput_draws_the_runs_own_p99_slo():
    results = _results([_config(0, 1)], [_rows(0, 100)])
    results.metadata["slo"] = {"latency_ms_p99": 25.0}
    (ax,) = plot.latency_vs_throughput(results).axes
    assert [list(line.get_ydata()) for line in ax.lines if line.get_gid() == "slo"] == [[25.0, 25.0]]


@pytest.mark.parametrize("slo_ms", [0, -5, float("nan"), float("inf"), True, "20"])
def test_latency_vs_throughput_refuses_a_bad_slo(sweep, slo_ms):
    with pytest.raises(raybench.ConfigError) as error:
        plot.latency_vs_throughput(sweep, slo_ms=slo_ms)
    assert str(error.value) == f"slo_ms must be a positive number of milliseconds (got {slo_ms!r})"


@pytest.mark.parametrize("draw", DRAWERS)
def test_results_without_data_say_so(draw):
    results = _results([_config(0, 1)], [], {0: "error"})
    figure = draw(results)
    texts = _texts(figure)
    assert "no data: no successful inferences" in texts
    if draw is plot.latency_over_time:
        assert len(figure.axes) == 2 and "error, no data" in texts  # the config keeps its panel
    elif draw is not plot.scaling:
        assert _legend_texts(figure.axes[0])[-1] == "#0 n=1 w=1 b=1: error, no data"


def test_results_without_data_still_save(tmp_path):
    results = _results([_config(0, 1)], [_rows(0, 5, ok=False)], {0: "error"})
    sizes = [_png_size(path) for path in plot.save_plots(results, tmp_path)]
    assert sizes == [(1000, 500), (1000, 460), (1000, 500), (1000, 500)]


@pytest.mark.parametrize("draw", DRAWERS)
def test_draws_on_the_given_axes(sweep, draw):
    from matplotlib.figure import Figure

    figure = Figure()
    left, right = figure.subplots(1, 2)
    assert draw(sweep, ax=right) is figure
    assert not left.has_data()
    if draw is plot.latency_over_time:  # its panels take the place of the axes, in a subfigure
        assert right not in figure.axes
        (panels,) = figure.subfigs
        assert len(panels.axes) == len(sweep.configs) + 1
    else:
        assert right.has_data()


def test_latency_over_time_refuses_axes_that_are_not_a_subplot(sweep):
    from matplotlib.figure import Figure

    ax = Figure().add_axes((0.1, 0.1, 0.5, 0.5))
    with pytest.raises(raybench.ConfigError) as error:
        plot.latency_over_time(sweep, ax=ax)
    assert str(error.value) == ("ax must be a subplot (from add_subplot or subplots) for a plot of several panels "
                                "(got axes at (0.1, 0.1, 0.5, 0.5))")


def test_plots_a_results_file_read_back(run, tmp_path):
    path = raybench.write_results(run, tmp_path / "run.parquet")
    paths = plot.save_plots(raybench.read_results(path), tmp_path / "plots")
    assert [os.path.basename(p) for p in paths] == NAMES
    assert [_png_size(p) for p in paths] == [(1000, 500), (1000, 460), (1000, 500), (1000, 500)]


def test_compare_cdf_notes_a_pair_without_data(sweep):
    figure = plot.compare_cdf(sweep, sweep)
    assert len([line for line in figure.axes[0].lines if line.get_gid() in ("base", "new")]) == 2 * 4
    assert "#2 n=4 w=1 b=1: no data in base" in _legend_texts(figure.axes[0])
