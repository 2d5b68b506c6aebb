#!/usr/bin/env bash
# Build speed against apt on the same download: ~100 real Debian 12 debs (the closure of
# vim-nox git curl python3-requests on an empty system, fetched once with apt-get download into
# target/bench-debs/) in a loopback apt archive served with 50 ms added to every request
# (scripts/bench/slow_http.py; keep-alive, parallel connections allowed).
#   moa-bundle build, cold (empty cache)     vs  apt-get install --download-only (lists fresh)
#                                             and apt-get update + install --download-only
#   moa-bundle build, warm (same output, cache full), warm --offline
#   --jobs 1 and --jobs 32 (the default is 16)
# Then one cold build's log lines with their elapsed times (where the time goes).
# Usage: [MOA_BIN=…] bash scripts/bench/build.sh [DELAY_MS=50]   (needs: hyperfine apt-utils; network once)
set -euo pipefail
cd "$(dirname "$0")/../.."
delay=${1:-50}
for t in hyperfine apt-ftparchive python3; do command -v $t >/dev/null || { echo "missing $t"; exit 1; }; done
req=(vim-nox git curl python3-requests)
debs=$PWD/target/bench-debs/build
if ! ls "$debs"/*.deb >/dev/null 2>&1; then
  mkdir -p "$debs"
  list=$(apt-get -s -o Dir::State::status=/dev/null install --no-install-recommends "${req[@]}" | awk '/^Inst /{print $2}')
  (cd "$debs" && apt-get download -qq $list)
fi
# MOA_BIN=path compares another build (e.g. a baseline) on the same setup.
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
w=$(mktemp -d)
cleanup() { [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null; rm -rf "$w"; }
trap cleanup EXIT
mkdir -p "$w/repo/pool/main" "$w/repo/dists/bench/main/binary-amd64"
cp "$debs"/*.deb "$w/repo/pool/main/"
(cd "$w/repo" && apt-ftparchive packages pool > dists/bench/main/binary-amd64/Packages \
  && xz -k dists/bench/main/binary-amd64/Packages && gzip -kn dists/bench/main/binary-amd64/Packages)
(cd "$w/repo/dists/bench" && apt-ftparchive -o APT::FTPArchive::Release::Suite=bench \
  -o APT::FTPArchive::Release::Date="Tue, 14 Nov 2023 22:13:20 UTC" release . > "$w/Release" && mv "$w/Release" Release)
# An InRelease, as real archives have (clearsigned with a throwaway key; apt trusts the source).
export GNUPGHOME=$w/gnupg; mkdir -m 700 "$GNUPGHOME"
gpg -q --batch --passphrase '' --quick-gen-key bench@invalid ed25519 sign never 2>/dev/null
gpg -q --batch --clearsign -o "$w/repo/dists/bench/InRelease" "$w/repo/dists/bench/Release"
gpg -q --batch --armor --export bench@invalid > "$w/bench.asc"
fpr=$(gpg --batch --with-colons --list-keys bench@invalid | awk -F: '/^fpr/ {print $10; exit}')
python3 scripts/bench/slow_http.py "$w/repo" "$w/port" "$delay" & srv=$!
while [ ! -s "$w/port" ]; do sleep 0.1; done
url="http://127.0.0.1:$(cat "$w/port")"
n=$(ls "$w/repo/pool/main" | wc -l); size=$(du -sh "$w/repo/pool" | cut -f1)
list=$(printf '"%s",' "${req[@]}")
cat > "$w/m.toml" <<TOML
name = "bench"
distro = "bench"
family = "deb"
arch = "amd64"
os_release = { id = "debian", version_id = "12" }
packages = [${list%,}]
[[repository]]
name = "bench"
suites = ["bench"]
components = ["main"]
mirrors = ["$url"]
keys = [{ file = "bench.asc", fingerprint = "$fpr" }]
TOML
# apt, private: its own lists, archives and an empty status, against the same mirror.
a=$w/apt; mkdir -p "$a/lists/partial" "$a/archives/partial" "$a/etc"; : > "$a/status"
echo "deb [trusted=yes] $url bench main" > "$a/etc/sources.list"
cat > "$a/apt.conf" <<CONF
Dir::Etc::SourceList "$a/etc/sources.list"; Dir::Etc::SourceParts "$a/etc";
Dir::State::Lists "$a/lists"; Dir::State::status "$a/status"; Dir::Cache "$a/cache";
Dir::Cache::Archives "$a/archives"; APT::Sandbox::User "root"; Debug::NoLocking "true";
CONF
export APT_CONFIG=$a/apt.conf
apt-get update -qq >/dev/null
moa="$bin build --manifest $w/m.toml --no-base --cache-dir"
"$bin" build --manifest "$w/m.toml" --no-base --cache-dir "$w/warm" -o "$w/warm-out/b.tar.gz" >/dev/null 2>&1
echo "== $n debs, $size, ${delay} ms added per request"
hyperfine -N --runs 5 --export-json "$w/h.json" \
  -n "moa build cold" --prepare "rm -rf $w/cold $w/out" "$moa $w/cold -o $w/out/b.tar.gz" \
  -n "apt download-only" --prepare "sh -c 'rm -f $a/archives/*.deb'" \
    "apt-get install -qq --download-only --no-install-recommends -y ${req[*]}" \
  -n "apt update + download-only" --prepare "sh -c 'rm -rf $a/lists/* $a/archives/*.deb; mkdir -p $a/lists/partial'" \
    "sh -c 'apt-get update -qq && apt-get install -qq --download-only --no-install-recommends -y ${req[*]}'" \
  -n "moa build warm" --prepare true "$moa $w/warm -o $w/warm-out/b.tar.gz" \
  -n "moa build warm --offline" --prepare true "$moa $w/warm -o $w/warm-out/b.tar.gz --offline" \
  -n "moa build cold --jobs 1" --prepare "rm -rf $w/cold $w/out" "$moa $w/cold -o $w/out/b.tar.gz --jobs 1" \
  -n "moa build cold --jobs 32" --prepare "rm -rf $w/cold $w/out" "$moa $w/cold -o $w/out/b.tar.gz --jobs 32" \
  >/dev/null
python3 - "$w/h.json" <<'PY'
import json, sys
r = {x["command"]: (x["mean"], x["stddev"]) for x in json.load(open(sys.argv[1]))["results"]}
apt, cold = r["apt download-only"][0], r["moa build cold"][0]
for k, (m, s) in r.items():
    print(f"  {k:<28} {m*1000:7.0f} ms ± {s*1000:4.0f}   vs apt download-only {m/apt:5.2f}   vs moa cold {m/cold:5.2f}")
PY
echo "== where a cold build's time goes (log lines, elapsed seconds)"
rm -rf "$w/cold" "$w/out"
$moa "$w/cold" -o "$w/out/b.tar.gz" 2>&1 >/dev/null | grep -E '^moa-bundle: \[' | sed 's/^/  /'
