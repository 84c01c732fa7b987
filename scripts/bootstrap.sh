#!/usr/bin/env bash
# Create ./.venv (if needed) and install dativo into it, at the exact versions of a lock file:
#   bash scripts/bootstrap.sh            engine, every extra, test and lint tools (requirements/dev.lock)
#   bash scripts/bootstrap.sh runtime    the engine alone (requirements/runtime.lock): what demo.sh needs
# pyproject.toml holds compatible ranges; the locks (pip constraints, made by scripts/lock.sh) pin
# every package, the build's setuptools and pip itself, so every install gets the same versions.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-dev}" in
  dev) lock=requirements/dev.lock target=".[dev]" ;;
  runtime) lock=requirements/runtime.lock target="." ;;
  *) echo "usage: bash scripts/bootstrap.sh [dev|runtime]" >&2; exit 2 ;;
esac
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# -qq: errors only (setuptools' notes on every editable build are not news to anyone)
pip() { .venv/bin/python -m pip -qq --disable-pip-version-check "$@"; }
pip install -c "$lock" pip
pip install -c "$lock" --build-constraint "$lock" -e "$target"
