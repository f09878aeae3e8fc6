"""``python -m raybench``: the command line."""

import sys

from raybench.cli import main

sys.exit(main())
