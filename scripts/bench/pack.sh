#!/usr/bin/env bash
# Pack and verify speed against the peer tools on the same files: 40 debs of 2.5 MB incompressible
# payload (100 MB, like real packages, which are already compressed) in a file:// apt archive.
#   build (cold cache: copy + sha256 + pack)  vs  tar czf (gzip -6) and tar | gzip -1
#   build (warm cache: re-verify + pack)
#   verify (unpack to temp + sha256 of every member)  vs  tar xzf + sha256sum -c
# Usage: bash scripts/bench/pack.sh     (needs: hyperfine dpkg-dev apt-utils)
set -euo pipefail
cd "$(dirname "$0")/../.."
for t in hyperfine dpkg-deb apt-ftparchive; do command -v $t >/dev/null || { echo "missing $t"; exit 1; }; done
cargo build --release --quiet
bin=$PWD/target/release/moa-bundle
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mkdir -p "$w/pool" "$w/dists/bench/main/binary-amd64" "$w/x"
pkgs=""
for i in $(seq 1 40); do
  d="$w/build/p$i"; mkdir -p "$d/DEBIAN" "$d/usr/share/p$i"
  head -c 2500000 /dev/urandom > "$d/usr/share/p$i/blob"
  printf 'Package: p%s\nVersion: 1.0\nArchitecture: amd64\nMaintainer: b <b@invalid>\nDescription: bench\n' $i > "$d/DEBIAN/control"
  dpkg-deb --root-owner-group -Znone -b "$d" "$w/pool/p${i}_1.0_amd64.deb" >/dev/null
  pkgs="$pkgs\"p$i\", "
done
(cd "$w" && apt-ftparchive packages pool > dists/bench/main/binary-amd64/Packages && gzip -kn dists/bench/main/binary-amd64/Packages)
(cd "$w/dists/bench" && apt-ftparchive -o APT::FTPArchive::Release::Suite=bench -o APT::FTPArchive::Release::Codename=bench release . > "$w/Release" && mv "$w/Release" Release)
cat > "$w/bench.toml" <<TOML
name = "bench"
distro = "bench"
family = "deb"
arch = "amd64"
os_release = { id = "debian", version_id = "12" }
packages = [${pkgs%, }]
[[repository]]
name = "bench"
suites = ["bench"]
components = ["main"]
mirrors = ["file://$w"]
TOML
echo "== 40 packages, $(du -sh "$w/pool" | cut -f1) of already-compressed payload"
cd "$w"
hyperfine -N --runs 5 --export-json h.json \
  --prepare "rm -rf $w/cache $w/out" -n "moa-bundle build (cold cache)" "$bin build --manifest bench.toml -o $w/out/b.tar.gz --cache-dir $w/cache --insecure-skip-signatures" \
  -n "moa-bundle build (warm cache)" "$bin build --manifest bench.toml -o $w/out2/b.tar.gz --cache-dir $w/cache-warm --insecure-skip-signatures" \
  -n "tar czf (gzip -6)" "tar czf $w/t.tar.gz pool" \
  -n "tar | gzip -1" "sh -c 'tar cf - pool | gzip -1 > $w/t1.tar.gz'" \
  -n "moa-bundle verify" "$bin verify $w/out2/b.tar.gz" \
  -n "tar xzf + sha256sum -c" "sh -c 'rm -rf $w/x/* && tar xzf $w/out2/b.tar.gz -C $w/x && cd $w/x/bench-bench-amd64 && sha256sum -c --quiet SHA256SUMS'" \
  2>&1 | grep -v -i -E "warning|outlier|^ *$" || true
python3 - h.json <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
t6, t1 = r["tar czf (gzip -6)"], r["tar | gzip -1"]
for k, v in r.items():
    print(f"  {k:<32} {v*1000:7.0f} ms   vs tar czf {v/t6:5.2f}   vs tar|gzip -1 {v/t1:5.2f}")
PY
ls -l "$w/out2/b.tar.gz" "$w/t.tar.gz" | awk '{print "  size", $5, $9}'
