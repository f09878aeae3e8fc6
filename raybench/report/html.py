"""A run as one self-contained HTML page: the reports, the capacity answers of a search, the
run's metadata, warnings, the plots and the per-node and per-copy breakdown.

The page opens offline and from an e-mail attachment: its style is inline, it loads no script,
font or image from anywhere, and each plot is a PNG inside the page as a base64 data URI. Every
string that comes from the results is escaped (:mod:`raybench.report.html_parts`).

The plots are drawn by :mod:`raybench.plot`'s public functions, looked up by name on the
``plots`` argument: ``report`` sits below the root package and may not import it, so the root's
:func:`raybench.write_html` passes :mod:`raybench.plot` in. Without matplotlib the page is
still written, saying which extra the plots need.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from raybench.core.errors import ConfigError, MissingDependencyError, one_line
from raybench.core.files import atomic_write_path
from raybench.core.log import logger
from raybench.core.schema import STATUS_FINISHED
from raybench.core.version import __version__
from raybench.report.html_detail import breakdown_section, telemetry_section
from raybench.report.html_parts import Column, esc, image, key_values, page, table, with_values
from raybench.report.pairing import saturation_warning
from raybench.report.reports import iso_utc
from raybench.report.results import Results, get_capacity_reports, get_reports

__all__ = ["render_html", "write_html"]

#: The table of reports: what a reader compares first.
REPORT_COLUMNS: tuple[Column, ...] = (
    Column("config_id", "#"), Column("throughput_avg", "throughput (samples/s)"),
    Column("latency_ms_p50", "p50 (ms)"), Column("latency_ms_p90", "p90 (ms)"), Column("latency_ms_p99", "p99 (ms)"),
    Column("latency_ms_p99_9", "p99.9 (ms)"), Column("n_models", "n_models"),
    Column("workers_per_model", "workers per model"), Column("batch_size", "batch size"),
    Column("pipeline_size", "pipeline size"), Column("model_name", "model", numeric=False),
)  # fmt: skip
#: Added for a model that streamed, a run judged by an SLO, a search's probes, and at the end.
STREAM_COLUMNS = (Column("output_tokens_per_s", "tokens/s"), Column("ttft_ms_p50", "TTFT p50 (ms)"),
                  Column("ttft_ms_p99", "TTFT p99 (ms)"), Column("itl_ms_p50", "ITL p50 (ms)"))
SLO_COLUMNS = (Column("goodput", "goodput (samples/s)"), Column("slo_met_pct", "SLO met (%)"),
               Column("slo_ok", "SLO ok", numeric=False))
PROBE_COLUMNS = (Column("search_id", "search"), Column("probe", "probe"),
                 Column("target_rate", "offered (req/s)"), Column("rate_met", "rate met", numeric=False))
TAIL_COLUMNS = (Column("cpu_avg_percent", "host CPU (%)"), Column("status", "status", numeric=False))
#: The answers of a capacity search, one row per searched config.
CAPACITY_COLUMNS: tuple[Column, ...] = (
    Column("search_id", "search"), Column("capacity_rate", "capacity (req/s)"),
    Column("capacity_throughput", "throughput at capacity (samples/s)"), Column("capacity_workers", "workers at capacity"),
    Column("latency_ms_p50", "p50 (ms)"), Column("latency_ms_p99", "p99 (ms)"),
    Column("capacity_missed_at", "missed at (req/s)"), Column("capacity_steps", "steps"),
    Column("capacity_probes", "probes"), Column("n_models", "n_models"), Column("batch_size", "batch size"),
    Column("model_name", "model", numeric=False), Column("error", "note", numeric=False),
)  # fmt: skip

#: A caption for each of raybench.plot's figures (which apply is ``plots.plots_for``'s choice).
CAPTIONS = {
    "latency_cdf": "Latency CDF of each config", "latency_over_time": "Latency over time, binned",
    "scaling": "Throughput against model copies", "latency_vs_throughput": "Latency against throughput",
    "token_latency_cdf": "Time to first token and inter-token latency CDFs",
    "tokens_vs_concurrency": "Tokens/s and TTFT against concurrency",
    "capacity_curve": "Latency against offered load", "pareto": "Pareto front",
}
#: What the page says in place of the plots when matplotlib is missing.
NO_MATPLOTLIB = "Plots need matplotlib, which is not installed: pip install 'raybench[plot]' (the plot extra)."


def write_html(results: Results, filename: str | os.PathLike[str], *, overwrite: bool = False,
               plots: object | None = None, dpi: float = 100) -> str:
    """Write a run as one self-contained HTML page (atomically): tables, metadata, warnings,
    plots embedded as PNG data URIs, and the per-node and per-copy breakdown.

    Args:
        results: From ``benchmark(..., return_timers=True)`` or :func:`raybench.read_results`.
        filename: The ``.html`` file to write.
        overwrite: Replace ``filename`` if it exists (else it is refused before anything is drawn).
        plots: What draws the figures: :mod:`raybench.plot` (``raybench.write_html`` passes it),
            or any object with its functions' names. None leaves the plots out, saying so.
        dpi: Dots per inch of the embedded PNGs (a figure is 10 x 5 inches).

    Returns:
        The path written.

    Raises:
        ConfigError: ``results`` is not a Results, ``dpi`` is not a positive number, or
            ``filename`` exists and ``overwrite`` is False; nothing is written.
        OSError: the file cannot be written.
    """
    results = Results.check(results)
    _check_dpi(dpi)
    path = os.fspath(filename)
    with atomic_write_path(path, overwrite=overwrite) as tmp:
        text = render_html(results, plots=plots, dpi=dpi)
        with open(tmp, "w", encoding="utf-8") as file:
            file.write(text)
    return path


def render_html(results: Results, *, plots: object | None = None, dpi: float = 100) -> str:
    """The page :func:`write_html` writes, as a string (to show in Jupyter with ``IPython.display.HTML``).

    Raises:
        ConfigError: ``results`` is not a Results or ``dpi`` is not a positive number.
    """
    results = Results.check(results)
    _check_dpi(dpi)
    reports = get_reports(results)
    names = list(dict.fromkeys(config.model_name for config in results.configs))
    title = f"raybench report: {', '.join(names)}" if names else "raybench report"
    capacity = get_capacity_reports(results) if any(c.search is not None for c in results.configs) else []
    sections = [("reports", "Reports", _reports_section(reports, capacity))]
    sections.append(("run", "Run", _metadata_table(results, reports)))
    sections.append(("plots", "Plots", _plots_section(results, plots, dpi)))
    sections.append(("breakdown", "Per node and per copy", breakdown_section(results)))
    sections.append(("telemetry", "Telemetry", telemetry_section(results)))
    nav = "".join(f'<a href="#{ident}">{esc(heading)}</a>' for ident, heading, _ in sections)
    body = [f"<h1>{esc(title)}</h1>", f'<p class="lead">{esc(_lead(results, reports))}</p>',
            f'<nav><a href="#warnings">Warnings</a>{nav}</nav>', _warnings_box(results, reports)]
    body += [f'<section id="{ident}"><h2>{esc(heading)}</h2>{html}</section>' for ident, heading, html in sections]
    body.append(f"<footer>Written by raybench {esc(__version__)} at {esc(iso_utc(time.time_ns()))}. "
                "Self-contained: this page loads nothing from the network.</footer>")
    return page(title, "\n".join(body))


def _check_dpi(dpi: object) -> None:
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not (math.isfinite(dpi) and dpi > 0):
        raise ConfigError(f"dpi must be a positive number of dots per inch (got {dpi!r})")


def _lead(results: Results, reports: Sequence[Mapping[str, Any]]) -> str:
    """One line under the title: when, where, how many configs and how many of them failed."""
    meta = results.metadata
    failed = sum(1 for r in reports if r.get("status") != STATUS_FINISHED)
    parts = [f"{len(reports)} config{'s' if len(reports) != 1 else ''}" + (f", {failed} failed" if failed else "")]
    if meta.get("started_at"):
        parts.append(f"started {meta['started_at']}")
    if meta.get("host"):
        parts.append(f"on {meta['host']}")
    return " · ".join(parts)


def _label(report: Mapping[str, Any]) -> str:
    """A config in a sentence: ``#3 (n_models=2, workers_per_model=1, batch_size=8)``."""
    keys = ("n_models", "workers_per_model", "batch_size") + (("pipeline_size",) if report.get("pipeline_size", 1) != 1
                                                              else ())
    return f"#{report.get('config_id')} ({', '.join(f'{k}={report.get(k)}' for k in keys)})"


