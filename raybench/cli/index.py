"""``raybench index``: list, filter, copy, move and delete a model index (``raybench.model_index``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import raybench.cli.args as _cli_args
import raybench.model_index as model_index
from raybench.cli.format import FORMATS, emit
from raybench.core.errors import ConfigError

COLUMNS, STATUSES = model_index.CONFIG_KEYS, model_index.STATUSES
MODELS_DIR_HELP = ("the directory the listed model files must lie in (default: INDEX's own directory); "
                   "an entry outside it is refused before anything is touched")


def add_parser(commands: Any) -> None:
    """Add ``index`` and its sub-commands to ``commands`` (argparse's sub-parsers)."""
    index = commands.add_parser(
        "index", help="list, filter, copy, move or delete a model index",
        description="Work with a model index: the JSON file (NeuronPerf's format) that compile writes, "
        "listing one compiled model file per batch size, pipeline size and performance level.",
        allow_abbrev=False,
    )
    actions = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="print the index's entries", allow_abbrev=False,
                                 description="Print one row per entry of INDEX: " + ", ".join(COLUMNS) + ".")
    listing.add_argument("index", metavar="INDEX", help="a model index .json file")
    listing.add_argument("--format", choices=FORMATS, default="table",
                         help="table (default), csv, json (the entries) or markdown")
    listing.set_defaults(func=_list)

    keep = actions.add_parser(
        "filter", help="keep the entries that match", allow_abbrev=False,
        description="Keep the entries of INDEX matching every option given (a comma-separated list "
        "matches any of its values); print them, or write them as a new index with --out. Model "
        "file names are kept as written.",
    )
    keep.add_argument("index", metavar="INDEX", help="a model index .json file")
    keep.add_argument("--batch-sizes", type=_cli_args.positive_ints, metavar="LIST", help="e.g. 1,8")
    keep.add_argument("--pipeline-sizes", type=_cli_args.positive_ints, metavar="LIST", help="e.g. 1,2")
    keep.add_argument("--performance-levels", type=_cli_args.levels, metavar="LIST", help="e.g. 2,3")
    keep.add_argument("--status", choices=STATUSES, help="finished, or error for failed compiles")
    keep.add_argument("--out", metavar="NEW_INDEX", help="write the filtered index here instead of printing it")
    keep.add_argument("--overwrite", action="store_true", help="replace NEW_INDEX if it exists")
    keep.add_argument("--format", choices=FORMATS, default="table", help="how to print without --out (default table)")
    keep.set_defaults(func=_filter)

    for name, verb, func in (("copy", "Copy", _copy), ("move", "Move", _move)):
        action = actions.add_parser(
            name, help=f"{name} the model files and the index into a directory", allow_abbrev=False,
            description=f"{verb} every model file INDEX lists into DEST_DIR (created if missing) and write "
            "an index pointing at them" + (", then remove INDEX" if name == "move" else "") + ". Nothing "
            "is touched when a finished entry's file is missing or a destination file exists.",
        )
        action.add_argument("index", metavar="INDEX", help="a model index .json file")
        action.add_argument("dest_dir", metavar="DEST_DIR", help="directory for the model files")
        action.add_argument("--new-index", metavar="PATH",
                            help="the index to write (default: DEST_DIR/<INDEX's file name>)")
        action.add_argument("--overwrite", action="store_true", help="replace the new index file if it exists")
        action.add_argument("--models-dir", metavar="DIR", help=MODELS_DIR_HELP)
        action.set_defaults(func=func)

    delete = actions.add_parser(
        "delete", help="delete the model files and the index", allow_abbrev=False,
        description="Remove every model file or directory INDEX lists, then INDEX itself. Only files "
        "and compiled-model directories inside INDEX's own directory (or --models-dir) are touched: any "
        "other entry refuses the whole command before anything is removed. Lists the paths and asks first "
        "unless --yes is given; without a terminal to ask on, --yes is required.",
    )
    delete.add_argument("index", metavar="INDEX", help="a model index .json file")
    delete.add_argument("--models-dir", metavar="DIR", help=MODELS_DIR_HELP)
    delete.add_argument("--yes", action="store_true", help="do not ask")
    delete.set_defaults(func=_delete)


def _list(args: argparse.Namespace) -> int:

    emit(model_index.load(args.index)["model_configs"], COLUMNS, args.format)
    return 0


def _filter(args: argparse.Namespace) -> int:

    wanted = {"batch_size": args.batch_sizes, "pipeline_size": args.pipeline_sizes,
              "performance_level": args.performance_levels, "status": args.status}
    kept = model_index.filter(model_index.load(args.index),
                              **{key: value for key, value in wanted.items() if value is not None})
    if args.out is None:
        emit(kept["model_configs"], COLUMNS, args.format)
        return 0
    if os.path.lexists(args.out) and not args.overwrite:
        raise ConfigError(f"--out would replace {args.out!r}; pass --overwrite to replace it")
    path = model_index.save(kept, args.out, overwrite=args.overwrite)
    print(f"{path}: {len(kept['model_configs'])} of the entries")
    return 0


def _new_index(args: argparse.Namespace) -> str:

    path = args.new_index or os.path.join(args.dest_dir, os.path.basename(args.index))
    if os.path.lexists(path) and not args.overwrite:
        raise ConfigError(f"--new-index would replace {path!r}; pass --overwrite to replace it "
                                   "or --new-index to name another file")
    return path


def _copy(args: argparse.Namespace) -> int:
    print(model_index.copy(args.index, _new_index(args), args.dest_dir, models_dir=args.models_dir))
    return 0


def _move(args: argparse.Namespace) -> int:
    print(model_index.move(args.index, _new_index(args), args.dest_dir, models_dir=args.models_dir))
    return 0


def _delete(args: argparse.Namespace) -> int:
    paths = model_index.model_files(args.index, args.models_dir)  # a bad or unsafe index fails before asking
    listing = "".join(f"  {path}\n" for path in [*paths, args.index])
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError("--yes is required to delete without a terminal to confirm on")
        answer = input(f"delete these {len(paths) + 1} paths (the model files of {args.index!r}, then the index)?\n"
                       f"{listing}[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 0
    model_index.delete(args.index, models_dir=args.models_dir)
    print(f"deleted:\n{listing}", end="")
    return 0
