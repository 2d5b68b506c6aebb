#!/usr/bin/env bash
# Load + resolve over Debian 12's real Packages against apt on the same request and the same
# base (this machine's installed packages: apt reads its status file, moa-bundle a `probe` of
# it). moa-bundle reads bookworm main + updates + security from its cache (fetched once, then
# --offline); apt-get -s uses its own lists (apt-get update) and only simulates.
# Reports wall time (hyperfine) and peak RSS (/usr/bin/time), and the ratios.
# Usage: bash scripts/bench/apt.sh [PACKAGE…]   (needs: hyperfine; Debian 12 with apt lists)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v hyperfine >/dev/null || { echo "missing hyperfine: apt-get install hyperfine"; exit 1; }
req=("$@"); [ ${#req[@]} -gt 0 ] || req=(mariadb-server)
# MOA_BIN=path compares another build (a baseline) on the same work.
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
"$bin" probe -o "$w/node.json" 2>/dev/null
. scripts/bench/debian12.sh
debian12_manifest "$w" "${req[@]}"
"$bin" resolve --manifest "$w/new.toml" --target "$w/node.json" >/dev/null   # fill the cache
moa="$bin resolve --manifest $w/new.toml --target $w/node.json --offline --json"
apt="apt-get -s install --no-install-recommends ${req[*]}"
hyperfine -N --warmup 1 --runs 10 --export-json "$w/h.json" "$moa" "$apt" >/dev/null
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
python3 - "$w/h.json" "$(rss $moa)" "$(rss $apt)" "${req[*]}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
m, a = r[0]["mean"], r[1]["mean"]
print(f"request: {sys.argv[4]}")
print(f"moa-bundle resolve --target: {m*1000:.0f} ms ± {r[0]['stddev']*1000:.0f}, peak RSS {int(sys.argv[2])//1024} MB")
print(f"apt-get -s install:          {a*1000:.0f} ms ± {r[1]['stddev']*1000:.0f}, peak RSS {int(sys.argv[3])//1024} MB")
print(f"ratio moa/apt: time {m/a:.2f}, memory {int(sys.argv[2])/int(sys.argv[3]):.2f}")
PY
