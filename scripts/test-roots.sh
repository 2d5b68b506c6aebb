#!/usr/bin/env bash
# Real Debian roots and a real archive slice for the tests on real nodes (tests/node/real_nodes.rs).
#
# Made once with debootstrap from the Debian archive and kept as tarballs in the user's cache
# directory, outside the clone, so later runs on a fresh clone reuse them; linked into the
# project as target/test-roots. For each release (bookworm, trixie):
#   <rel>-plain.tar      debootstrap's default variant: priority required + important, what every
#                        Debian install has
#   <rel>-minbase.tar    --variant=minbase: required only, the smallest root apt runs on
#   <rel>-cron.tar       minbase + cron
#   <rel>-timesyncd.tar  minbase + systemd-timesyncd (the daemon the bundle replaces)
#   <rel>-mirror/        the release's real InRelease and main/binary-amd64/Packages.xz, as the
#                        archive publishes them (signed by Debian's keys), and the pool files of
#                        ntpsec, ntpsec-ntpdate and cron with everything they need on a minbase
#                        root: a loopback mirror serves it to `moa-bundle build`.
# Nothing here runs on this machine's own system: apt-get runs inside a throwaway copy of the
# minbase root (daemons kept from starting by policy-rc.d), and only downloads.
set -euo pipefail
cd "$(dirname "$0")/.."

recipe=v1 # bump when what is made here changes
cache=${MOA_ROOTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/moa-bundle/test-roots-$recipe}
archive=${MOA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$cache" target
ln -sfn "$cache" target/test-roots

say() { echo "test-roots.sh: $*" >&2; }

# debootstrap into a temporary directory, then one tarball (written beside, then renamed).
make_root() { # release kind debootstrap-args...
  local rel=$1 kind=$2 out="$cache/$1-$2.tar"
  shift 2
  [ -s "$out" ] && return 0
  local dir
  dir=$(mktemp -d "$cache/.make-XXXXXX")
  say "debootstrap $rel ($kind), once: about a minute"
  mkdir -p "$cache/debs-$rel"
  debootstrap --cache-dir="$cache/debs-$rel" "$@" "$rel" "$dir" "$archive" >"$dir.log" 2>&1 ||
    { say "debootstrap $rel ($kind) failed, see $dir.log"; tail -5 "$dir.log" >&2; return 1; }
  tar --numeric-owner -C "$dir" -cf "$out.tmp" . && mv "$out.tmp" "$out"
  rm -rf "$dir" "$dir.log"
}

# A minbase root with more packages, installed by the root's own apt-get from the archive
# (debootstrap's --include does not order trixie's Pre-Depends and fails on systemd).
make_extra() { # release kind packages...
  local rel=$1 kind=$2 out="$cache/$1-$2.tar"
  shift 2
  [ -s "$out" ] && return 0
  say "$rel ($kind): minbase + $*, once"
  local dir
  dir=$(mktemp -d "$cache/.make-XXXXXX")
  tar -C "$dir" -xf "$cache/$rel-minbase.tar"
  in_root "$dir" install "$@"
  chroot "$dir" apt-get -qq clean
  rm -rf "$dir"/var/lib/apt/lists/* "$dir/usr/sbin/policy-rc.d"
  tar --numeric-owner -C "$dir" -cf "$out.tmp" . && mv "$out.tmp" "$out"
  rm -rf "$dir"
}

# apt-get in a throwaway root, from the archive, no service started.
in_root() { # dir apt-get-args...
  local dir=$1
  shift
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d" && chmod 755 "$dir/usr/sbin/policy-rc.d"
  local codename
  codename=$(. "$dir/etc/os-release" && echo "$VERSION_CODENAME")
  echo "deb $archive $codename main" >"$dir/etc/apt/sources.list"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  chroot "$dir" apt-get -qq -o APT::Sandbox::User=root update
  chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get -qq -y -o APT::Sandbox::User=root --no-install-recommends "$@" >/dev/null
}

# The archive slice: the release's index as published, and the pool files apt downloads to put
# ntpsec, ntpsec-ntpdate and cron on the minbase root.
make_mirror() { # release
  local rel=$1 out="$cache/$1-mirror"
  [ -f "$out/.complete" ] && return 0
  rm -rf "$out" && mkdir -p "$out/dists/$rel/main/binary-amd64"
  say "fetching the $rel index and the pool files of ntpsec and cron, once"
  curl -fsS -o "$out/dists/$rel/InRelease" "$archive/dists/$rel/InRelease"
  curl -fsS -o "$out/dists/$rel/main/binary-amd64/Packages.xz" "$archive/dists/$rel/main/binary-amd64/Packages.xz"
  local dir
  dir=$(mktemp -d "$cache/.mirror-XXXXXX")
  tar -C "$dir" -xf "$cache/$rel-minbase.tar"
  in_root "$dir" --download-only install ntpsec ntpsec-ntpdate cron
  # Each downloaded deb goes to its pool path (the index's Filename of its name and version).
  xz -dc "$out/dists/$rel/main/binary-amd64/Packages.xz" >"$dir/Packages"
  for deb in "$dir"/var/cache/apt/archives/*.deb; do
    local name version file
    name=$(dpkg-deb -f "$deb" Package) version=$(dpkg-deb -f "$deb" Version)
    file=$(awk -v p="$name" -v v="$version" '
      /^Package: / { pk = $2 } /^Version: / { ve = $2 }
      /^Filename: / { if (pk == p && ve == v) { print $2; exit } }' "$dir/Packages")
    [ -n "$file" ] || { say "$name $version is not in the $rel index"; return 1; }
    mkdir -p "$out/$(dirname "$file")" && cp "$deb" "$out/$file"
  done
  rm -rf "$dir"
  touch "$out/.complete"
}

for rel in bookworm trixie; do
  make_root "$rel" plain
  make_root "$rel" minbase --variant=minbase
  make_extra "$rel" cron cron
  make_extra "$rel" timesyncd systemd-timesyncd
  make_mirror "$rel"
done
say "roots ready in $cache"
