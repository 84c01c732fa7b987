#!/usr/bin/env bash
# Install, start Redis/PostgreSQL/MariaDB if they are stopped, then run lint and the whole test suite
# under coverage (every Python process the tests start is measured too), and print the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build_access_log.sh  # the Rust reader plugin (Debian's toolchain; exit 2 when it fails)
bash scripts/services.sh
.venv/bin/ruff check .

if [ "${DATIVO_TEST_COVERAGE:-1}" = "0" ]; then  # a quicker run, without the measurement
  exec .venv/bin/python -m pytest -n 2 "$@"
fi
export COVERAGE_FILE="$PWD/.coverage"  # absolute: workers and CLI subprocesses run in temporary dirs
rm -f .coverage .coverage.*
status=0
.venv/bin/coverage run -m pytest -n 2 --durations=25 "$@" || status=$?
core="pipeline ingest iceberg ledger tasks producer reconcile checks"
if .venv/bin/coverage combine -q 2>/dev/null; then
  echo
  echo "coverage of the engine's core modules (at least 85% each on a whole run):"
  .venv/bin/coverage report --include="$(printf 'dativo_workers/%s.py,' $core)" || true
  echo "combined line coverage, dativo_workers + dativo_plugins: $(.venv/bin/coverage report --format=total)%"
  if [ "$#" -eq 0 ]; then  # a selection of tests covers less: only the whole suite is held to it
    for module in $core; do
      if ! .venv/bin/coverage report --include="dativo_workers/$module.py" --fail-under=85 >/dev/null; then
        echo "coverage: dativo_workers/$module.py is below 85%" >&2
        status=1
      fi
    done
  fi
fi
exit "$status"
