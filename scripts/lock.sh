#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml (run after changing any dependency there):
#   requirements/dev.lock      the engine, every extra, the test and lint tools, pip/setuptools/wheel
#   requirements/runtime.lock  the engine alone; the same versions as dev.lock (resolved within it)
# Both are pip constraints files: scripts/bootstrap.sh installs with `pip install -c <lock> ...`.
# pip-compile keeps every pin already in a lock that still fits pyproject.toml; to move pins on:
#   bash scripts/lock.sh --upgrade                      (everything)
#   bash scripts/lock.sh --upgrade-package pyarrow      (one package; repeatable)
# The locks are resolved for CPython 3.11 on Linux, the Python of the scripts and CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
PIP_TOOLS="pip-tools==7.6.2"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
if [ -f requirements/dev.lock ]; then
  "$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check -c requirements/dev.lock pip
fi
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$PIP_TOOLS"

export CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh"
compile() {
  "$tmp/venv/bin/pip-compile" --quiet --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
    --no-emit-trusted-host "$@"
}
# pip-compile writes the project itself into the lock when an extra names it (dev names
# dativo-workers[postgres,...]), as an absolute file:// URL: drop that entry and its comments.
drop_self() {
  awk '/^dativo-workers @ /{skip=1; next} skip && /^    #/{next} {skip=0; print}' "$1" >"$1.tmp"
  mv "$1.tmp" "$1"
}

compile "$@" --extra dev --output-file requirements/dev.lock pyproject.toml requirements/tools.in
drop_self requirements/dev.lock
# the runtime lock starts from scratch each time, so that it only ever holds dev.lock's versions
rm -f requirements/runtime.lock
compile --constraint requirements/dev.lock --output-file requirements/runtime.lock pyproject.toml requirements/tools.in
drop_self requirements/runtime.lock
echo "requirements/dev.lock: $(grep -c '==' requirements/dev.lock) pins;" \
  "requirements/runtime.lock: $(grep -c '==' requirements/runtime.lock) pins"
