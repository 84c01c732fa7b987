#!/usr/bin/env bash
# Install the engine alone (no test tools, no connector extras), then run the example job on the
# embedded default (SQLite ledger + catalog in ./.dativo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh runtime
.venv/bin/dativo run config/jobs/acme/customers.yaml "$@"
