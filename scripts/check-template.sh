#!/usr/bin/env bash
# Lints deploy/template.yaml with cfn-lint (installed into .venv on first use). Warnings fail too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-moto.sh
if [ ! -x .venv/bin/cfn-lint ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check cfn-lint
fi
.venv/bin/cfn-lint deploy/template.yaml
echo "cfn-lint: deploy/template.yaml is clean"
