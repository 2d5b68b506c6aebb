#!/usr/bin/env bash
# Same answer as apt? Compares what `moa-bundle resolve --target` packs with what `apt-get -s
# install --no-install-recommends` would install, both against the same base and the same
# lists (bookworm, bookworm-updates and bookworm-security main, fetched now into a private
# directory: this machine's apt state is not touched). The base is a real debootstrap root of
# Debian 12 (debootstrap's default variant, Priority required + important): the suite's
# cached one (scripts/test.sh --setup-only makes it), else one made once in target/debroot,
# or any --root DIR. moa-bundle reads the base from a `probe` profile; apt from the root's
# dpkg status file. apt-get -s only simulates: nothing is installed anywhere.
#
# Two modes:
#   PACKAGE…           each package alone (default: 20 packages of different shapes)
#   --seed S [--sets N]  N seeded random sets (default 30) each of 1, 10 and 50 roots drawn
#                        from the lists' package names; each set is then
#     exact            the same packages and versions
#     same-refusal     both refuse it
#     valid-different  another answer, which apt accepts: `apt-get -s install` of exactly
#                      moa-bundle's packages (name=version) installs nothing more
#     invalid          apt does not accept moa-bundle's packages that way, or only one of the
#                      two finds an answer
# Usage: [MOA_BIN=…] scripts/compare-apt.sh [--debootstrap | --root DIR] [--seed S [--sets N]] [PACKAGE…]
# Needs Debian 12 (apt, python3) and network access to deb.debian.org.
set -euo pipefail
cd "$(dirname "$0")/.."
root=; seed=; sets=30
while [ $# -gt 0 ]; do
  case "$1" in
    --debootstrap) root=target/debroot; shift ;;
    --root) root=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --sets) sets=$2; shift 2 ;;
    *) break ;;
  esac
done
w=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then trap 'echo "kept $w"' EXIT; else trap 'rm -rf "$w"' EXIT; fi
cached=${XDG_CACHE_HOME:-$HOME/.cache}/moa-bundle/test-roots-v1/bookworm-plain.tar
if [ -z "$root" ] && [ -f "$cached" ]; then
  root=$w/root; mkdir "$root"
  tar -xf "$cached" -C "$root" ./var/lib/dpkg ./etc/os-release ./usr/lib/os-release
elif [ -z "$root" ]; then
  root=target/debroot
fi
if [ ! -f "$root/var/lib/dpkg/status" ]; then
  command -v debootstrap >/dev/null || { echo "missing debootstrap: apt-get install debootstrap"; exit 1; }
  echo "making a required+important bookworm root in $root (debootstrap, about a minute)…"
  debootstrap bookworm "$root.tmp" http://deb.debian.org/debian >/dev/null && mv "$root.tmp" "$root"
fi
root=$(realpath "$root")
echo "base: $root ($(grep -c '^Status: install ok installed' "$root/var/lib/dpkg/status") packages)"

# apt on the root's status, with its own lists and cache (built once, reused by every call).
mkdir -p "$w/lists/partial" "$w/cache/archives/partial"
cat > "$w/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
apt_opts=(-o "Dir::State::status=$root/var/lib/dpkg/status" -o "Dir::State::Lists=$w/lists"
  -o "Dir::Cache=$w/cache" -o "Dir::Etc::SourceList=$w/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o APT::Architectures::=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update -qq >/dev/null

if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
"$bin" probe --root "$root" -o "$w/node.json" 2>/dev/null
"$bin" resolve --distro debian12 --target "$w/node.json" --cache-dir "$w/c" --only ntpsec >/dev/null

printf '%s\n' "${apt_opts[@]}" > "$w/apt_opts"
python3 - "$bin" "$w" "$seed" "$sets" "$@" <<'PY'
import json, random, re, subprocess, sys
from collections import Counter
bin, w, seed, sets, named = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
apt_opts = open(f"{w}/apt_opts").read().split("\n")[:-1]

def moa(roots):
    out = subprocess.run([bin, "resolve", "--distro", "debian12", "--target", f"{w}/node.json", "--cache-dir",
                          f"{w}/c", "--offline", "--json", "--name", "compare", "--only", *roots], capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]
    return {(p["name"], p["version"]) for p in json.loads(out.stdout)["packages"]}, None

INST = re.compile(r"^Inst (\S+) (?:\[[^]]*\] )?\((\S+) ")
def apt(args):
    out = subprocess.run(["apt-get", "-s", *apt_opts, "install", "--no-install-recommends", *args],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None, (out.stdout.strip().splitlines()[-1:] + out.stderr.strip().splitlines()[-1:]) or [f"exit {out.returncode}"]
    return {m.groups() for m in map(INST.match, out.stdout.splitlines()) if m}, None

def kind_of(roots):
    (ours, why_ours), (theirs, why_theirs) = moa(roots), apt(roots)
    if ours is None and theirs is None:
        return "same-refusal"
    if ours == theirs:
        return "exact"
    if ours is None or theirs is None:
        print(f"  invalid ({len(roots)} roots): moa-bundle {why_ours or 'answers'}, apt {why_theirs or 'answers'}; roots {' '.join(roots)}")
        return "invalid"
    # apt judges moa-bundle's answer: exactly those packages, nothing more.
    check, _ = apt([f"{n}={v}" for n, v in sorted(ours)])
    kind = "valid-different" if check == ours else "invalid"
    print(f"  {kind} ({len(roots)} roots): apt only {sorted(theirs - ours)[:4]}, moa only {sorted(ours - theirs)[:4]}; roots {' '.join(roots)}")
    return kind

if not seed:
    pkgs = named or ["ntpsec", "chrony", "nginx", "apache2", "postgresql", "redis-server", "git", "vim-nox",
        "tmux", "rsync", "curl", "openssh-server", "python3-requests", "haproxy", "keepalived",
        "nfs-kernel-server", "samba", "bind9", "squid", "mariadb-server"]
    counts = Counter(kind_of([p]) for p in pkgs)
    print(", ".join(f"{k} {counts[k]}" for k in ("exact", "same-refusal", "valid-different", "invalid"))
          + f" of {len(pkgs)}")
    sys.exit(0)

dump = subprocess.run(["apt-cache", *apt_opts, "dumpavail"], capture_output=True, text=True, check=True).stdout
names = sorted({m.group(1) for m in re.finditer(r"^Package: (\S+)$", dump, re.M)})
rng = random.Random(int(seed))
total = Counter()
for size in (1, 10, 50):
    counts = Counter(kind_of(rng.sample(names, size)) for _ in range(sets))
    total.update(counts)
    print(f"{size:2} roots x {sets}: " + ", ".join(f"{k} {counts[k]}" for k in ("exact", "same-refusal", "valid-different", "invalid")))
n = sum(total.values())
print(f"all {n} sets (seed {seed}, Debian 12 lists, {len(names)} names): "
      + ", ".join(f"{k} {total[k]}" for k in ("exact", "same-refusal", "valid-different", "invalid"))
      + f"; exact or same refusal {100 * (total['exact'] + total['same-refusal']) / n:.0f}%")
PY
