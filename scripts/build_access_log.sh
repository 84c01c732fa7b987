#!/usr/bin/env bash
# Build the access-log reader plugin (plugins/access_log: Rust + PyO3, built with maturin) and
# install it into ./.venv, with Debian's Rust toolchain and crates only (no crates.io):
#   rustc, cargo, librust-pyo3-dev, librust-memchr-dev  (installed here when missing, as root)
# Called by scripts/test.sh. Skips the build when the installed plugin was built from the same
# sources. A failed build prints why and exits 2, and installs nothing.
# DATIVO_ACCESS_LOG_DIR builds another copy of the plugin's sources (the tests break one on purpose).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
plugin=${DATIVO_ACCESS_LOG_DIR:-plugins/access_log}
export PATH="/usr/bin:$PATH"  # Debian's toolchain, even where a rustup one is on PATH
export CARGO_NET_OFFLINE=true

fail() {
  echo "build_access_log: $*" >&2
  exit 2
}

packages="rustc cargo librust-pyo3-dev librust-memchr-dev"
missing=""
command -v cargo >/dev/null && command -v rustc >/dev/null || missing="rustc cargo"
ls -d /usr/share/cargo/registry/pyo3-0.* >/dev/null 2>&1 || missing="$missing librust-pyo3-dev"
ls -d /usr/share/cargo/registry/memchr-2.* >/dev/null 2>&1 || missing="$missing librust-memchr-dev"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "build_access_log: installing Debian's Rust packages ($packages)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null; } \
      || fail "apt-get install $packages failed"
  else
    fail "missing $missing: run 'apt-get install $packages' as root"
  fi
fi

# The sources' digest, recorded in the installed package: an unchanged plugin is not rebuilt.
digest=$(cd "$plugin" && cat Cargo.toml Cargo.lock pyproject.toml .cargo/config.toml $(find src python -type f \( -name '*.rs' -o -name '*.py' \) | sort) 2>/dev/null | sha256sum | cut -c1-16)
installed=$(.venv/bin/python -c 'import dativo_access_log._native, dativo_access_log, pathlib; print((pathlib.Path(dativo_access_log.__file__).parent / "BUILD_DIGEST").read_text().strip())' 2>/dev/null || true)
if [ "$installed" = "$digest" ]; then
  echo "build_access_log: dativo-access-log is up to date ($digest)"
  exit 0
fi

start=$(date +%s)
echo "build_access_log: building $plugin with $(rustc --version) / $(cargo --version)"
rm -rf "$plugin/dist"
log=$(mktemp)
# maturin comes from the dev lock; the build runs in the plugin's directory so cargo reads its
# .cargo/config.toml (Debian's vendored registry instead of crates.io)
if ! (cd "$plugin" && "$repo/.venv/bin/maturin" build --release --out dist >"$log" 2>&1); then
  tail -40 "$log" >&2
  rm -f "$log"
  fail "the Rust build of $plugin failed (output above); nothing was installed"
fi
rm -f "$log"
wheel=$(ls "$plugin"/dist/*.whl)
.venv/bin/python -m pip -qq --disable-pip-version-check install --no-deps --force-reinstall "$wheel" \
  || fail "pip could not install $wheel"
site=$(.venv/bin/python -c 'import dativo_access_log, pathlib; print(pathlib.Path(dativo_access_log.__file__).parent)')
echo "$digest" >"$site/BUILD_DIGEST"
.venv/bin/python -c 'from dativo_access_log import _native; _native.schema()' \
  || fail "the built extension does not load"
echo "build_access_log: installed $(basename "$wheel") in $(($(date +%s) - start))s"
