"""The ``raybench`` command line (also ``python -m raybench``).

Commands: ``run`` (benchmark a model; ``raybench.cli.run``), ``report`` (a results file's
table, CSV, JSON or Markdown), ``compare`` (two results files, config by config, with
significance), ``plot`` (PNGs), ``index`` (model index files; ``raybench.cli.index``) and
``demo``. Building the parser imports no Ray, torch, TensorFlow or matplotlib (those are
imported when a command needs them); the commands use raybench's public API only.

Exit status: 0 success; 1 the job ran but failed its check (a config did not finish, a
``--fail-on`` rule was broken); 2 bad usage or arguments, unreadable files, a missing
dependency or a config the cluster cannot place (one line on stderr, no traceback); 130
interrupted.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

import raybench.cli.args as _cli_args
import raybench.cli.index as _cli_index
import raybench.cli.run as _cli_run
import raybench.compare as compare
import raybench.plot as plot
from raybench.cli.config_file import read_run_config
from raybench.cli.demo import run_demo
from raybench.cli.flags import as_flags
from raybench.cli.format import FORMATS, SORT_HELP, check_columns, emit, read_reports, read_results_file, sort_rows
from raybench.cli.run import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from raybench.cli.signals import CommandInterrupts
from raybench.cli.history import previous_run
from raybench.core.errors import ConfigError, RaybenchError, SweepStopped


def _demo(args: argparse.Namespace) -> int:
    paths = run_demo(out_dir=args.out, duration=args.duration, verbosity=args.verbosity)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    latest = paths["latest"]
    steps = (  # each command on a line of its own, what it is for below it: fits 80 columns
        (f"raybench report {latest} --format markdown", "the table again, for a PR"),
        (f"raybench report {latest} --format html -o report.html", "one page: table, plots, per-copy figures"),
        (f"raybench compare {args.out} --against latest", "after a second demo: what changed"),
        ("raybench run model.pt -s 1,3,224,224 -n 1,max -d 30 -o results", "your own TorchScript model"),
        ("raybench capacity model.pt -s 1,3,224,224 --slo latency_ms_p99=50", "its capacity at an SLO"),
    )
    print("\nnext:")
    for command, what in steps:
        print(f"  {command}\n      {what}")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    if args.format == "html":  # one page from the raw timers: plots and breakdowns need them
        if not args.out:
            raise ConfigError("--format html writes a file: name it with --out FILE")
        results = read_results_file(args.results, "RESULTS")
        print(plot.write_html(results, args.out, overwrite=args.overwrite))
        return EXIT_OK
    if args.out:
        raise ConfigError("--out applies to --format html (the other formats print to stdout)")
    reports = read_reports(args.results, "RESULTS")
    if args.cols:
        check_columns("--cols", args.cols, reports)
    emit(sort_rows(reports, args.sort_by, args.reverse, args.cols), args.cols, args.format)
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    rules = compare.parse_fail_on(args.fail_on) if args.fail_on else []  # a bad spec fails before any work
    if len(args.runs) != (1 if args.against else 2):
        raise ConfigError("compare takes BASE and NEW, or NEW and --against (got "
                          f"{len(args.runs)} runs{' and --against' if args.against else ''})")
    base_path = previous_run(args.runs[0], args.against) if args.against else args.runs[0]
    if args.against:  # say which run was picked: stdout stays the table or the JSON
        print(f"raybench compare: against {base_path}", file=sys.stderr)
    base, new = read_results_file(base_path, "BASE"), read_results_file(args.runs[-1], "NEW")
    rows = compare.compare_results(base, new, confidence=args.confidence, seed=args.seed, match=args.match)
    if args.format == "json":
        emit(rows, None, "json")
    else:
        print(compare.format_comparison(rows, base, new))
    broken = compare.failed_rules(rows, rules)
    for message in broken:
        print(f"raybench compare: {message}", file=sys.stderr)
    return EXIT_FAILED if broken else EXIT_OK


def _plot(args: argparse.Namespace) -> int:
    for path in plot.save_plots(read_results_file(args.results, "RESULTS"), args.out, overwrite=args.overwrite,
                                dpi=args.dpi):
        print(path)
    return EXIT_OK


def _add_demo(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = commands.add_parser(
        "demo", allow_abbrev=False,
        help="benchmark a small bundled torch model on a local Ray (CPU) and write the results",
        description="The default sweep (n_models [1, MAX], workers_per_model [1, 2]) of a small "
        "TorchScript MLP on an embedded local Ray, CPU only. Prints the report table and writes "
        "CSV, JSON and Parquet into --out, replacing the previous demo's files.",
    )
    demo.add_argument("--out", default="results", help="folder for the results (default: results)")
    demo.add_argument("--duration", type=_cli_args.positive_float, default=5.0,
                      help="seconds of measurement per config (default: 5)")
    demo.add_argument("--verbosity", type=int, default=1, choices=(0, 1, 2), help="0 quiet, 1 info, 2 debug")
    demo.set_defaults(func=_demo)


def _add_report(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = commands.add_parser(
        "report", help="print the reports of a results file as a table, CSV, JSON or Markdown", allow_abbrev=False,
        description="Print one report per config of RESULTS: a Parquet results file (run --out, "
        "write_results; reports are recomputed from its raw timers) or a reports JSON file (write_json). "
        "CSV and JSON are exactly what write_csv and write_json write.",
    )
    report.add_argument("results", metavar="RESULTS", help="a .parquet results file or a reports .json file")
    report.add_argument("--format", choices=(*FORMATS, "html"), default="table",
                        help="table (default), csv, json, markdown (a GitHub table) or html (one self-contained "
                        "page with the plots, written to --out)")
    report.add_argument("-o", "--out", metavar="FILE", help="the .html file --format html writes")
    report.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")
    report.add_argument("--cols", type=_cli_args.names, metavar="COLS",
                        help="comma-separated columns (default: PRINT_COLS for table and markdown, CSV_COLS "
                        "for csv, every key for json)")
    report.add_argument("--sort-by", default="best", metavar="COL",
                        help=SORT_HELP)
    report.add_argument("--reverse", action="store_true", help="worst first")
    report.set_defaults(func=_report)


def _add_compare(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    compare = commands.add_parser(
        "compare", help="compare two results files config by config, with significance", allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="For every config of BASE and NEW (matched on model_name, batch_size, n_models,\n"
        "workers_per_model, pipeline_size): p50, p99 and throughput in each, their change in percent,\n"
        "and whether the change is significant: its confidence interval, from a block bootstrap of\n"
        "the raw timers (time blocks of ~1 s), excludes 0. The lines above the table say when and\n"
        "where each run ran and warn of a saturated host; the last line states the method.\n"
        "Two capacity searches (raybench capacity) compare on each config's capacity instead.",
        epilog="exit status:\n  0  no --fail-on rule broken\n  1  a --fail-on rule broken (each on stderr)\n"
        "  2  bad usage, a bad --fail-on spec or an unreadable file\n\n"
        "example (CI):\n  raybench compare base.results.parquet new.results.parquet --fail-on 'p99:5%,throughput:-5%'\n"
        "  raybench run model.pt -s 1,128 --out history && raybench compare history --against latest",
    )
    compare.add_argument("runs", nargs="+", metavar="RUN",
                         help="BASE NEW, or NEW alone with --against: each a .parquet results file, a run "
                         "folder (run --out) or a history folder (its latest run)")
    compare.add_argument("--against", metavar="RUN",
                         help="the baseline for NEW: latest (the run before NEW in its history folder, as "
                         "pytest-benchmark's autosave), a history folder (its newest other run of the same model), "
                         "a run folder or a results file")
    compare.add_argument("--fail-on", metavar="SPEC",
                         help="comma-separated metric:N%% rules, metric one of p50, p90, p95, p99, throughput "
                         "(and, for streaming runs, ttft_p50, ttft_p99, itl_p50, itl_p99, tokens_per_s; for "
                         "capacity searches, capacity: significant when the searches' brackets do not overlap); "
                         "e.g. 'p99:5%%,throughput:-5%%' fails when p99 rises by more than 5%% or throughput "
                         "falls by more than 5%%, and that change is significant; a config that finished in "
                         "BASE but not in NEW (or is missing there) breaks every rule")
    compare.add_argument("--match", type=_cli_args.names, metavar="KEYS",
                         help="pair configs on these keys only, comma-separated, among model_name, batch_size, "
                         "n_models, workers_per_model, pipeline_size (default all): e.g. "
                         "batch_size,n_models,workers_per_model,pipeline_size compares two models")
    compare.add_argument("--confidence", type=_cli_args.probability, default=0.95,
                         help="confidence level of the intervals (default 0.95)")
    compare.add_argument("--seed", type=int, default=0, help="seed of the resampling (default 0)")
    compare.add_argument("--format", choices=("table", "json"), default="table",
                         help="table (default) or json (every field of every row)")
    compare.set_defaults(func=_compare)


def _add_plot(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    plot = commands.add_parser(
        "plot", help="draw PNG charts of a results file", allow_abbrev=False,
        description="Draw PNG charts of a Parquet results file into --out: latency_cdf.png, "
        "latency_over_time.png, scaling.png and latency_vs_throughput.png (needs matplotlib: "
        "pip install 'raybench[plot]'). Prints the path of every file written.",
    )
    plot.add_argument("results", metavar="RESULTS", help="a .parquet results file")
    plot.add_argument("--out", metavar="DIR", required=True, help="directory for the PNG files")
    plot.add_argument("--overwrite", action="store_true", help="replace PNG files that exist")
    plot.add_argument("--dpi", type=_cli_args.positive_float, default=100.0,
                      help="dots per inch; a chart is 10 x 5 inches, latency_over_time taller with more configs (default 100)")
    plot.set_defaults(func=_plot)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="raybench", allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Benchmark model inference across model copies on Ray (NeuronPerf's API).",
        epilog="exit status: 0 success; 1 a config did not finish or a --fail-on rule broke; "
        "2 bad usage or arguments;\n130 interrupted. 'raybench COMMAND --help' describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"raybench {metadata.version('raybench')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _cli_run.add_parser(commands)
    _add_report(commands)
    _add_compare(commands)
    _add_plot(commands)
    _cli_index.add_parser(commands)
    _add_demo(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (see the module docstring).

    Errors raybench raises on purpose (``RaybenchError``) and file errors are printed as one
    line on stderr, with status 2; anything else is a bug and keeps its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    name = args.command if args.command != "index" else f"index {args.index_command}"
    if getattr(args, "config", None):  # the file's options, then the command line's over them
        try:
            args.parser.set_defaults(**read_run_config(args.config, args.parser))
        except RaybenchError as err:
            print(f"raybench {name}: error: {err}", file=sys.stderr)
            return EXIT_USAGE
        args = parser.parse_args(argv)
    # Ctrl-C: the first interrupts, the second waits for what finished to be saved, the third quits.
    args.interrupts = CommandInterrupts(keep=argv is None)  # argv None: this process is the command
    try:
        with args.interrupts:
            try:
                return int(args.func(args))
            except SweepStopped as err:  # the job ran, and every config it ran failed the same way
                print(f"raybench {name}: error: {SweepStopped(err.error, err.n_configs, how_to_go_on='--keep-going')}",
                      file=sys.stderr)
                return EXIT_FAILED
            except (RaybenchError, OSError) as err:  # said with the command line's flag names
                print(f"raybench {name}: error: {as_flags(str(err)) if isinstance(err, RaybenchError) else err}",
                      file=sys.stderr)
                return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"raybench {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
