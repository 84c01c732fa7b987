#!/usr/bin/env bash
# Can dativo be installed beside Apache Airflow 3? pip resolves this package (its ranges from
# pyproject.toml, not the locks, with every connector extra) together with apache-airflow, in a
# throwaway virtualenv, without installing anything (--dry-run), and prints what it would install.
#   bash scripts/check_airflow_compat.sh                   'apache-airflow>=3,<4' (the newest that fits)
#   bash scripts/check_airflow_compat.sh '==3.2.*' '==3.1.*'   one resolve per Airflow series
# Needs PyPI; takes a minute or two per resolve, so it is not part of scripts/test.sh. Exit 1 if
# any resolve fails. The result of the last run is in README.md (Install).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
EXTRAS="postgres,mysql,flower,vault,aws,gcp,azure,stripe"
[ "$#" -gt 0 ] || set -- ">=3,<4"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check -c requirements/dev.lock pip

status=0
for airflow in "$@"; do
  echo "== dativo-workers[$EXTRAS] + apache-airflow$airflow"
  if "$tmp/venv/bin/python" -m pip install --disable-pip-version-check --dry-run --ignore-installed \
    --report "$tmp/report.json" ".[$EXTRAS]" "apache-airflow$airflow" >"$tmp/pip.log" 2>&1; then
    "$tmp/venv/bin/python" - "$tmp/report.json" <<'EOF'
import json, sys

report = json.load(open(sys.argv[1]))
got = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in report["install"]}
shared = ["apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk", "pyarrow", "pydantic",
          "sqlalchemy", "alembic", "structlog", "rich", "typer", "pluggy", "psutil", "jsonschema", "pyyaml",
          "celery", "httpx", "packaging"]
print(f"resolves: {len(got)} packages; " + ", ".join(f"{n} {got[n]}" for n in shared if n in got))
EOF
  else
    status=1
    echo "does not resolve:"
    grep -v "^WARNING: Location" "$tmp/pip.log" | grep -A12 -i "conflict is caused by\|^ERROR" | head -30
  fi
done
exit "$status"
