#!/usr/bin/env bash
# Set up, then run the test suite (a local Ray on loopback is started by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The HTML report's test opens the page in a real headless browser. Install Debian's chromium
# when it is missing and we may (root, apt-get); if that fails the browser test skips itself.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    install_chromium() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
    # An image without package lists gets them once, then one more try.
    { install_chromium || { apt-get update -qq && install_chromium; }; } >/dev/null 2>&1 \
        || echo "test.sh: could not install chromium; the HTML report's browser test will skip" >&2
fi
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
exec .venv/bin/python -m pytest "$@"
