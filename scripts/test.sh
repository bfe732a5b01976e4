#!/usr/bin/env bash
# Builds hookflow and runs every test (unit and integration).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure -j 2 --timeout 600 "$@"
