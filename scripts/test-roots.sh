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

# Where a deb of this name and version is in the indexes under $1 (each `<base>/dists/.../Packages`
# decompressed beside it): `<base> <Filename>`, one line per index that lists it.
pool_path() { # out name version
  local f
  for f in "$1"/*/dists/*/main/binary-amd64/Packages; do
    awk -v p="$2" -v v="$3" -v base="${f#"$1"/}" '
      /^Package: / { pk = $2 } /^Version: / { ve = $2 }
      /^Filename: / { if (pk == p && ve == v) { sub(/\/.*/, "", base); print base " " $2; exit } }' "$f"
  done | sort -u
}

# The undo slice (tests/node/real_undo.rs), made at one moment so the two agree:
#   bookworm-undo.tar     the plain root + systemd-timesyncd, from the release (no updates)
#   bookworm-undo-mirror/ the archive as a node with updates sees it: debian/ (bookworm,
#                         bookworm-updates) and debian-security/ (bookworm-security), their
#                         InRelease and Packages.xz as published, and the pool files of ntpsec
#                         and nginx with the updated libssl3, plus the root's own versions of
#                         every package the updates replace (what a rollback kit fetches).
make_undo_slice() {
  local rel=bookworm root="$cache/bookworm-undo.tar" out="$cache/bookworm-undo-mirror"
  [ -f "$out/.complete-2" ] && [ -s "$root" ] && return 0
  say "bookworm undo slice (plain + systemd-timesyncd, the archive with its updates), once"
  rm -rf "$out" "$root"
  local dir security=${archive%/debian}/debian-security
  dir=$(mktemp -d "$cache/.make-XXXXXX")
  tar -C "$dir" -xf "$cache/$rel-plain.tar"
  in_root "$dir" install systemd-timesyncd
  chroot "$dir" apt-get -qq clean
  local keep
  keep=$(mktemp -d "$cache/.make-XXXXXX")
  tar -C "$dir" -cf "$keep/root.tar" .
  # The root as it is kept: no lists, no policy-rc.d (as make_extra leaves its roots).
  mkdir "$keep/root" && tar -C "$keep/root" -xf "$keep/root.tar"
  rm -rf "$keep/root"/var/lib/apt/lists/* "$keep/root/usr/sbin/policy-rc.d"
  tar --numeric-owner -C "$keep/root" -cf "$root.tmp" . && mv "$root.tmp" "$root"
  rm -rf "$keep"
  local suite base
  for suite in bookworm bookworm-updates bookworm-security; do
    case $suite in *-security) base=debian-security url=$security ;; *) base=debian url=$archive ;; esac
    mkdir -p "$out/$base/dists/$suite/main/binary-amd64"
    curl -fsS -o "$out/$base/dists/$suite/InRelease" "$url/dists/$suite/InRelease"
    curl -fsS -o "$out/$base/dists/$suite/main/binary-amd64/Packages.xz" "$url/dists/$suite/main/binary-amd64/Packages.xz"
    xz -dc "$out/$base/dists/$suite/main/binary-amd64/Packages.xz" >"$out/$base/dists/$suite/main/binary-amd64/Packages"
  done
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
    "$archive" "$archive" "$security" >"$dir/etc/apt/sources.list"
  chroot "$dir" apt-get -qq -o APT::Sandbox::User=root update
  chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get -qq -y -o APT::Sandbox::User=root \
    --no-install-recommends --download-only install ntpsec ntpsec-ntpdate libssl3 nginx >/dev/null
  local olds
  olds=$(chroot "$dir" apt-get -s -o APT::Sandbox::User=root upgrade | awk '/^Inst / { gsub(/[][]/, "", $3); print $2 "=" $3 }' | tr '\n' ' ')
  olds="$olds systemd-timesyncd=$(chroot "$dir" dpkg-query -W -f '${Version}' systemd-timesyncd)"
  # shellcheck disable=SC2086 # one word per package
  chroot "$dir" sh -c "cd /var/cache/apt/archives && apt-get -qq -o APT::Sandbox::User=root download $olds"
  local deb name version where
  for deb in "$dir"/var/cache/apt/archives/*.deb; do
    name=$(dpkg-deb -f "$deb" Package) version=$(dpkg-deb -f "$deb" Version)
    where=$(pool_path "$out" "$name" "$version")
    [ -n "$where" ] || { say "$name $version is in none of the indexes"; return 1; }
    while read -r base file; do
      mkdir -p "$out/$base/$(dirname "$file")" && cp "$deb" "$out/$base/$file"
    done <<<"$where"
  done
  rm -f "$out"/*/dists/*/main/binary-amd64/Packages
  rm -rf "$dir"
  touch "$out/.complete" "$out/.complete-2"
}

for rel in bookworm trixie; do
  make_root "$rel" plain
  make_root "$rel" minbase --variant=minbase
  make_extra "$rel" cron cron
  make_extra "$rel" timesyncd systemd-timesyncd
  make_mirror "$rel"
done
make_undo_slice
say "roots ready in $cache"
