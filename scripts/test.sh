#!/usr/bin/env bash
# Set up, then run the test suite (a local Ray on loopback is started by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
exec .venv/bin/python -m pytest "$@"
