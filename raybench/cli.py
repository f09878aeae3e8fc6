"""The ``raybench`` command line (also ``python -m raybench``)."""

from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> int:
    from raybench._demo import run_demo

    paths = run_demo(out_dir=args.out, duration=args.duration, verbosity=args.verbosity)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    import raybench

    reports = raybench.get_reports(raybench.read_results(args.results))
    raybench.print_reports(reports)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="raybench",
        description="Benchmark model inference across model copies on Ray (NeuronPerf's API).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="benchmark a small bundled torch model on a local Ray (CPU) and write the results",
        description="The default sweep (n_models [1, MAX], workers_per_model [1, 2]) of a small "
        "TorchScript MLP on an embedded local Ray, CPU only. Prints the report table and writes "
        "CSV, JSON and Parquet into --out.",
    )
    demo.add_argument("--out", default="results", help="folder for the results (default: results)")
    demo.add_argument("--duration", type=float, default=5.0, help="seconds of measurement per config (default: 5)")
    demo.add_argument("--verbosity", type=int, default=1, choices=(0, 1, 2), help="0 quiet, 1 info, 2 debug")
    demo.set_defaults(func=_demo)
    report = commands.add_parser(
        "report", help="print the report table of a results file",
        description="Print the report table computed from a Parquet results file (write_results).",
    )
    report.add_argument("results", help="a .parquet file written by raybench")
    report.set_defaults(func=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
