"""``raybench run``: benchmark one model from the command line and write its results."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

import raybench.cli.args as _cli_args
import raybench.plot as plot  # matplotlib itself is imported on the first plot only
from raybench.cli.flags import API_DESTS
from raybench.cli.format import SORT_HELP, emit, sort_rows
from raybench.cli.history import make_run_folder, point_latest
from raybench.cli.model import build_inputs, resolve_model
from raybench.core.errors import ConfigError
from raybench.core.schema import STATUS_FINISHED
from raybench.report.output import json_ready, write_csv, write_json
from raybench.report.results import get_capacity_reports, get_reports, write_results

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEVICES: tuple[str, ...] = ("auto", "neuron", "gpu", "cpu")
#: Suffixes of the files ``--out`` writes, after ``<model_name>.results``.
OUT_SUFFIXES: dict[str, str] = {"csv": ".csv", "json": ".json", "parquet": ".parquet"}

_DESCRIPTION = """\
Benchmark MODEL with raybench's sweep and print the report table. With --out DIR, each run gets
its own folder DIR/<model_name>-<UTC time>/ holding <model_name>.results.csv, .json (the reports)
and .parquet (raw timers, for report/compare/plot), with --plots its plots, and DIR/latest points
at the newest run: "raybench compare DIR --against latest" compares it with the run before.

MODEL is one of:
  model.pt              a TorchScript file (.pt, .pth, .ts, .torchscript)      -> raybench.torch
  saved_model_dir/      a TF SavedModel directory, or a .keras/.h5/.hdf5 file    -> raybench.tensorflow
  index.json            a model index (raybench/NeuronPerf compile); torch or TF told from its files
  llm_dir/              a transformers causal LM (save_pretrained: config.json) -> raybench.llm,
                        each call streaming --max-new-tokens tokens (TTFT, ITL, tokens/s)
  package.module:Class  a class importable from the working directory; an nn.Module subclass
                        -> raybench.torch, any other class (built with no arguments and called
                        as model(*inputs)) -> raybench.cpu. A class from a local file is shipped
                        to the Ray workers by value. A class whose call returns a generator
                        streams: its chunks are timed as tokens.

