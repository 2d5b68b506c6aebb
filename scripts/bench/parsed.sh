#!/usr/bin/env bash
# The parsed-index cache on real-size metadata, against the peers' own caches, in one
# interleaved hyperfine run per archive (release build):
#   CentOS 7.9 os primary (tests/fixtures: 28 MB of XML, 10,072 packages), resolve ntp,
#     moa --offline without / with parsed entries   vs  libsolv's testsolv on a prepared .solv
#   Debian 12 bookworm main (the real, signed Packages.xz of target/test-roots, made by
#     scripts/test-roots.sh), resolve mariadb-server for the plain debootstrap root,
#     moa --offline --target without / with parsed entries
#     vs  apt-get install --print-uris with the same index in its lists and pkgcache.bin built
# Usage: bash scripts/bench/parsed.sh     (needs: hyperfine libsolv-tools createrepo-c apt)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/fixtures.sh
for t in hyperfine rpmmd2solv testsolv createrepo_c apt-get; do
  command -v $t >/dev/null || { echo "missing $t: apt-get install hyperfine libsolv-tools createrepo-c"; exit 1; }
done
roots=target/test-roots
[ -f "$roots/bookworm-mirror/.complete" ] || { echo "no $roots: run scripts/test-roots.sh"; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/moa-bundle
w=$(mktemp -d); keep() { [ -n "${KEEP:-}" ] && echo "kept $w" >&2 || rm -rf "$w"; }; trap keep EXIT

# CentOS 7.9: the mirror layout resolve.sh uses.
primary=$CENTOS7_PRIMARY
centos7_mirror "$w"
zcat "$w/m/7.9.2009/os/x86_64/repodata/$primary" | rpmmd2solv > "$w/os.solv"
el="$bin resolve --distro centos7 --mirror file://$w/m --cache-dir $w/el --offline"
"$bin" resolve --distro centos7 --mirror "file://$w/m" --cache-dir "$w/el" >/dev/null 2>&1

# Debian 12: the test mirror's bookworm suite, the plain root's profile and dpkg status.
port=$((20000 + RANDOM % 20000))
(cd "$roots/bookworm-mirror" && exec python3 -m http.server -b 127.0.0.1 $port >/dev/null 2>&1) &
server=$!; trap 'kill $server; keep' EXIT; sleep 1
url=http://127.0.0.1:$port/
mkdir -p "$w/root" && tar -C "$w/root" --numeric-owner -xf "$roots/bookworm-plain.tar" ./var/lib/dpkg ./etc/os-release ./usr/lib/os-release 2>/dev/null || true
"$bin" probe --root "$w/root" -o "$w/node.json" >/dev/null
# The built-in manifest with its first repository alone, bookworm only (no -updates, no
# security): what the test mirror holds.
python3 - "$w/deb.toml" <<'PY'
import re, sys
text = open("manifests/debian12.toml").read().split("\n[time]")[0]
head, *repos = text.split("\n[[repository]]")
base = repos[-1][repos[-1].index("\n# What every"):]
first = repos[0].replace('suites = ["bookworm", "bookworm-updates"]', 'suites = ["bookworm"]')
head = re.sub(r"(?m)^packages = .*$", 'packages = ["mariadb-server"]', head)
head = re.sub(r"(?m)^optional = .*$", "optional = []", head)
open(sys.argv[1], "w").write(head + "\n[[repository]]" + first + base + "\n")
PY
ln -s "$PWD/manifests/keys" "$w/keys"
deb="$bin resolve --manifest $w/deb.toml --target $w/node.json --mirror $url --cache-dir $w/deb --offline"
"$bin" resolve --manifest "$w/deb.toml" --target "$w/node.json" --mirror "$url" --cache-dir "$w/deb" >/dev/null
a=$w/apt; mkdir -p "$a/lists/partial" "$a/cache" "$a/etc" "$a/parts"
echo "deb [trusted=yes] $url bookworm main" > "$a/etc/sources.list"
cat > "$a/apt.conf" <<CONF
Dir::Etc::SourceList "$a/etc/sources.list"; Dir::Etc::SourceParts "$a/etc"; Dir::State::Lists "$a/lists";
Dir::Etc::Parts "$a/parts";
Dir::State::status "$w/root/var/lib/dpkg/status"; Dir::Cache "$a/cache"; APT::Sandbox::User "root";
Debug::NoLocking "true"; Acquire::Languages "none";
CONF
export APT_CONFIG=$a/apt.conf
apt-get update -qq >/dev/null
apt-get install -qq --print-uris mariadb-server >/dev/null   # builds pkgcache.bin
entries=$(xz -dc "$roots/bookworm-mirror/dists/bookworm/main/binary-amd64/Packages.xz" | grep -c '^Package: ')
size=$(stat -c %s "$roots/bookworm-mirror/dists/bookworm/main/binary-amd64/Packages.xz")

echo "== CentOS 7.9 os primary (28 MB XML, 10,072 packages), resolve ntp; Debian 12 bookworm main ($entries entries, Packages.xz $((size / 1024)) KiB), resolve mariadb-server"
hyperfine -N --warmup 2 --runs 15 --export-json "$w/h.json" \
  -n "el: moa --offline, parsing" --prepare "sh -c 'rm -f $w/el/parsed-v1/*'" "$el" \
  -n "el: moa --offline, parsed cache" --prepare true "$el" \
  -n "el: testsolv on .solv" --prepare true "sh -c 'cd $w && testsolv ntp.testcase >/dev/null || true'" \
  -n "deb: moa --offline --target, parsing" --prepare "sh -c 'rm -f $w/deb/parsed-v1/*'" "$deb" \
  -n "deb: moa --offline --target, parsed cache" --prepare true "$deb" \
  -n "deb: apt-get --print-uris, pkgcache" --prepare true "apt-get install -qq --print-uris mariadb-server" \
  2>&1 | grep -v -i -E "warning|outlier|^ *$"
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
python3 - "$w/h.json" "$(rss $el)" "$(rss $deb)" "$(rss apt-get install -qq --print-uris mariadb-server)" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
for k, v in r.items():
    print(f"{k:45} {v*1000:7.1f} ms (median)")
el_parse, el_warm, solv = r["el: moa --offline, parsing"], r["el: moa --offline, parsed cache"], r["el: testsolv on .solv"]
d_parse, d_warm, apt = r["deb: moa --offline --target, parsing"], r["deb: moa --offline --target, parsed cache"], r["deb: apt-get --print-uris, pkgcache"]
print(f"el:  parsed cache / parsing {el_warm/el_parse:.2f}; moa warm / testsolv {el_warm/solv:.2f}x")
print(f"deb: parsed cache / parsing {d_warm/d_parse:.2f}; moa warm / apt-get {d_warm/apt:.2f}x")
print(f"peak RSS: el moa warm {int(sys.argv[2])//1024} MB; deb moa warm {int(sys.argv[3])//1024} MB, apt-get {int(sys.argv[4])//1024} MB")
PY
