#!/usr/bin/env bash
# Installs the Debian 12 packages hookflow builds, tests and runs with, when missing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libboost1.81-dev libssl-dev zlib1g-dev nlohmann-json3-dev libyaml-cpp-dev
    libspdlog-dev libsqlite3-dev libcli11-dev libgtest-dev libgmock-dev
    python3 curl ca-certificates openssl sqlite3 ccache
    nginx  # tests/integration/test_nginx.py starts it in front of hookflow
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "installing: ${missing[*]}"
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd="sudo"
fi
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
