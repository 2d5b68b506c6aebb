#!/usr/bin/env bash
# What one read of the bundle costs (issue 19): a signed bundle of 40 rpms of 2.5 MB
# incompressible payload (100 MB), verified on a node that trusts its key:
#   moa-bundle verify --key K BUNDLE     signature, sha256 and every member in one read
#   by hand: minisign -V, sha256sum -c, tar -xzf   three reads of the same file
# and an unpacked copy (what install.sh hands over), now copied into a private directory as it
# is hashed. With MOA_OLD_BIN=PATH (a moa-bundle built before the change) the same work by it,
# which read the bundle twice and hashed the directory in place.
# Usage: bash scripts/bench/verify.sh   (needs: hyperfine rpmbuild createrepo-c minisign)
set -euo pipefail
cd "$(dirname "$0")/../.."
for t in hyperfine rpmbuild createrepo_c minisign sha256sum; do command -v $t >/dev/null || { echo "missing $t"; exit 1; }; done
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mkdir -p "$w/rpm/Packages" "$w/top" "$w/unpacked"
pkgs=""
for i in $(seq 1 40); do
  d="$w/build/p$i"; mkdir -p "$d"
  head -c 2500000 /dev/urandom > "$d/blob"
  printf 'Name: p%s\nVersion: 1.0\nRelease: 1\nSummary: bench\nLicense: MIT\nAutoReqProv: no\n%%description\nbench\n%%install\nmkdir -p %%{buildroot}/usr/share/p%s\ncp %s/blob %%{buildroot}/usr/share/p%s/blob\n%%files\n/usr/share/p%s/blob\n' \
    $i $i "$d" $i $i > "$w/top/p$i.spec"
  rpmbuild -bb --quiet --define "_topdir $w/top" --define "_rpmdir $w/rpm/Packages" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" --define "_binary_payload w1.gzdio" \
    --target x86_64 "$w/top/p$i.spec" >/dev/null 2>&1
  pkgs="$pkgs\"p$i\", "
done
createrepo_c -q "$w/rpm"
printf 'name = "bench"\ndistro = "bench"\nfamily = "rpm"\narch = "x86_64"\nos_release = { id = "bench", version_id = "1" }\npackages = [%s]\n[[repository]]\nname = "bench"\npath = "."\nmirrors = ["file://%s"]\n' \
  "${pkgs%, }" "$w/rpm" > "$w/rpm.toml"
"$bin" key generate "$w/release" >/dev/null
"$bin" build --manifest "$w/rpm.toml" --no-base -o "$w/b.tar.gz" --cache-dir "$w/cache" --insecure-skip-signatures \
  --sign "$w/release.key" >/dev/null 2>&1
tar -xzf "$w/b.tar.gz" -C "$w/unpacked"
dir=$(ls -d "$w"/unpacked/*)
echo "== bundle $(du -h "$w/b.tar.gz" | cut -f1), 40 rpms; unpacked copy $(du -sh "$dir" | cut -f1)"
old=()
if [ -n "${MOA_OLD_BIN:-}" ]; then
  old=(-n "old moa verify --key" "$MOA_OLD_BIN verify $w/b.tar.gz --key $w/release.pub"
       -n "old moa verify DIR" "$MOA_OLD_BIN verify $dir")
fi
hyperfine -N --warmup 1 --runs 10 --export-json "$w/h.json" \
  -n "moa verify --key" "$bin verify $w/b.tar.gz --key $w/release.pub" \
  -n "by hand: minisign -V, sha256sum -c, tar -x" \
    "sh -c 'minisign -Vq -p $w/release.pub -m $w/b.tar.gz && cd $w && sha256sum -c --quiet b.tar.gz.sha256 && rm -rf x && mkdir x && tar -xzf b.tar.gz -C x'" \
  -n "moa verify DIR" "$bin verify $dir" \
  "${old[@]}" >/dev/null 2>&1
python3 - "$w/h.json" <<'PY'
import json, sys
r = {x["command"]: (x["mean"], x["stddev"]) for x in json.load(open(sys.argv[1]))["results"]}
peer = r["by hand: minisign -V, sha256sum -c, tar -x"][0]
for k, (m, s) in r.items():
    print(f"  {k:<44} {m*1000:7.0f} ms ± {s*1000:4.0f}   vs by hand {m/peer:5.2f}")
if "old moa verify --key" in r:
    print(f"  one read / two reads (archive): {r['moa verify --key'][0]/r['old moa verify --key'][0]:.2f}")
    print(f"  private copy / in place (directory): {r['moa verify DIR'][0]/r['old moa verify DIR'][0]:.2f}")
PY
for b in "$bin" ${MOA_OLD_BIN:+"$MOA_OLD_BIN"}; do
  /usr/bin/time -o /dev/stdout -f "  peak RSS %M KB: $b verify --key" "$b" verify "$w/b.tar.gz" --key "$w/release.pub" >/dev/null 2>&1
done
