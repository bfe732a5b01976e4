#!/usr/bin/env bash
# Builds hookflow and serves the default config (config/hookflow.yaml, SQLite under var/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/hookflow serve --config config/hookflow.yaml "$@"
