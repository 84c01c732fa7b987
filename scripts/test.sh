#!/usr/bin/env bash
# Install, start Redis/PostgreSQL/MariaDB if they are stopped, then run lint and the whole test suite
# under coverage (every Python process the tests start is measured too), and print the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/services.sh
.venv/bin/ruff check .

if [ "${DATIVO_TEST_COVERAGE:-1}" = "0" ]; then  # a quicker run, without the measurement
  exec .venv/bin/python -m pytest -n 2 "$@"
fi
export COVERAGE_FILE="$PWD/.coverage"  # absolute: workers and CLI subprocesses run in temporary dirs
rm -f .coverage .coverage.*
status=0
.venv/bin/coverage run -m pytest -n 2 "$@" || status=$?
if .venv/bin/coverage combine -q 2>/dev/null; then
  echo
  echo "coverage of the engine's core modules (target: 85% each):"
  .venv/bin/coverage report --include='dativo_workers/pipeline.py,dativo_workers/ingest.py,dativo_workers/iceberg.py,dativo_workers/ledger.py,dativo_workers/tasks.py,dativo_workers/producer.py,dativo_workers/reconcile.py,dativo_workers/checks.py' || true
  echo "combined line coverage, dativo_workers + dativo_plugins: $(.venv/bin/coverage report --format=total)%"
fi
exit "$status"
