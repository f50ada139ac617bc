#!/usr/bin/env bash
# Lints the deploy templates: cfn-lint (CloudFormation, warnings fail too) and parliament (the IAM
# policies, offline, through scripts/lint-iam.py). Both are installed into .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-moto.sh
if [ ! -x .venv/bin/cfn-lint ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check cfn-lint
fi
if [ ! -x .venv/bin/parliament ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check parliament
fi
TEMPLATES=(deploy/template.yaml deploy/stackset.yaml deploy/spoke-role.yaml)
.venv/bin/cfn-lint "${TEMPLATES[@]}"
echo "cfn-lint: ${TEMPLATES[*]} clean"
.venv/bin/python scripts/lint-iam.py "${TEMPLATES[@]}"
