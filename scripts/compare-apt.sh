#!/usr/bin/env bash
# Same closure as apt? For each package, compares what `moa-bundle resolve --target` packs with
# what `apt-get -s install --no-install-recommends` would install, both against the same base:
# THIS machine's installed packages, or with --debootstrap a minimal Debian 12 (debootstrap's
# default variant: Priority required + important) made once in target/debroot, or any --root DIR.
# moa-bundle reads the base from a `probe` profile; apt from the same dpkg status file
# (-o Dir::State::status=…). apt-get -s only simulates: nothing is installed anywhere.
# Needs Debian 12 with apt lists (apt-get update) and network access to deb.debian.org.
#
# Usage: scripts/compare-apt.sh [--debootstrap | --root DIR] [PACKAGE…]
#        (default: 20 packages of different shapes)
set -euo pipefail
cd "$(dirname "$0")/.."
root=
case "${1:-}" in
  --debootstrap)
    shift; root=target/debroot
    if [ ! -f "$root/var/lib/dpkg/status" ]; then
      command -v debootstrap >/dev/null || { echo "missing debootstrap: apt-get install debootstrap"; exit 1; }
      echo "making a required+important bookworm root in $root (debootstrap, about a minute)…"
      debootstrap bookworm "$root.tmp" http://deb.debian.org/debian >/dev/null && mv "$root.tmp" "$root"
    fi ;;
  --root) root=$2; shift 2 ;;
esac
status=()
if [ -n "$root" ]; then
  [ -f "$root/var/lib/dpkg/status" ] || { echo "$root has no var/lib/dpkg/status"; exit 1; }
  root=$(realpath "$root")
  # An absolute path (apt reads a relative one under Dir::State), and no binary cache, which
  # apt would otherwise reuse from this machine's own status.
  status=(-o "Dir::State::status=$root/var/lib/dpkg/status" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
  echo "base: $root ($(grep -c '^Status: install ok installed' "$root/var/lib/dpkg/status") packages)"
else
  echo "base: this machine ($(grep -c '^Status: install ok installed' /var/lib/dpkg/status) packages)"
fi
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(ntpsec chrony nginx apache2 postgresql redis-server git vim-nox tmux
  rsync curl openssh-server python3-requests haproxy keepalived nfs-kernel-server samba bind9 squid mariadb-server)
bin=target/release/moa-bundle
cargo build --release --quiet
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp -r manifests/keys "$work/keys"   # the manifest's pinned keys, relative to it
"$bin" probe ${root:+--root "$root"} -o "$work/node.json" 2>/dev/null
same=0; differ=0; offline=
for p in "${pkgs[@]}"; do
  # The built-in debian12 manifest with this one package and no time roles.
  sed -e "s/^packages = .*/packages = [\"$p\"]/" -e 's/^optional = .*/optional = []/' -e '/^\[time\]/,$d' \
    manifests/debian12.toml > "$work/m.toml"
  "$bin" resolve --manifest "$work/m.toml" --target "$work/node.json" $offline --json 2>"$work/err" |
    python3 -c 'import json,sys; [print(x["name"], x["version"]) for x in json.load(sys.stdin)["packages"]]' |
    sort > "$work/moa" || { echo "$p: moa-bundle failed: $(cat "$work/err")"; differ=$((differ+1)); continue; }
  offline=--offline
  apt-get -s "${status[@]}" install --no-install-recommends "$p" 2>/dev/null |
    sed -n 's/^Inst \([^ ]*\) \(\[[^]]*\] \)\{0,1\}(\([^ ]*\) .*/\1 \3/p' | sort > "$work/apt"
  if cmp -s "$work/moa" "$work/apt"; then
    same=$((same+1)); echo "$p: same ($(wc -l < "$work/apt") packages)"
  else
    differ=$((differ+1)); echo "$p: DIFFERENT"; diff "$work/apt" "$work/moa" | sed 's/^</  apt only:/; s/^>/  moa only:/' | grep only || true
  fi
done
echo "same closure as apt: $same of $((same+differ))"
