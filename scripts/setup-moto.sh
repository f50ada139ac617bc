#!/usr/bin/env bash
# Installs into .venv, once each: moto (the local AWS emulator the tests and the demo run against);
# with `docs`, also the parsers the documentation's snippets are checked with (python-hcl2 for
# Terraform, cfn-lint for CloudFormation: tests/it/docs.rs), which `make test` needs.
set -euo pipefail
cd "$(dirname "$0")/.."
pip() { .venv/bin/pip install --quiet --disable-pip-version-check "$@"; }
if [ ! -x .venv/bin/python ]; then
  echo "setting up .venv (first run only)..." >&2
  python3 -m venv .venv
fi
[ -x .venv/bin/moto_server ] || pip 'moto[server]==5.2.5'
if [ "${1:-}" = docs ]; then
  .venv/bin/python -c 'import hcl2' 2>/dev/null || pip 'python-hcl2==8.1.4'
  [ -x .venv/bin/cfn-lint ] || pip 'cfn-lint==1.58.0'
fi
