#!/usr/bin/env bash
# Install speed against the package tools on the same files: 40 debs and 40 rpms of 2.5 MB
# incompressible payload each (100 MB, like real packages) and no scripts, each installed into
# a fresh empty root per run:
#   moa-bundle install BUNDLE --root R            vs  dpkg --root R -i *.deb
#   moa-bundle install BUNDLE --root R --no-scripts  vs  rpm --root R -U --noscripts *.rpm
# moa-bundle's part is what it adds: verify the whole bundle (unpack, sha256, headers), the
# node check, the preflight, then the same tool call.
# Usage: bash scripts/bench/install.sh   (needs: hyperfine dpkg-dev apt-utils rpm createrepo-c)
set -euo pipefail
cd "$(dirname "$0")/../.."
for t in hyperfine dpkg-deb apt-ftparchive rpmbuild createrepo_c; do command -v $t >/dev/null || { echo "missing $t"; exit 1; }; done
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mkdir -p "$w/deb/pool" "$w/deb/dists/bench/main/binary-amd64" "$w/rpm/Packages" "$w/top"
pkgs=""
for i in $(seq 1 40); do
  d="$w/build/p$i"; mkdir -p "$d/DEBIAN" "$d/usr/share/p$i"
  head -c 2500000 /dev/urandom > "$d/usr/share/p$i/blob"
  printf 'Package: p%s\nVersion: 1.0\nArchitecture: amd64\nMaintainer: b <b@invalid>\nDescription: bench\n' $i > "$d/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz -z0 -b "$d" "$w/deb/pool/p${i}_1.0_amd64.deb" >/dev/null
  cat > "$w/top/p$i.spec" <<SPEC
Name: p$i
Version: 1.0
Release: 1
Summary: bench
License: MIT
AutoReqProv: no
%description
bench
%install
mkdir -p %{buildroot}/usr/share/p$i
cp $d/usr/share/p$i/blob %{buildroot}/usr/share/p$i/blob
%files
/usr/share/p$i/blob
SPEC
  rpmbuild -bb --quiet --define "_topdir $w/top" --define "_rpmdir $w/rpm/Packages" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" --define "_binary_payload w1.gzdio" \
    --define "__gpg /usr/bin/gpg" --target x86_64 "$w/top/p$i.spec" >/dev/null 2>&1
  pkgs="$pkgs\"p$i\", "
done
(cd "$w/deb" && apt-ftparchive packages pool > dists/bench/main/binary-amd64/Packages)
(cd "$w/deb/dists/bench" && apt-ftparchive -o APT::FTPArchive::Release::Suite=bench -o APT::FTPArchive::Release::Codename=bench release . > "$w/Release" && mv "$w/Release" Release)
createrepo_c -q "$w/rpm"
manifest() { # family arch repo-lines
  printf 'name = "bench"\ndistro = "bench"\nfamily = "%s"\narch = "%s"\nos_release = { id = "bench", version_id = "1" }\npackages = [%s]\n[[repository]]\nname = "bench"\n%s\nmirrors = ["file://%s"]\n' \
    "$1" "$2" "${pkgs%, }" "$3" "$4"
}
manifest deb amd64 'suites = ["bench"]
components = ["main"]' "$w/deb" > "$w/deb.toml"
manifest rpm x86_64 'path = "."' "$w/rpm" > "$w/rpm.toml"
"$bin" build --manifest "$w/deb.toml" --no-base -o "$w/deb.tar.gz" --cache-dir "$w/cache" --insecure-skip-signatures >/dev/null 2>&1
"$bin" build --manifest "$w/rpm.toml" --no-base -o "$w/rpm.tar.gz" --cache-dir "$w/cache" --insecure-skip-signatures >/dev/null 2>&1
fresh="sh -c 'rm -rf $w/root && mkdir -p $w/root/etc $w/root/var/lib/dpkg/info $w/root/var/lib/dpkg/updates $w/root/var/log && touch $w/root/var/lib/dpkg/status && printf \"ID=bench\nVERSION_ID=1\n\" > $w/root/etc/os-release'"
echo "== 40 packages, $(du -sh "$w/deb/pool" | cut -f1) each family, fresh root per run"
hyperfine -N --runs 5 --export-json "$w/h.json" \
  -n "dpkg -i" --prepare "$fresh" "dpkg --root=$w/root --log=$w/root/var/log/dpkg.log -i $(echo $w/deb/pool/*.deb)" \
  -n "moa install (deb)" --prepare "$fresh" "$bin install $w/deb.tar.gz --root $w/root" \
  -n "rpm -U --noscripts" --prepare "$fresh" "rpm --root $w/root --dbpath /var/lib/rpm -U --noscripts $(echo $w/rpm/Packages/*.rpm)" \
  -n "moa install (rpm) --no-scripts" --prepare "$fresh" "$bin install $w/rpm.tar.gz --root $w/root --no-scripts" \
  -n "moa verify (deb)" --prepare true "$bin verify $w/deb.tar.gz" \
  >/dev/null 2>&1
python3 - "$w/h.json" <<'PY'
import json, sys
r = {x["command"]: (x["mean"], x["stddev"]) for x in json.load(open(sys.argv[1]))["results"]}
for k, peer in [("moa install (deb)", "dpkg -i"), ("moa install (rpm) --no-scripts", "rpm -U --noscripts"), ("moa verify (deb)", "dpkg -i")]:
    m, p = r[k][0], r[peer][0]
    print(f"  {k:<32} {m*1000:7.0f} ms ± {r[k][1]*1000:4.0f}   {peer:<20} {p*1000:7.0f} ms   ratio {m/p:5.2f}")
PY
