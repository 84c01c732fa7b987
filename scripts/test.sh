#!/usr/bin/env bash
# Install, start Redis/PostgreSQL if they are stopped, then run lint and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/services.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -n 2 "$@"
