#!/usr/bin/env bash
# Registry traffic and speed (issue 13): Debian's docker-registry on 127.0.0.1 (unpacked by
# scripts/test.sh), two real bundles of the same manifest a number of updates apart (Debian 12's
# bookworm alone, then with updates and security, as scripts/bench/since.sh builds them). Pushes
# OLD, then NEW, and reports the bytes NEW's push uploaded against its size (the packages both
# hold are blobs the registry has); then push and pull time (hyperfine) against skopeo copying
# the same artifact registry-to-registry and to an OCI layout.
# Usage: bash scripts/bench/oci.sh [PACKAGE…]   (needs: hyperfine skopeo; network once)
set -euo pipefail
cd "$(dirname "$0")/../.."
for t in hyperfine skopeo; do command -v $t >/dev/null || { echo "missing $t: apt-get install $t"; exit 1; }; done
reg=target/test-debs/registry/x/usr/bin/docker-registry
[ -x "$reg" ] || { echo "missing $reg: run bash scripts/test.sh once"; exit 1; }
req=("$@"); [ ${#req[@]} -gt 0 ] || req=(mariadb-server)
cargo build --release --quiet
bin=$PWD/target/release/moa-bundle
w=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n' "$w/data" "$port" > "$w/reg.yml"
"$reg" serve "$w/reg.yml" > "$w/reg.log" 2>&1 & regpid=$!
trap 'kill $regpid 2>/dev/null; rm -rf "$w"' EXIT
. scripts/bench/debian12.sh
debian12_manifest "$w" "${req[@]}"
debian12_point_release "$w"
b="$bin build --no-installer --cache-dir $w/cache"
$b --manifest "$w/old.toml" -o "$w/old/b.tar.gz" >/dev/null 2>&1
$b --manifest "$w/new.toml" -o "$w/new/b.tar.gz" >/dev/null 2>&1
r="127.0.0.1:$port/moa/bench"
"$bin" push "$w/old/b.tar.gz" "oci://$r:old" --plain-http --json > "$w/old.json"
"$bin" push "$w/new/b.tar.gz" "oci://$r:new" --plain-http --json > "$w/new.json"
hyperfine -N --warmup 1 --runs 5 --export-json "$w/h.json" \
  -n "moa push (all blobs present)" --prepare true "$bin push $w/new/b.tar.gz oci://$r:again --plain-http" \
  -n "skopeo copy registry→registry" --prepare true "skopeo copy -q --src-tls-verify=false --dest-tls-verify=false docker://$r:new docker://$r:copy" \
  -n "moa pull" --prepare "rm -rf $w/pulled" "$bin pull oci://$r:new -o $w/pulled --plain-http" \
  -n "skopeo copy registry→oci layout" --prepare "rm -rf $w/layout" "skopeo copy -q --src-tls-verify=false docker://$r:new oci:$w/layout:new" \
  >/dev/null
python3 - "$w" <<'PY'
import json, os, sys
w = sys.argv[1]
o, n = json.load(open(f"{w}/old.json")), json.load(open(f"{w}/new.json"))
size = os.path.getsize(f"{w}/new/b.tar.gz")
print(f"push OLD: {o['uploaded_bytes']:>11,} bytes uploaded ({o['layers']} layers)")
print(f"push NEW: {n['uploaded_bytes']:>11,} bytes uploaded, {n['reused_bytes']:,} already there; NEW is {size:,} bytes "
      f"({n['uploaded_bytes']/size:.2f} of it sent)")
r = {x["command"]: x for x in json.load(open(f"{w}/h.json"))["results"]}
for k, x in r.items():
    print(f"  {k:<34} {x['mean']*1000:7.0f} ms ± {x['stddev']*1000:4.0f}")
pp, sp = r["moa pull"]["mean"], r["skopeo copy registry→oci layout"]["mean"]
print(f"ratio moa pull / skopeo copy to a layout: {pp/sp:.2f}")
PY
