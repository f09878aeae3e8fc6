"""The command line's table (raybench.cli.table): best first, units, significant digits, file
names, terminal width. Pure: no Ray."""

from __future__ import annotations

import io

import pytest

import raybench
from raybench.cli.table import cell, header, print_table, sort_best_first

MODEL = "/home/someone/models/very/deep/folder/resnet50_neuron_batch1.pt"


def row(throughput: float, p50: float, p99: float | None, n_models: int, workers: int = 2) -> dict:
    return {"throughput_avg": throughput, "latency_ms_p50": p50, "latency_ms_p99": p99, "n_models": n_models,
            "pipeline_size": 1, "workers_per_model": workers, "batch_size": 1, "model_filename": MODEL,
            "throughput_peak": throughput * 1.1}


ROWS = [row(900.0, 1.5, 3.0, 1), row(2500.0, 0.5, None, 2), row(1234.56, 0.006123, 12.3456, 4, workers=1)]


def table(rows, width=None, cols=None) -> list[str]:
    out = io.StringIO()
    print_table(rows, cols, file=out, width=width)
    return out.getvalue().splitlines()


def test_best_first_sorts_on_the_first_printed_column_descending() -> None:
    assert [r["n_models"] for r in sort_best_first(ROWS, "best")] == [2, 4, 1]
    assert [r["n_models"] for r in sort_best_first(ROWS, "best", reverse=True)] == [1, 4, 2]


def test_a_latency_column_sorts_smallest_first_and_missing_last() -> None:
    assert [r["n_models"] for r in sort_best_first(ROWS, "latency_ms_p99")] == [1, 4, 2]
    assert [r["n_models"] for r in sort_best_first(ROWS, "latency_ms_p50")] == [4, 2, 1]
    assert [r["n_models"] for r in sort_best_first(ROWS, None)] == [1, 2, 4]


def test_an_unknown_sort_column_names_the_flag() -> None:
    with pytest.raises(raybench.ConfigError, match="--sort-by must be a key of the reports"):
        sort_best_first(ROWS, "latency_ms_p51")


def test_headers_are_short_with_units_under_them() -> None:
    lines = table(sort_best_first(ROWS, "best"))
    assert lines[0].split("  ")[0] == "throughput"
    assert [h for h in lines[0].split("  ") if h] == [
        "throughput", "latency p50", "latency p99", "copies", "pipeline", "workers", "batch", "model"]
    assert lines[1].split() == ["samples/s", "ms", "ms"]
    assert header("ttft_ms_p99") == ("ttft p99", "ms")
    assert header("latency_ms_p99_9") == ("latency p99.9", "ms")
    assert header("cpu_avg_percent") == ("cpu avg", "%")
    assert header("status") == ("status", "")


def test_durations_keep_their_significant_digits() -> None:
    assert cell("latency_ms_p50", 0.006123) == "0.006123"
    assert cell("latency_ms_p50", 0.0000123456) == "0.00001235"
    assert cell("latency_ms_p99", 12.3456) == "12.35"
    assert cell("throughput_avg", 2746.0) == "2746"
    assert cell("latency_ms_p99", None) == "N/A" == cell("latency_ms_p99", float("nan"))
    assert cell("n_models", 4) == "4"


def test_paths_show_as_the_file_name_and_numbers_align_right() -> None:
    lines = table(sort_best_first(ROWS, "best"))
    assert all(line.endswith("resnet50_neuron_batch1.pt") for line in lines[2:])
    assert "/home/someone" not in "\n".join(lines)
    p50_end = lines[0].index("latency p50") + len("latency p50")
    assert [line[:p50_end].split()[-1] for line in lines[2:]] == ["0.5", "0.006123", "1.5"]


def test_at_80_columns_the_table_fits_and_says_what_it_folded() -> None:
    wide = [dict(r, model_filename=f"/m/{i}/model_with_a_rather_long_descriptive_name_{i}.pt")
            for i, r in enumerate(ROWS)]
    lines = table(sort_best_first(wide, "best"), width=80)
    assert all(len(line) <= 80 for line in lines), lines
    assert "every row: pipeline 1, batch 1" in lines[-1]
    assert "model" in lines[0] and "…" in lines[2]  # shortened in the middle, both ends kept
    assert lines[2].rstrip().endswith("_1.pt")


def test_a_very_narrow_terminal_hides_the_last_columns_and_names_them() -> None:
    lines = table(sort_best_first(ROWS, "best"), width=40)
    assert all(len(line) <= 40 for line in lines), lines
    assert lines[0].split("  ")[0] == "throughput"
    hidden = " ".join(lines[lines.index(next(x for x in lines if x.startswith("hidden"))):])
    assert "hidden to fit 40 columns:" in hidden and "(choose with --cols)" in hidden


def test_a_pipe_without_columns_gets_the_whole_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = io.StringIO()
    print_table(ROWS, file=out)
    assert all(line.endswith(".pt") for line in out.getvalue().splitlines()[2:])
    monkeypatch.setenv("COLUMNS", "50")
    out = io.StringIO()
    print_table(ROWS, file=out)
    assert max(map(len, out.getvalue().splitlines())) <= 50


def test_print_reports_keeps_neuronperfs_table() -> None:
    out = io.StringIO()
    raybench.print_reports(ROWS, file=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == raybench.PRINT_COLS
    # NeuronPerf's sort: throughput_peak ascending, 3 decimals, full paths.
    assert [line.split()[3] for line in lines[1:]] == ["1", "4", "2"]
    assert lines[1].split()[-1] == MODEL and lines[2].split()[1] == "0.006"
