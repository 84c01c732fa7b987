#!/usr/bin/env bash
# Install, then run the whole test suite (unit + integration) in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -n 2 "$@"
