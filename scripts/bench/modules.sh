#!/usr/bin/env bash
# Loading the real CentOS Stream 9 AppStream repodata (17,649 packages, 52 MB of primary XML,
# 31 module streams) and resolving against it, against libsolv on the same file:
#   moa-bundle resolve (fetch from file://, parse primary + modules.yaml, filter streams, index,
#   solve one request)  vs  rpmmd2solv (parse primary into a .solv) + testsolv (one install job).
# The request is `nodejs` with nodejs:20 enabled, --no-base; BaseOS is not kept, so both stop
# at the first dependency AppStream does not have: what is measured is the load and the solve.
# Usage: bash scripts/bench/modules.sh   (needs: hyperfine libsolv-tools; the data is tests/fixtures)
set -euo pipefail
cd "$(dirname "$0")/../.."
for t in hyperfine rpmmd2solv testsolv; do command -v $t >/dev/null || { echo "missing $t"; exit 1; }; done
. scripts/bench/fixtures.sh
fx=$(fixtures)/centos-stream9-appstream-x86_64
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
# The manifest must pin a key; AppStream publishes no repomd.xml.asc, so any key will do.
mkdir -m 700 "$w/g"
gpg --batch --quiet --homedir "$w/g" --passphrase '' --quick-gen-key bench@invalid ed25519 sign never 2>/dev/null
gpg --batch --quiet --homedir "$w/g" --armor --export bench@invalid > "$w/k.asc"
fpr=$(gpg --batch --homedir "$w/g" --with-colons --list-keys bench@invalid | awk -F: '/^fpr/ {print $10; exit}')
gpgconf --homedir "$w/g" --kill gpg-agent 2>/dev/null || true
cat > "$w/m.toml" <<TOML
name = "b"
distro = "cs9"
family = "rpm"
arch = "x86_64"
os_release = { id = "centos", version_id = "9" }
packages = ["nodejs"]
modules = ["nodejs:20"]
[[repository]]
name = "appstream"
path = "."
mirrors = ["file://$fx"]
keys = [{ file = "k.asc", fingerprint = "$fpr" }]
TOML
primary=$(ls "$fx"/repodata/*-primary.xml.gz)
zcat "$primary" > "$w/primary.xml"
cat > "$w/job.t" <<T
repo appstream 0 solv $w/as.solv
system x86_64 rpm
job install name nodejs
T
"$bin" resolve --manifest "$w/m.toml" --no-base --cache-dir "$w/c" >/dev/null 2>&1 || true
hyperfine -N --warmup 1 --runs 10 --export-json "$w/h.json" \
  -n "moa-bundle resolve" "sh -c '$bin resolve --manifest $w/m.toml --no-base --offline --cache-dir $w/c >/dev/null 2>&1 || true'" \
  -n "rpmmd2solv + testsolv" "sh -c 'rpmmd2solv < $w/primary.xml > $w/as.solv && testsolv $w/job.t >/dev/null 2>&1 || true'" \
  2>&1 | grep -v -i -E "warning|outlier|^ *$" || true
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
python3 - "$w/h.json" "$(rss sh -c "$bin resolve --manifest $w/m.toml --no-base --offline --cache-dir $w/c >/dev/null 2>&1; true")" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
moa, solv = r["moa-bundle resolve"], r["rpmmd2solv + testsolv"]
print(f"median: moa-bundle {moa*1000:.0f} ms, libsolv {solv*1000:.0f} ms: ratio {moa/solv:.2f} (target <= 1, and <= 500 ms); moa-bundle max RSS {int(sys.argv[2])//1024} MB (target <= 150)")
PY
