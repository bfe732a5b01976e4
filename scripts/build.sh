#!/usr/bin/env bash
# Installs what is missing and builds hookflow into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo ${HOOKFLOW_CMAKE_ARGS:-} >/dev/null
cmake --build build -j "${HOOKFLOW_JOBS:-2}"
