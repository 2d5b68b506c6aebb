#!/usr/bin/env bash
# What repo mode costs (issue 12: at most 10% more build time than a plain bundle): `build`, which
# makes the bundle a repository too (repodata/), against `build --no-repo`, on the same work —
# Debian 12's real indexes (bookworm main + updates + security, about 64,000 stanzas, each kept
# while parsing in repo mode) and the closure of the requested packages against this machine's
# packages (a `probe` of it). The cache is filled once (network), then both build --offline with
# the output removed before each run: no network time hides the extra cost, and every run packs.
# Reports wall time (hyperfine), peak RSS (/usr/bin/time) and the sizes, with the ratios.
# Usage: bash scripts/bench/repo.sh [PACKAGE…]   (needs: hyperfine; network once)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v hyperfine >/dev/null || { echo "missing hyperfine: apt-get install hyperfine"; exit 1; }
req=("$@"); [ ${#req[@]} -gt 0 ] || req=(mariadb-server)
cargo build --release --quiet
bin=$PWD/target/release/moa-bundle
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
"$bin" probe -o "$w/node.json" 2>/dev/null
. scripts/bench/debian12.sh
debian12_manifest "$w" "${req[@]}"
common="--manifest $w/new.toml --target $w/node.json --cache-dir $w/cache"
"$bin" build $common -o "$w/fill.tar.gz" >/dev/null 2>&1   # metadata and packages into the cache
plain="$bin build $common --offline --no-repo -o $w/plain.tar.gz"
repo="$bin build $common --offline -o $w/repo.tar.gz"
hyperfine -N --warmup 1 --runs 10 --export-json "$w/h.json" \
  -n plain --prepare "rm -f $w/plain.tar.gz" "$plain" \
  -n repo --prepare "rm -f $w/repo.tar.gz" "$repo" >/dev/null
rss() { rm -f "$1"; shift; /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
rss_plain=$(rss "$w/plain.tar.gz" $plain); rss_repo=$(rss "$w/repo.tar.gz" $repo)
n=$(tar -tzf "$w/repo.tar.gz" | grep -c '/packages/.')
meta=$(tar -tvzf "$w/repo.tar.gz" | awk '/\/repodata\/./ {s += $3} END {print s}')
python3 - "$w/h.json" "$rss_plain" "$rss_repo" "${req[*]}" "$n" \
  "$(stat -c %s "$w/plain.tar.gz")" "$(stat -c %s "$w/repo.tar.gz")" "$meta" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, q = r["plain"], r["repo"]
rp, rq = int(sys.argv[2]), int(sys.argv[3])
sp, sq, meta = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
print(f"request: {sys.argv[4]} ({sys.argv[5]} packages), warm --offline builds")
print(f"build --no-repo: {p['mean']*1000:6.0f} ms ± {p['stddev']*1000:3.0f}, peak RSS {rp//1024} MB, {sp} bytes")
print(f"build (repo):    {q['mean']*1000:6.0f} ms ± {q['stddev']*1000:3.0f}, peak RSS {rq//1024} MB, {sq} bytes (repodata/ {meta} bytes)")
print(f"ratio repo/plain: time {q['mean']/p['mean']:.3f}, memory {rq/rp:.2f}, size {sq/sp:.4f}")
PY
