#!/usr/bin/env bash
# Publishes bundles the way CI does (.github/workflows/bundles.yml calls this; any CI can):
#   1. builds every bundle the BUILD-ARGS name (`--distro a,b` or `--manifest M`…, `--arch`,
#      `--mirror`…: moa-bundle build's own arguments), all in one run sharing one cache;
#   2. builds them again from that cache alone (--offline) into a second directory and compares
#      the bytes: a bundle that does not rebuild identically is not published;
#   3. signs each (minisign, with --sign KEY; the signature covers the whole file);
#   4. checks each as a node would (`moa-bundle verify`, the signature against the public key);
#   5. writes OUT/publish/: per bundle the .tar.gz, its .sha256, its SBOM (.cdx.json) and its
#      .minisig, and a SHA256SUMS over all of them.
# Usage: bash scripts/publish.sh [--out DIR] [--bin MOA_BUNDLE] [--sign SECRET.key] -- BUILD-ARGS…
# Exit 0 when every bundle was built twice identically, verified and published; 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
out=publish-out bin="" sign=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --bin) bin=${2:?--bin needs the moa-bundle binary}; shift 2 ;;
    --sign) sign=${2:?--sign needs a minisign secret key}; shift 2 ;;
    --) shift; break ;;
    *) echo "publish.sh: unknown option $1 (see the header of this file)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "publish.sh: give moa-bundle build's arguments after --, e.g. -- --distro centos7" >&2; exit 2; }
if [ -z "$bin" ]; then cargo build --release --locked --quiet; bin=$PWD/target/release/moa-bundle; fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=$out/cache
rm -rf "$out/first" "$out/second" "$out/publish"
mkdir -p "$out/first" "$out/second" "$out/publish"

echo "publish.sh: building" >&2
"$bin" build "$@" --cache-dir "$cache" -o "$out/first" --json > "$out/first.json"
echo "publish.sh: building again from the cache alone" >&2
"$bin" build "$@" --cache-dir "$cache" --offline -o "$out/second" --json > "$out/second.json"

pub=$(cd "$out/publish" && pwd)
for b in "$out"/first/*.tar.gz; do
  name=$(basename "$b")
  cmp -s "$b" "$out/second/$name" || {
    echo "publish.sh: $name is not reproducible: two builds from the same inputs differ" >&2
    exit 1
  }
done
verify=()
if [ -n "$sign" ]; then
  # The bundles are unchanged, so this only writes each .minisig.
  "$bin" build "$@" --cache-dir "$cache" --offline --sign "$sign" -o "$out/first" > /dev/null
  verify=(--key "${sign%.key}.pub")
fi
for b in "$out"/first/*.tar.gz; do
  name=$(basename "$b")
  "$bin" verify "$b" "${verify[@]}" > /dev/null
  cp "$b" "$b.sha256" "$pub/"
  [ -z "$sign" ] || cp "$b.minisig" "$pub/"
  "$bin" sbom "$b" > "$pub/${name%.tar.gz}.cdx.json"
  echo "publish.sh: $name: reproducible, verified${sign:+, signed}" >&2
done
(cd "$pub" && sha256sum -- * > SHA256SUMS)
echo "publish.sh: published $(find "$pub" -name '*.tar.gz' | wc -l) bundle(s) to $pub" >&2
