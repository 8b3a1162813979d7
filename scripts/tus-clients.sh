#!/usr/bin/env bash
# Installs the tus clients other projects wrote, which the tests drive against ingest:
# tuspy (PyPI) in a venv and tus-js-client (npm), both in a cache outside the repository.
# Safe to run again: it installs nothing that is already there. Prints nothing on success.
set -euo pipefail

cache=${CUSTODIAN_CACHE:-/var/cache/custodian}
venv="$cache/tus-venv"
js="$cache/tus-js"

if ! "$venv/bin/python" -c 'import tusclient' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'tuspy==1.1.0' >&2
fi

if [ ! -f "$js/node_modules/tus-js-client/package.json" ]; then
  command -v npm >/dev/null || { echo "tus-clients.sh: npm not found (scripts/setup-system.sh installs it)" >&2; exit 1; }
  mkdir -p "$js"
  [ -f "$js/package.json" ] || echo '{"name": "custodian-tus-js", "private": true}' > "$js/package.json"
  (cd "$js" && npm install --silent --no-audit --no-fund 'tus-js-client@4.3.1' >&2)
fi
