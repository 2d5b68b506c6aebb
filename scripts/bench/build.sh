#!/usr/bin/env bash
# Build speed and memory against apt on the same download, on the real Debian 12 archive: the
# real, signed bookworm InRelease and main Packages.xz of target/test-roots (63,440 entries,
# made by scripts/test-roots.sh) and the ~100 real debs of the closure of vim-nox git curl
# python3-requests on an empty system (fetched once from the Debian archive, by the pool paths
# and sha256 that index gives, into target/bench-debs/bookworm/), served from 127.0.0.1 with
# 50 ms added to every request (scripts/bench/slow_http.py; keep-alive, parallel connections).
#   moa-bundle build, cold (empty cache)     vs  apt-get install --download-only (lists fresh)
#                                             and apt-get update + install --download-only
#   moa-bundle build, warm (same output, cache full), warm --offline
#   --jobs 1 and --jobs 32 (the default is 16)
# Then peak RSS of a cold build and of apt's update + download, and one cold build's log lines
# with their elapsed times (where the time goes).
# Usage: [MOA_BIN=…] bash scripts/bench/build.sh [DELAY_MS=50]   (needs: hyperfine apt; network once)
set -euo pipefail
cd "$(dirname "$0")/../.."
delay=${1:-50}
for t in hyperfine python3 curl apt-get; do command -v $t >/dev/null || { echo "missing $t"; exit 1; }; done
archive=${MOA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
roots=target/test-roots
[ -f "$roots/bookworm-mirror/.complete" ] || { echo "no $roots: run scripts/test-roots.sh"; exit 1; }
req=(vim-nox git curl python3-requests)
# MOA_BIN=path compares another build (e.g. a baseline) on the same setup.
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
w=$(mktemp -d)
cleanup() { [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null; rm -rf "$w"; }
trap cleanup EXIT
# The mirror: the real dists/ and the closure's debs at their pool paths.
m=$w/mirror; mkdir -p "$m/dists/bookworm/main/binary-amd64"
cp "$roots/bookworm-mirror/dists/bookworm/InRelease" "$m/dists/bookworm/"
cp "$roots/bookworm-mirror/dists/bookworm/main/binary-amd64/Packages.xz" "$m/dists/bookworm/main/binary-amd64/"
# apt, private: its own lists, archives and an empty status, against that mirror.
a=$w/apt; mkdir -p "$a/lists/partial" "$a/archives/partial" "$a/etc" "$a/parts"; : > "$a/status"
cat > "$a/apt.conf" <<CONF
Dir::Etc::SourceList "$a/etc/sources.list"; Dir::Etc::SourceParts "$a/etc"; Dir::Etc::Parts "$a/parts";
Dir::State::Lists "$a/lists"; Dir::State::status "$a/status"; Dir::Cache "$a/cache";
Dir::Cache::Archives "$a/archives"; APT::Sandbox::User "root"; Debug::NoLocking "true";
Acquire::Languages "none";
CONF
export APT_CONFIG=$a/apt.conf
echo "deb [trusted=yes] file://$PWD/$roots/bookworm-mirror bookworm main" > "$a/etc/sources.list"
apt-get update -qq >/dev/null
pool=$PWD/target/bench-debs/bookworm
# The closure's pool paths from apt, each file's sha256 from the signed index itself.
apt-get install -qq --print-uris --no-install-recommends -y "${req[@]}" | cut -d"'" -f2 |
  python3 -c '
import lzma, sys, urllib.parse
index, prefix = sys.argv[1], sys.argv[2]
sha, name = {}, None
for line in lzma.open(index, "rt"):
    if line.startswith("Filename: "): name = line[10:].strip()
    elif line.startswith("SHA256: "): sha[name] = line[8:].strip()
for uri in sys.stdin:
    rel = urllib.parse.unquote(uri.strip().split(prefix, 1)[1])
    print(urllib.parse.quote(rel), rel, sha[rel])
' "$m/dists/bookworm/main/binary-amd64/Packages.xz" bookworm-mirror/ |
  while read -r enc rel sum; do
    if [ ! -f "$pool/$rel" ]; then
      mkdir -p "$(dirname "$pool/$rel")"
      curl -fsS -o "$pool/$rel.part" "$archive/$enc"
      [ "$(sha256sum < "$pool/$rel.part" | cut -c1-64)" = "$sum" ] || { echo "$rel: not the index's sha256" >&2; exit 1; }
      mv "$pool/$rel.part" "$pool/$rel"
    fi
    mkdir -p "$(dirname "$m/$rel")" && cp "$pool/$rel" "$m/$rel"
  done
python3 scripts/bench/slow_http.py "$m" "$w/port" "$delay" & srv=$!
while [ ! -s "$w/port" ]; do sleep 0.1; done
url="http://127.0.0.1:$(cat "$w/port")"
echo "deb [trusted=yes] $url bookworm main" > "$a/etc/sources.list"
rm -rf "$a/lists"/* && mkdir -p "$a/lists/partial"
n=$(find "$m/pool" -name '*.deb' | wc -l); size=$(du -sh "$m/pool" | cut -f1)
entries=$(xz -dc "$m/dists/bookworm/main/binary-amd64/Packages.xz" | grep -c '^Package: ')
list=$(printf '"%s",' "${req[@]}")
ln -s "$PWD/manifests/keys" "$w/keys"
keys=$(python3 -c 'import re,sys; t=open("manifests/debian12.toml").read(); print(re.search(r"(?ms)^keys = \[.*?^\]", t).group(0))')
cat > "$w/m.toml" <<TOML
name = "bench"
distro = "debian12"
family = "deb"
arch = "amd64"
os_release = { id = "debian", version_id = "12" }
packages = [${list%,}]
[[repository]]
name = "debian"
suites = ["bookworm"]
components = ["main"]
mirrors = ["$url"]
$keys
TOML
apt-get update -qq >/dev/null
moa="$bin build --manifest $w/m.toml --no-base --cache-dir"
"$bin" build --manifest "$w/m.toml" --no-base --cache-dir "$w/warm" -o "$w/warm-out/b.tar.gz" >/dev/null 2>&1
echo "== $n debs ($size) of Debian 12 bookworm main ($entries entries, real signed index), ${delay} ms added per request"
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
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
rm -rf "$w/cold" "$w/out"; moa_rss=$(rss $moa "$w/cold" -o "$w/out/b.tar.gz")
rm -rf "$a/lists"/* "$a/archives"/*.deb; mkdir -p "$a/lists/partial"
upd_rss=$(rss apt-get update -qq)
dl_rss=$(rss apt-get install -qq --download-only --no-install-recommends -y "${req[@]}")
echo "== peak RSS: moa build cold $((moa_rss / 1024)) MB; apt-get update $((upd_rss / 1024)) MB, apt-get install --download-only $((dl_rss / 1024)) MB"
echo "== where a cold build's time goes (log lines, elapsed seconds)"
rm -rf "$w/cold" "$w/out"
$moa "$w/cold" -o "$w/out/b.tar.gz" 2>&1 >/dev/null | grep -E '^moa-bundle: \[' | sed 's/^/  /'
