"""Plots of a run: latency CDF, latency over time, throughput scaling, latency vs throughput; a
base-vs-new comparison of two runs' CDFs; for a streaming model also the TTFT and ITL CDFs and
tokens/s and TTFT against concurrency; for a capacity search latency against offered load and
the Pareto front.

Each function takes a :class:`raybench.Results` (``benchmark(..., return_timers=True)`` or
:func:`raybench.read_results`) and returns a ``matplotlib.figure.Figure``; :func:`save_plots`
writes the run's plots as PNG files (what ``raybench plot RESULTS --out DIR`` does). Every title
names the run: model, then the date, host and commit its metadata holds.

- :func:`latency_cdf`: the percentile on a tail axis (50, 90, 99, 99.9), the legend under it.
- :func:`latency_over_time`: a panel per config on shared axes, and throughput per time bin.
- :func:`scaling`: samples/s against n_models, ideal scaling and efficiencies.
- :func:`latency_vs_throughput`: configs joined by concurrency, the Pareto front, ``slo_ms=``.
- :func:`compare_cdf`: two runs' paired configs overlaid, base dashed and new solid.

matplotlib is imported only on first use, so ``import raybench`` never loads it. Figures are
built as ``matplotlib.figure.Figure`` objects, not through pyplot: no global figure registry to
leak into, no backend to choose, and they render headless. A bare Figure has no PNG
representation of its own, so in Jupyter run ``%matplotlib inline`` once; then a returned figure
shows as a cell's value or with ``display(fig)``.

A run can hold tens of millions of timer rows, so no plot draws one mark per row: a CDF is drawn
from a seeded random subsample of its body and every row of its tail (its marks are the reports'
exact percentiles), and latency over time from per-time-bin p50, p99 and max. Only ok rows are
latencies (``end_ns - start_ns``). Configs without data (an error before any call succeeded) are
left out and named in the legend. The drawing lives in ``raybench.report.*_figures``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from raybench.compare import KEY_FIELDS
from raybench.core.errors import ConfigError
from raybench.report import latency_figures
from raybench.report.capacity_figures import capacity_curve, pareto
from raybench.report.figures import figure_class as _figure_class
from raybench.report.html import write_html as render_page
from raybench.report.latency_figures import latency_cdf
from raybench.report.pairing import check_match
from raybench.report.results import Results
from raybench.report.stream_figures import token_latency_cdf, tokens_vs_concurrency
from raybench.report.throughput_figures import latency_vs_throughput, scaling
from raybench.report.time_figures import latency_over_time

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["capacity_curve", "compare_cdf", "latency_cdf", "latency_over_time", "latency_vs_throughput", "pareto",
           "plots_for", "save_plots", "scaling", "token_latency_cdf", "tokens_vs_concurrency", "write_html"]


def compare_cdf(base: Results, new: Results, *, match: Sequence[str] | str | None = None,
                ax: Axes | None = None) -> Figure:
    """Overlay the latency CDFs of two runs' paired configs: base dashed, new solid, one colour
    per pair, on the percentile axis of :func:`latency_cdf`; the legend gives each pair's p99
    (base -> new, and the change) and names the configs only one run has.

    Configs pair as in :func:`raybench.compare.compare_results`: the same values of ``match``
    (default :data:`raybench.compare.KEY_FIELDS`), several of one key paired in order. The title
    names the model(s), and each run's date, host and commit.

    Args:
        base: The reference run (``benchmark(..., return_timers=True)`` or ``read_results``).
        new: The run to judge against it.
        match: The keys configs pair on, a subset of ``KEY_FIELDS`` (a list or a comma-separated
            string); ``"batch_size,n_models,workers_per_model,pipeline_size"`` pairs two models.
        ax: Axes to draw on; a new 10 x 5 inch figure when None.

    Returns:
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises:
        ConfigError: ``base``/``new`` is not a Results, or ``match`` names a key outside ``KEY_FIELDS``.
        MissingDependencyError: matplotlib is not installed.
    """
    base, new = Results.check(base, "base"), Results.check(new, "new")
    keys = KEY_FIELDS if match is None else check_match(match, KEY_FIELDS)
    return latency_figures.compare_cdf(base, new, keys, ax)


_PLOTS: tuple[tuple[str, Callable[..., Figure]], ...] = (
    ("latency_cdf.png", latency_cdf),
    ("latency_over_time.png", latency_over_time),
    ("scaling.png", scaling),
    ("latency_vs_throughput.png", latency_vs_throughput),
)
#: Drawn too when the run's model streamed.
_STREAM_PLOTS: tuple[tuple[str, Callable[..., Figure]], ...] = (
    ("token_latency_cdf.png", token_latency_cdf),
    ("tokens_vs_concurrency.png", tokens_vs_concurrency),
)
#: Drawn too for a capacity search.
_SEARCH_PLOTS: tuple[tuple[str, Callable[..., Figure]], ...] = (
    ("capacity_curve.png", capacity_curve),
    ("pareto.png", pareto),
)


def write_html(results: Results, filename: str | os.PathLike[str], *, overwrite: bool = False,
               dpi: float = 100) -> str:
    """Write a run as one self-contained HTML page (atomically) and return its path: warnings,
    the reports, the run's metadata, these figures embedded as PNG data URIs, and the per-node,
    per-copy and telemetry breakdown (:mod:`raybench.report.html`). ``overwrite`` replaces an
    existing file (else it is refused before anything is drawn); ``dpi`` sets the figures'
    resolution. Also ``raybench.write_html``.
    """
    return render_page(results, filename, overwrite=overwrite, plots=sys.modules[__name__], dpi=dpi)


def plots_for(results: Results) -> list[tuple[str, Callable[..., Figure]]]:
    """The plots that apply to a run, as (file name, function): the four always, the token ones
    when its model streamed, the capacity ones for a search (what :func:`save_plots` writes and
    the HTML report embeds)."""
    plots = _PLOTS + (_STREAM_PLOTS if "chunk_ns" in results.timers.column_names else ())
    return list(plots + (_SEARCH_PLOTS if any(config.search is not None for config in results.configs) else ()))


def save_plots(results: Results, out_dir: str | os.PathLike[str], *, overwrite: bool = False,
               dpi: float = 100) -> list[str]:
    """Write the four plots as PNG files into ``out_dir`` (created if missing), for a run whose
    model streamed also ``token_latency_cdf.png`` and ``tokens_vs_concurrency.png``, and for a
    capacity search ``capacity_curve.png`` and ``pareto.png``.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        out_dir: Folder for ``latency_cdf.png``, ``latency_over_time.png``, ``scaling.png`` and
            ``latency_vs_throughput.png``.
        overwrite: Replace existing files of those names (else none is written).
        dpi: Dots per inch; each figure is 10 x 5 inches (1000 x 500 pixels at 100 dpi) but
            ``latency_over_time.png``, 10 inches wide and 1.7 inches taller per row of panels.

    Returns:
        The paths written, in the order above.

    Raises:
        ConfigError: ``results`` is not a Results, ``dpi`` is not a positive number, or one of
            the files exists and ``overwrite`` is False.
        MissingDependencyError: matplotlib is not installed.
        OSError: ``out_dir`` cannot be created or written.
    """
    results = Results.check(results)
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not (math.isfinite(dpi) and dpi > 0):
        raise ConfigError(f"dpi must be a positive number of dots per inch (got {dpi!r})")
    plots = plots_for(results)
    paths = [os.path.join(os.fspath(out_dir), name) for name, _ in plots]
    existing = [path for path in paths if os.path.lexists(path)]
    if existing and not overwrite:
        raise _exists_error(existing)
    _figure_class()  # a missing matplotlib fails before the folder is made
    os.makedirs(out_dir, exist_ok=True)
    for path, (_, draw) in zip(paths, plots):
        figure = draw(results)
        try:  # "xb" refuses a file created since the check rather than replacing it
            file = open(path, "wb" if overwrite else "xb")  # noqa: SIM115 - closed by the with below
        except FileExistsError:
            raise _exists_error([path]) from None
        try:
            with file:
                figure.savefig(file, format="png", dpi=dpi)
        except BaseException:
            os.unlink(path)  # no half-written PNG left behind
            raise
    return paths


def _exists_error(paths: list[str]) -> ConfigError:
    listed = ", ".join(repr(path) for path in paths)
    return ConfigError(f"out_dir already holds {listed} (pass overwrite=True to replace)")
