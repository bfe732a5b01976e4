#!/usr/bin/env bash
# Installs what is missing and builds hookflow into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Warnings are errors by default, for run.sh and test.sh alike: the same flags mean running
# one after the other does not rebuild everything. HOOKFLOW_CMAKE_ARGS replaces them.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo ${HOOKFLOW_CMAKE_ARGS:--DHOOKFLOW_WERROR=ON} >/dev/null
cmake --build build -j "${HOOKFLOW_JOBS:-2}"
