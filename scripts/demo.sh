#!/usr/bin/env bash
# Set up, then run the demo: the default sweep of a small bundled torch model on an embedded
# local Ray (CPU); prints the report table, writes CSV, JSON and Parquet into ./results.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/raybench demo "$@"