def _best_first(reports: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """By throughput, highest first; configs without one (failed) last, in run order."""
    def throughput(report: Mapping[str, Any]) -> float | None:
        value = report.get("throughput_avg")
        return value if isinstance(value, (int, float)) and not math.isnan(value) else None

    measured = [r for r in reports if throughput(r) is not None]
    measured.sort(key=lambda r: float(r["throughput_avg"]), reverse=True)  # stable: ties keep run order
    return measured + [r for r in reports if throughput(r) is None]


def _reports_section(reports: Sequence[Mapping[str, Any]], capacity: Sequence[Mapping[str, Any]]) -> str:
    """The capacity answers (a search), then every config's report, best first."""
    columns = list(REPORT_COLUMNS)
    if any(r.get("ttft_ms_p50") is not None for r in reports):
        columns[2:2] = STREAM_COLUMNS
    if any(r.get("slo_met_pct") is not None or r.get("slo_ok") is not None for r in reports):
        columns += SLO_COLUMNS
    if any(r.get("probe") is not None for r in reports):
        columns += PROBE_COLUMNS
    if any(r.get("converged") is not None for r in reports):
        columns.append(Column("converged", "converged", numeric=False))
    columns += TAIL_COLUMNS
    columns = with_values(columns, reports, keep=REPORT_COLUMNS)  # no goodput column of a search without one
    parts = []
    if capacity:
        parts.append("<h3>Capacity</h3>")
        parts.append(table(capacity, CAPACITY_COLUMNS, table_id="capacity",
                           caption="The highest load each search found to meet the SLO."))
        parts.append("<h3>Every config (probes included)</h3>")
    rows = _best_first(reports)
    parts.append(table(rows, columns, table_id="reports", bad=[r.get("status") != STATUS_FINISHED for r in rows],
                       caption="One row per config, highest throughput first; latency over every ok inference."))
    return "".join(parts)


def _metadata_table(results: Results, reports: Sequence[Mapping[str, Any]]) -> str:
    """What the run recorded about itself, as label/value rows (absent ones left out)."""
    meta = results.metadata
    git = meta.get("git") or {}
    commit = git.get("commit")
    commit_text = (commit + (" (uncommitted changes)" if git.get("dirty") else "")) if commit else "not recorded"
    versions = dict(meta.get("versions") or {})
    python = meta.get("python") or {}
    loads = [r["cpu_avg_percent"] for r in reports if isinstance(r.get("cpu_avg_percent"), (int, float))]
    cpu = (f"{sum(loads) / len(loads):.0f} % average over configs ({min(loads):.0f}–{max(loads):.0f} %)"
           if loads else "not measured")
    nodes = [f"{n.get('node_id')}: " + ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}"
                                                  for k, v in (n.get("resources") or {}).items())
             for n in meta.get("cluster") or [] if isinstance(n, Mapping)]
    total = sum(r.get("total_infs") or 0 for r in reports)
    pairs: list[tuple[str, object]] = [
        ("started", meta.get("started_at")), ("host", meta.get("host")), ("platform", meta.get("platform")),
        ("instance type", meta.get("instance_type")), ("device type", meta.get("device_type")),
        ("nodes", meta.get("n_nodes")), ("cluster", "; ".join(nodes)), ("commit", commit_text),
        ("raybench", versions.pop("raybench", None)),
        ("other versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
        ("python", " ".join(str(python[k]) for k in ("implementation", "version") if python.get(k))),
        ("host CPU load", cpu), ("configs", len(results.configs)), ("inferences measured", f"{total:,}"),
        ("cost per hour", meta.get("cost_per_hour")), ("SLO", _json(meta.get("slo"))),
        ("capacity search", _json(meta.get("search"))), ("interrupted", "yes" if meta.get("interrupted") else None),
        ("Neuron hardware", _json(meta.get("neuron_hardware"))),
    ]  # fmt: skip
    return key_values(pairs, table_id="metadata")


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def warnings_of(results: Results, reports: Sequence[Mapping[str, Any]]) -> list[str]:
    """What a reader must know before trusting the numbers: an interrupted run, failed configs
    (their one-line error), failed inferences, configs that did not converge, a saturated host."""
    out = []
    if results.metadata.get("interrupted"):
        out.append("The run was interrupted: configs it did not reach are missing.")
    for r in reports:
        if r.get("status") != STATUS_FINISHED:
            out.append(f"Config {_label(r)} {r.get('status')}: {one_line(r.get('error')) or 'no error recorded'}")
        elif r.get("n_errors"):
            out.append(f"Config {_label(r)}: {r['n_errors']:,} inferences raised; only ok ones count in its figures.")
    for r in reports:
        if r.get("converged") is False:
            why = one_line(r.get("error")) or "its windows still disagreed when max_duration ran out"
            out.append(f"Config {_label(r)} did not converge ({why}): its figures may still have been moving.")
    saturated = saturation_warning("this run", reports)
    if saturated is not None:
        text = saturated.removeprefix("warning: ")  # the box already says these are warnings
        out.append(text[:1].upper() + text[1:])
    return out


def _warnings_box(results: Results, reports: Sequence[Mapping[str, Any]]) -> str:
    found = warnings_of(results, reports)
    if not found:
        return ('<div class="ok" id="warnings">No warnings: every config finished, none had failed inferences, '
                "and the host was not saturated.</div>")
    items = "".join(f"<li>{esc(text)}</li>" for text in found)
    return f'<div class="warnings" id="warnings"><h2>Warnings ({len(found)})</h2><ul>{items}</ul></div>'


def _plots_section(results: Results, plots: object | None, dpi: float) -> str:
    """Each figure that applies to this run, drawn by ``plots`` and embedded as a PNG."""
    if plots is None:
        return '<p class="note">Plots were not drawn (no plot module given: raybench.write_html draws them).</p>'
    parts = []
    for _, draw in plots.plots_for(results):  # type: ignore[attr-defined]
        name = draw.__name__
        caption = CAPTIONS.get(name, name.replace("_", " "))
        try:
            figure = draw(results)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=dpi)
        except MissingDependencyError:
            return f'<p class="note" id="no-plots">{esc(NO_MATPLOTLIB)}</p>'
        except Exception as err:  # one figure that cannot be drawn must not cost the page
            logger.warning("html report: %s could not be drawn", name, exc_info=True)
            parts.append(f'<p class="note">{esc(name)} could not be drawn: {esc(one_line(str(err)))}</p>')
            continue
        parts.append(image(buffer.getvalue(), alt=f"{name}: {caption}", caption=caption))
    return "".join(parts)
