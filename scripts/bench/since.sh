#!/usr/bin/env bash
# What a differential bundle saves on a realistic update, and what it costs to build: Debian 12's
# real archive at two points — OLD from `bookworm` alone (the point release), NEW from `bookworm`
# + `bookworm-updates` + `bookworm-security` (the same release a number of updates later) — for
# the closure of the requested packages on the manifest's base. NEW is built whole and with
# `--since OLD`; both builds are timed from a warm cache (--offline, output removed each run;
# issue 12: a differential build must cost no more than a full one). Reports package counts,
# sizes and times, with the ratios.
# Usage: bash scripts/bench/since.sh [PACKAGE…]   (needs: hyperfine; network once)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v hyperfine >/dev/null || { echo "missing hyperfine: apt-get install hyperfine"; exit 1; }
req=("$@"); [ ${#req[@]} -gt 0 ] || req=(mariadb-server)
cargo build --release --quiet
bin=$PWD/target/release/moa-bundle
w=$(mktemp -d); trap '[ -n "${KEEP:-}" ] || rm -rf "$w"' EXIT; echo "work: $w"
. scripts/bench/debian12.sh
debian12_manifest "$w" "${req[@]}"
debian12_point_release "$w"
b="$bin build --no-installer --cache-dir $w/cache"
$b --manifest "$w/old.toml" -o "$w/old.tar.gz" >/dev/null 2>&1
$b --manifest "$w/new.toml" -o "$w/full.tar.gz" --json > "$w/full.json" 2>/dev/null
$b --manifest "$w/new.toml" -o "$w/diff.tar.gz" --since "$w/old.tar.gz" --json > "$w/diff.json" 2>/dev/null
full="$b --manifest $w/new.toml --offline -o $w/full.tar.gz"
diff="$b --manifest $w/new.toml --offline -o $w/diff.tar.gz --since $w/old.tar.gz"
hyperfine -N --warmup 1 --runs 10 --export-json "$w/h.json" \
  -n full --prepare "rm -f $w/full.tar.gz" "$full" \
  -n since --prepare "rm -f $w/diff.tar.gz" "$diff" >/dev/null
python3 - "$w" "${req[*]}" <<'PY'
import json, os, sys
w = sys.argv[1]
r = {x["command"]: x for x in json.load(open(f"{w}/h.json"))["results"]}
d = json.load(open(f"{w}/diff.json"))["since"]
size = lambda f: os.path.getsize(f"{w}/{f}")
f, s = r["full"], r["since"]
print(f"request: {sys.argv[2]} on the manifest's base; OLD = bookworm, NEW = bookworm + updates + security")
print(f"NEW whole:          {d['packed'] + d['expected']:4d} packages, {size('full.tar.gz'):>11,} bytes, build {f['mean']*1000:6.0f} ms ± {f['stddev']*1000:3.0f}")
print(f"NEW --since OLD:    {d['packed']:4d} packages, {size('diff.tar.gz'):>11,} bytes, build {s['mean']*1000:6.0f} ms ± {s['stddev']*1000:3.0f}")
print(f"(OLD itself:                  {size('old.tar.gz'):>11,} bytes)")
print(f"ratio since/whole: size {size('diff.tar.gz')/size('full.tar.gz'):.3f}, time {s['mean']/f['mean']:.3f}")
PY
