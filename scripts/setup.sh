#!/usr/bin/env bash
# Create .venv (if missing) and install raybench with its torch, tensorflow, plot, llm and dev extras.
# torch==2.13.0 (a CPU build) goes in first: a bare "torch" requirement on an empty venv would
# pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet -e ".[torch,tensorflow,plot,llm,dev]"