Inputs: --input-shape once per model input (random values, seeded by --seed), or --input once
per model input (.npy files, used as they are). Torch models get torch tensors, others numpy.
"""

_CAPACITY_DESCRIPTION = """\
Find, for each config of the sweep, the highest open-loop rate whose latency percentiles meet
--slo (requests/s for all the config's copies): a closed loop first, then open-loop probes from
half its rate, doubling, then bisecting to --search-tolerance. Each probe is printed as it runs;
the table then shows every probe and each config's capacity. With --out, also
<model_name>.capacity.csv and .json (one row per config). Same as run --search rate.
"""

_CAPACITY_EPILOG = """\
example:
  raybench capacity model.pt --input-shape 1,256 --slo latency_ms_p99=50 --n-models 1,2 --duration 5
"""

_EPILOG = """\
exit status:
  0    every config finished
  1    some config did not finish (status error or timeout; the causes are printed on stderr),
       a --stability config did not converge (unless --allow-unstable), a capacity search found
       no load that meets --slo, or the first configs all failed alike (unless --keep-going)
  2    bad usage or arguments, a missing dependency, or a config the cluster cannot place
  130  interrupted (Ctrl-C): the configs that finished are printed and written to --out

example:
  raybench run model.pt --input-shape 8,256 --n-models 1,max --workers 1,2 --duration 10 --out results
"""


def add_parser(commands: Any) -> None:
    """Add the ``run`` and ``capacity`` sub-commands to ``commands`` (argparse's sub-parsers)."""
    run = commands.add_parser(
        "run", help="benchmark a model file, a model index or a Python class", description=_DESCRIPTION,
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
    )
    _add_arguments(run, search=None)
    capacity = commands.add_parser(
        "capacity", help="find each config's highest load that meets an SLO (run --search rate)",
        description=_CAPACITY_DESCRIPTION + "\n" + _DESCRIPTION, epilog=_CAPACITY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
    )
    _add_arguments(capacity, search="rate")


def _add_arguments(run: argparse.ArgumentParser, search: str | None) -> None:
    """The arguments of ``run``, and of ``capacity`` (the same, searching by default)."""
    run.add_argument("model", metavar="MODEL", help="what to benchmark (see above)")
    run.add_argument("--config", metavar="FILE.toml",
                     help="read the options from a TOML file (keys: the long options, e.g. n_models = [1, 2], "
                     "duration = 10, input_shape = [[1, 256]]); flags given here override it")
    run.set_defaults(parser=run)
    inputs = run.add_argument_group("inputs (give --input-shape or --input)")
    inputs.add_argument("-s", "--input-shape", action="append", type=_cli_args.shape, metavar="SHAPE",
                        help="shape of one model input, e.g. 1,3,224,224; repeat once per input. The first "
                        "dimension is the batch: --batch-sizes replaces it in every input")
    inputs.add_argument("--dtype", action="append", metavar="DTYPE",
                        help="numpy dtype of the random inputs, once for all or once per --input-shape "
                        "(default float32; bfloat16 for torch models). Floats are standard normal, ints "
                        "and bools 0 or 1")
    inputs.add_argument("-i", "--input", action="append", metavar="FILE.npy",
                        help="a .npy file holding one model input; repeat once per input")
    inputs.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    sweep = run.add_argument_group("sweep (comma-separated lists)")
    sweep.add_argument("-b", "--batch-sizes", type=_cli_args.positive_ints, metavar="LIST",
                       help="samples per call (default: the first dimension of the first input); with a "
                       "model index, only its artifacts of these batch sizes run")
    sweep.add_argument("-n", "--n-models", type=_cli_args.counts_or_max, metavar="LIST",
                       help="model copies: ints or max (default 1,max)")
    sweep.add_argument("-w", "--workers", type=_cli_args.positive_ints, metavar="LIST",
                       help="concurrent callers per copy, workers_per_model (default 1,2; 1,p-1 for pipeline size p)")
    sweep.add_argument("--pipeline-sizes", type=_cli_args.positive_ints, metavar="LIST",
                       help="NeuronCores per copy (default 1)")
    sweep.add_argument("--performance-levels", type=_cli_args.levels, metavar="LIST",
                       help="compiler performance levels 0-3 to keep from a model index")
    sweep.add_argument("--cast-modes", type=_cli_args.names, metavar="LIST",
                       help="NeuronPerf cast modes to sweep, recorded as each config's cast_mode (e.g. fp32,bf16)")
    sweep.add_argument("-d", "--duration", type=_cli_args.positive_float, metavar="SECONDS",
                       help="seconds of measurement per config, after load and warmup (default 60)")
    sweep.add_argument("--warmup", type=_warmup, metavar="N|TIME",
                       help="before measuring, each worker warms up for N inferences, or for a time such "
                       "as 2s or 500ms (default 1)")
    _add_streaming_arguments(run)
    _add_search_arguments(run, search)
    load = run.add_argument_group("load, stopping and timeouts")
    load.add_argument("--arrival", choices=("closed", "constant", "poisson"),
                      help="closed loop (default: call again when a call returns) or open-loop sends at --rate")
    load.add_argument("--rate", type=_cli_args.positive_float, metavar="PER_S",
                      help="open-loop sends per second, per copy (or per config with --rate-per config)")
    load.add_argument("--rate-per", choices=("copy", "config"), help="what --rate is for (default copy)")
    load.add_argument("--min-infs", type=int, metavar="N",
                      help="keep measuring past --duration until N successful inferences")
    load.add_argument("--stability", type=_cli_args.positive_float, metavar="FRACTION",
                      help="end a config once its last three windows agree within FRACTION (0.1 = 10 %%) "
                      "on throughput and p50")
    load.add_argument("--allow-unstable", action="store_true",
                      help="exit 0 even when a --stability config did not converge (by default: exit status 1)")
    load.add_argument("--max-duration", type=_cli_args.positive_float, metavar="SECONDS",
                      help="bound for --min-infs / --stability (default 10 x --duration)")
    load.add_argument("--stability-window", type=_cli_args.positive_float, metavar="SECONDS",
                      help="seconds per stability window (default 1)")
    load.add_argument("--load-timeout", type=_cli_args.positive_float, metavar="SECONDS",
                      help="fail a config whose copies take longer to load the model (default 300)")
    load.add_argument("--keep-going", action="store_true",
                      help="run every config even when the first ones all fail the same way before measuring "
                      "(by default the sweep then stops with that error, exit status 1)")
    load.add_argument("--warmup-timeout", type=_cli_args.positive_float, metavar="SECONDS",
                      help="fail a config whose warmup takes longer, e.g. a first call that never returns "
                      "(default 60, plus --warmup when it is a time)")
    _add_where_and_output_arguments(run)
    run.set_defaults(func=run_command)


def _add_where_and_output_arguments(run: argparse.ArgumentParser) -> None:
    where = run.add_argument_group("where")
    where.add_argument("--device", choices=DEVICES,
                       help="device of each copy (default auto: neuron if the cluster has neuron_cores, "
                       "else gpu if it has GPUs, else cpu; a plain class defaults to cpu)")
    where.add_argument("--address", help="Ray cluster to use (default: RAY_ADDRESS, else an embedded local Ray)")
    out = run.add_argument_group("output")
    out.add_argument("--model-name", help="name in the reports and the file names (default: the class name, "
                     "the index's model_name, or the file name up to its first dot)")
    out.add_argument("--cost-per-hour", type=_cli_args.non_negative_float, metavar="USD",
                     help="instance price per hour, for cost_per_1m_inf")
    out.add_argument("--verbosity", type=int, default=1, choices=(0, 1, 2),
                     help="stderr logging: 0 warnings, 1 progress (default), 2 debug and Ray's logs")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress and no log lines: --verbosity 0")
    out.add_argument("--json", action="store_true",
                     help="print a JSON summary on stdout instead of the table: the reports (and a search's "
                     "capacities), the files written and whether the run was interrupted")
    out.add_argument("-o", "--out", metavar="DIR", help="keep this run in its own folder DIR/<model_name>-<UTC time>/ "
                     "(<model_name>.results.csv, .json, .parquet) and point DIR/latest at it")
    out.add_argument("--plots", action="store_true", help="also draw the plots into the run folder's plots/ "
                     "(needs --out and matplotlib)")
    out.add_argument("--html", action="store_true", help="also write <model_name>.report.html into the run folder: "
                     "one self-contained page with the table, metadata, warnings, plots and per-copy figures")
    out.add_argument("--sort-by", default="best", metavar="COL", help=SORT_HELP)
    out.add_argument("--reverse", action="store_true", help="worst first")


def _add_streaming_arguments(run: argparse.ArgumentParser) -> None:
    stream = run.add_argument_group("streaming and SLOs")
    stream.add_argument("--streaming", action=argparse.BooleanOptionalAction, default=None,
                        help="the model's call returns a stream of tokens (default: found out at warmup)")
    stream.add_argument("--max-new-tokens", type=_cli_args.positive_int, metavar="N",
                        help="tokens each call of a transformers model generates (default 32)")
    stream.add_argument("--slo", type=_cli_args.slo, metavar="NAME=MS,...",
                        help="judge each config by an SLO: per-request thresholds latency_ms, ttft_ms, tpot_ms "
                        "(-> goodput, slo_met_pct) and percentile limits such as latency_ms_p99 (-> slo_ok), "
                        "e.g. ttft_ms=200,itl_ms_p99=50")


def _add_search_arguments(run: argparse.ArgumentParser, search: str | None) -> None:
    group = run.add_argument_group("capacity search (needs --slo with a percentile limit)")
    group.add_argument("--search", choices=("rate", "concurrency"), default=search,
                       help="per config, find the highest open-loop rate (rate) or the most --workers "
                       f"(concurrency) that meets --slo (default {search or 'none: measure each config once'})")
    group.add_argument("--search-tolerance", type=_cli_args.positive_float, metavar="FRACTION",
                       help="end a search once its highest rate met and lowest missed are within FRACTION "
                       "(default 0.05)")
    group.add_argument("--max-steps", type=_cli_args.positive_int, metavar="N",
                       help="the most loads one config's search tries, the closed loop included (default 12); "
                       "a probe within noise of the SLO is repeated, 2-10 x --duration, in the same step")


def _warmup(text: str) -> int | str:
    """An int counts inferences; anything else (``2s``, ``500ms``) goes to the API as given."""
    try:
        return int(text)
    except ValueError:
        return text


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark keywords the user gave; the others keep the API's defaults."""
    given = {name: getattr(args, dest) for name, dest in API_DESTS.items()}
    return {key: value for key, value in given.items() if value is not None}


def out_paths(run_folder: str, model_name: str, *, search: bool = False) -> dict[str, str]:
    """The files a run writes into its run folder (:func:`raybench.cli.history.make_run_folder`,
    which refuses a model name that could leave it)."""
    paths = {kind: os.path.join(run_folder, f"{model_name}.results{suffix}") for kind, suffix in OUT_SUFFIXES.items()}
    paths["html"] = os.path.join(run_folder, f"{model_name}.report.html")
    if search:  # a capacity search's answers, one row per config, beside its probes
        paths.update({f"capacity {kind}": os.path.join(run_folder, f"{model_name}.capacity.{kind}")
                      for kind in ("csv", "json")})
    return paths


def _write_run(args: argparse.Namespace, paths: dict[str, str], results: Any, reports: list[dict[str, Any]],
               capacity: list[dict[str, Any]]) -> dict[str, str]:
    """Write the run's files into its folder and point ``latest`` at it; return what was written."""
    folder = os.path.dirname(paths["parquet"])
    if not reports:  # nothing finished: no empty folder left behind, latest stays on the last real run
        os.rmdir(folder)
        return {}
    written = {
        "csv": write_csv(reports, paths["csv"]),
        "json": write_json(reports, paths["json"]),
        "parquet": write_results(results, paths["parquet"]),
    }
    if capacity:
        written["capacity csv"] = write_csv(capacity, paths["capacity csv"])
        written["capacity json"] = write_json(capacity, paths["capacity json"])
    if args.html:
        written["html"] = plot.write_html(results, paths["html"])
    if args.plots:
        written["plots"] = os.path.dirname(plot.save_plots(results, os.path.join(folder, "plots"))[0])
    written["latest"] = point_latest(folder)
    return written


def _describe(report: dict[str, Any]) -> str:
    keys = ("n_models", "workers_per_model", "batch_size", "pipeline_size")
    return " ".join(f"{key}={report.get(key)}" for key in keys)


def run_command(args: argparse.Namespace) -> int:
    """Run the sweep; print the table; write --out; return the exit status."""
    target = resolve_model(args.model)
    model_name = args.model_name or target.name
    for flag, wanted in (("--plots", args.plots), ("--html", args.html)):
        if wanted and not args.out:
            raise ConfigError(f"{flag} needs --out (the run folder it writes into)")
    inputs, batch_sizes = build_inputs(target.entry, args.input_shape, args.dtype, args.input,
                                       args.batch_sizes, args.seed)
    benchmark = importlib.import_module(f"raybench.{target.entry}").benchmark
    options = _options(args)
    if args.max_new_tokens is not None:
        if target.entry != "llm":
            raise ConfigError("--max-new-tokens applies to a transformers model directory")
        options["max_new_tokens"] = args.max_new_tokens
    paths = out_paths(make_run_folder(args.out, model_name), model_name,
                      search=args.search is not None) if args.out else {}
    try:  # return_timers: the Parquet file (raw timers) is what report/compare/plot read.
        results = benchmark(target.model, inputs, batch_sizes=batch_sizes, model_name=model_name,
                            verbosity=0 if args.quiet else args.verbosity, return_timers=True, **options)
    except BaseException:
        if paths and not os.listdir(os.path.dirname(paths["parquet"])):
            os.rmdir(os.path.dirname(paths["parquet"]))  # a run that wrote nothing leaves no folder
        raise
    return _report_run(args, model_name, results, paths)


def _report_run(args: argparse.Namespace, model_name: str, results: Any, paths: dict[str, str]) -> int:
    """Print the table, write the run folder, say what failed; return the exit status."""
    interrupts = getattr(args, "interrupts", None)
    if interrupts is not None:
        interrupts.saving()  # from here on Ctrl-C no longer interrupts: what finished gets written
    reports = get_reports(results)
    capacity = get_capacity_reports(results) if args.search is not None else []
    if args.json:
        pass  # printed once the files are written, with their paths
    elif capacity:  # every probe in the order it ran, then each config's answer
        emit(reports, None, "table")
        print()
        emit(sort_rows(capacity, args.sort_by if args.sort_by in capacity[0] else "best", args.reverse), None, "table")
    else:
        emit(sort_rows(reports, args.sort_by, args.reverse), None, "table")
    written = _write_run(args, paths, results, reports, capacity) if paths else {}
    if not args.json:
        for kind, path in written.items():
            print(f"{kind}: {path}")
    if args.json:
        summary = {"model_name": model_name, "reports": reports, "capacity": capacity or None, "files": written,
                   "interrupted": bool(results.metadata.get("interrupted"))}
        print(json.dumps(json_ready(summary), allow_nan=False, indent=1))
    for report in reports:
        if report.get("status") != STATUS_FINISHED:
            print(f"raybench run: config {_describe(report)} {report.get('status')}: {report.get('error')}",
                  file=sys.stderr)
    unstable = [r for r in reports if r.get("converged") is False]
    for report in unstable:
        print(f"raybench run: config {_describe(report)} did not converge: {report.get('error')}"
              f"{'' if args.allow_unstable else ' (--allow-unstable accepts it)'}", file=sys.stderr)
    for answer in capacity:
        if answer.get("capacity_rate") is None:
            print(f"raybench run: config {_describe(answer)}: no capacity found: {answer.get('error')}", file=sys.stderr)
    if results.metadata.get("interrupted"):
        where = f"written to {os.path.dirname(paths['parquet'])}" if written else "nothing written"
        print(f"raybench run: interrupted; {len(reports)} configs finished ({where})", file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = any(r.get("status") != STATUS_FINISHED for r in reports) or any(a.get("capacity_rate") is None
                                                                               for a in capacity)
    failed = failed or bool(unstable and not args.allow_unstable)
    return EXIT_FAILED if failed else EXIT_OK
