#!/usr/bin/env bash
# undo against apt on the same work, on the real undo slice (scripts/test-roots.sh): the plain
# bookworm root with systemd-timesyncd; a bundle built --target it (ntpsec + libssl3 from
# bookworm, -updates and -security) --rollback, installed with --role server. Then, on a fresh
# copy each time, the node is put back:
#   moa-bundle undo                         (files, purge of what came, old versions back)
#   apt-get install --allow-downgrades libssl3=OLD systemd-timesyncd=OLD, from a flat
#   repository of the same debs inside the root, then apt-get purge --autoremove ntpsec
#   ntpsec-ntpdate (the same end state in two commands)
# Reports the bundle's size with and without --rollback, each time (RUNS runs) and the ratio.
# Runs as root (chroot); touches nothing outside its work directory.
# Usage: bash scripts/bench/undo.sh   (MOA_BIN=path compares another build; RUNS=5)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "undo.sh: run as root (chroot into the test root)"; exit 1; }
roots=target/test-roots
[ -f "$roots/bookworm-undo-mirror/.complete" ] || { echo "undo.sh: run scripts/test-roots.sh first"; exit 1; }
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
runs=${RUNS:-5}
w=$(mktemp -d /dev/shm/moa-bench-undo.XXXXXX 2>/dev/null || mktemp -d)
port=$((20000 + RANDOM % 20000))
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$roots/bookworm-undo-mirror" >/dev/null 2>&1 &
server=$!
trap 'kill $server; rm -rf "$w"' EXIT
sleep 0.5
sed 's/^packages = \["ntpsec"\]/packages = ["ntpsec", "libssl3"]/' manifests/debian12.toml >"$w/m.toml"
cp -r manifests/keys "$w/keys"
export XDG_CACHE_HOME=$w/cache
fresh() { rm -rf "$w/root" && mkdir "$w/root" && tar --numeric-owner -C "$w/root" -xf "$roots/bookworm-undo.tar"; }
fresh
"$bin" probe --root "$w/root" -o "$w/node.json"
mirrors=(--mirror "debian=http://127.0.0.1:$port/debian" --mirror "security=http://127.0.0.1:$port/debian-security")
"$bin" build --manifest "$w/m.toml" "${mirrors[@]}" --target "$w/node.json" --rollback -o "$w/kit.tar.gz" >/dev/null 2>&1
"$bin" build --manifest "$w/m.toml" "${mirrors[@]}" --target "$w/node.json" -o "$w/plain.tar.gz" >/dev/null 2>&1
now() { date +%s.%N; }
installed() { fresh && "$bin" install "$w/kit.tar.gz" --root "$w/root" --role server >/dev/null 2>&1; }
moa=() apt=()
for _ in $(seq "$runs"); do
  installed
  s=$(now) && "$bin" undo --root "$w/root" >/dev/null 2>&1 && e=$(now)
  moa+=("$(echo "$e - $s" | bc)")
  installed
  kit=$w/root/srv/kit
  mkdir -p "$kit" && tar -xzf "$w/kit.tar.gz" -C "$kit" --strip-components=2 --wildcards '*/rollback/*'
  (cd "$kit" && apt-ftparchive packages . >Packages)
  echo "deb [trusted=yes] file:/srv/kit ./" >"$w/root/etc/apt/sources.list"
  printf '#!/bin/sh\nexit 101\n' >"$w/root/usr/sbin/policy-rc.d" && chmod 755 "$w/root/usr/sbin/policy-rc.d"
  chroot "$w/root" apt-get -qq -o APT::Sandbox::User=root update 2>/dev/null
  ssl=$(dpkg-deb -f "$kit"/libssl3_*.deb Version) tsd=$(dpkg-deb -f "$kit"/systemd-timesyncd_*.deb Version)
  a="env DEBIAN_FRONTEND=noninteractive apt-get -qq -y -o APT::Sandbox::User=root"
  s=$(now)
  chroot "$w/root" $a --allow-downgrades install "libssl3=$ssl" "systemd-timesyncd=$tsd" >/dev/null 2>&1
  chroot "$w/root" $a purge --autoremove ntpsec ntpsec-ntpdate >/dev/null 2>&1
  e=$(now)
  chroot "$w/root" dpkg-query -W ntpsec >/dev/null 2>&1 && { echo "undo.sh: apt left ntpsec installed"; exit 1; }
  apt+=("$(echo "$e - $s" | bc)")
done
python3 - "$(stat -c %s "$w/kit.tar.gz")" "$(stat -c %s "$w/plain.tar.gz")" "${moa[*]}" "${apt[*]}" <<'PY'
import statistics, sys
kit, plain = int(sys.argv[1]), int(sys.argv[2])
moa = [float(x) for x in sys.argv[3].split()]
apt = [float(x) for x in sys.argv[4].split()]
print(f"bundle --rollback: {kit} bytes, without: {plain} bytes (+{kit - plain} bytes, +{100 * (kit - plain) / plain:.1f}%)")
m, a = statistics.mean(moa), statistics.mean(apt)
print(f"moa-bundle undo:               {m * 1000:.0f} ms ± {statistics.pstdev(moa) * 1000:.0f} ({len(moa)} runs)")
print(f"apt-get install =OLD + purge:  {a * 1000:.0f} ms ± {statistics.pstdev(apt) * 1000:.0f}")
print(f"ratio undo/apt: {m / a:.2f}")
PY
