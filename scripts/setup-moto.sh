#!/usr/bin/env bash
# Installs moto (the local AWS emulator the tests and the demo run against) into .venv, once.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/moto_server ]; then
  exit 0
fi
echo "setting up .venv with moto (first run only)..." >&2
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
