"""The ``raybench`` command line (also ``python -m raybench``); see :mod:`raybench.cli.main`.

It uses raybench's public API only: the root's public modules and the names ``raybench``
exports, imported from the modules that define them.
"""

from raybench.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
