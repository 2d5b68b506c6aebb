#!/usr/bin/env bash
# What upstream signature checks cost a build: a CentOS-7-style yum repository on a loopback
# mirror (40 rpms of 2.5 MB incompressible payload, each with V3 RSA/SHA256 header and
# header+payload signatures made by rpmsign with gpg1 --force-v3-sigs, repomd.xml.asc beside
# repomd.xml), built cold (empty cache) with checks on and with --insecure-skip-signatures.
# Target: checks on cost at most 5% more wall time.
# Usage: bash scripts/bench/signatures.sh   (needs: hyperfine rpm rpmsign createrepo-c gnupg gnupg1)
set -euo pipefail
cd "$(dirname "$0")/../.."
for t in hyperfine rpmbuild rpmsign createrepo_c gpg gpg1; do command -v $t >/dev/null || { echo "missing $t"; exit 1; }; done
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
w=$(mktemp -d)
cleanup() { kill "${srv:-}" 2>/dev/null || true; GNUPGHOME=$w/g gpgconf --kill gpg-agent 2>/dev/null || true; rm -rf "$w"; }
trap cleanup EXIT
mkdir -p -m 700 "$w/g" "$w/g1"
export GNUPGHOME=$w/g
gpg -q --batch --passphrase '' --quick-gen-key bench-el7@invalid rsa2048 sign never 2>/dev/null
fpr=$(gpg --batch --with-colons --list-keys bench-el7@invalid | awk -F: '/^fpr/ {print $10; exit}')
gpg -q --batch --pinentry-mode loopback --passphrase '' --export-secret-keys "$fpr" > "$w/secret.gpg"
gpg1 -q --homedir "$w/g1" --batch --import "$w/secret.gpg" 2>/dev/null
gpg -q --batch --armor --export "$fpr" > "$w/el7.asc"
repo=$w/mirror/el/os/x86_64; mkdir -p "$repo/Packages" "$w/top"
pkgs=""
for i in $(seq 1 40); do
  d="$w/build/p$i"; mkdir -p "$d"; head -c 2500000 /dev/urandom > "$d/blob"
  cat > "$w/top/p$i.spec" <<SPEC
Name: p$i
Version: 1.0
Release: 1.el7
Summary: bench
License: MIT
AutoReqProv: no
%description
bench
%install
mkdir -p %{buildroot}/usr/share/p$i
cp $d/blob %{buildroot}/usr/share/p$i/blob
%files
/usr/share/p$i/blob
SPEC
  rpmbuild -bb --quiet --define "_topdir $w/top" --define "_rpmdir $repo/Packages" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" --define "_binary_payload w1.gzdio" \
    --target x86_64 "$w/top/p$i.spec" >/dev/null 2>&1
  pkgs="$pkgs\"p$i\", "
done
rpmsign --define "_gpg_name $fpr" --define "__gpg /usr/bin/gpg1" --define "_gpg_path $w/g1" \
  --define "_gpg_sign_cmd_extra_args --force-v3-sigs" --define "_gpg_digest_algo sha256" \
  --addsign "$repo"/Packages/*.rpm >/dev/null
createrepo_c -q "$repo"
gpg -q --batch --yes --detach-sign --armor -o "$repo/repodata/repomd.xml.asc" "$repo/repodata/repomd.xml"
python3 scripts/bench/slow_http.py "$w/mirror" "$w/port" 0 & srv=$!
while [ ! -s "$w/port" ]; do sleep 0.1; done
url="http://127.0.0.1:$(cat "$w/port")"
cat > "$w/m.toml" <<TOML
name = "bench"
distro = "el7bench"
family = "rpm"
arch = "x86_64"
os_release = { id = "centos", version_id = "7" }
packages = [${pkgs%, }]
[[repository]]
name = "os"
path = "el/os/x86_64"
mirrors = ["$url"]
keys = [{ file = "el7.asc", fingerprint = "$fpr", legacy = true }]
TOML
"$bin" build --manifest "$w/m.toml" --no-base --cache-dir "$w/c0" -o "$w/check.tar.gz" >/dev/null
echo "== 40 V3-signed rpms, $(du -sh "$repo/Packages" | cut -f1), cold cache, loopback mirror"
hyperfine -N --warmup 1 --runs 30 --export-json "$w/h.json" \
  --prepare "rm -rf $w/c1 $w/o1" -n "checks on" "$bin build --manifest $w/m.toml --no-base --cache-dir $w/c1 -o $w/o1/b.tar.gz" \
  --prepare "rm -rf $w/c2 $w/o2" -n "checks off" "$bin build --manifest $w/m.toml --no-base --cache-dir $w/c2 -o $w/o2/b.tar.gz --insecure-skip-signatures" \
  2>&1 | grep -v -i -E "warning|outlier|^ *$" || true
python3 - "$w/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
on, off = r["checks on"]["median"], r["checks off"]["median"]
print(f"median: checks on {on*1000:.0f} ms, off {off*1000:.0f} ms: ratio {on/off:.3f} (target <= 1.05)")
PY
