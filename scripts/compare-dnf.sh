#!/usr/bin/env bash
# Same answer as dnf? Seeded random requests on the real CentOS 7.9 os primary (tests/fixtures:
# 10,072 packages, a complete repository), each resolved by moa-bundle (`resolve --no-base
# --only`: the full closure on an empty node) and by libsolv, the solver inside dnf (`testsolv`
# on a .solv made by rpmmd2solv from the same primary, `job install name P` for each root).
# Each set is then one of:
#   exact            the same packages (name, epoch:version-release, arch)
#   same-refusal     both refuse it (no answer exists)
#   valid-different  another answer, which libsolv accepts: installing exactly moa-bundle's
#                    packages (`job install pkg NEVRA`) needs nothing more and breaks nothing
#   invalid          moa-bundle's packages are not a closed, conflict-free set, or only one
#                    of the two finds an answer
#
#        [MOA_BIN=…] scripts/compare-dnf.sh --cs9 [SEED] [SETS]
#        the same on the real CentOS Stream 9 AppStream repository (tests/fixtures: 17,649
#        packages with weak dependencies and module streams), judged by real dnf. Its BaseOS is
#        not in the fixtures, so a node stands in: a real rpm root (rpm --justdb) with one stub
#        package, built with rpmbuild, that provides every capability and file AppStream needs
#        and does not have (scripts/compare-dnf-cs9.py). moa-bundle resolves `--target` that
#        node (probe) with `best = true`; dnf runs `--installroot` on it with EL9's best=True,
#        install_weak_deps=0, the repository's modules.yaml (no default streams, so modular
#        packages are hidden) and --assumeno. Roots are drawn from the non-modular names.
#        valid-different: `dnf install` of moa-bundle's packages by NEVRA installs exactly those.
# Usage: [MOA_BIN=…] scripts/compare-dnf.sh [--cs9] [SEED] [SETS]   (default 1 and 30 sets each
#        of 1, 10, 50 roots; MOA_BIN compares another build, e.g. a baseline)
#        (needs: libsolv-tools createrepo-c, and rpm for --cs9; no network)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=centos7; if [ "${1:-}" = --cs9 ]; then mode=cs9; shift; fi
seed=${1:-1}; sets=${2:-30}
for t in rpmmd2solv rpms2solv testsolv createrepo_c rpmbuild rpm gpg; do
  command -v $t >/dev/null || { echo "missing $t: apt-get install libsolv-tools createrepo-c rpm gnupg"; exit 1; }
done
. scripts/bench/fixtures.sh
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
w=$(mktemp -d); if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$w"' EXIT; else echo "workdir $w (KEEP)"; fi
if [ $mode = centos7 ]; then
  centos7_mirror "$w"
  primary=$w/m/7.9.2009/os/x86_64/repodata/$CENTOS7_PRIMARY
  zcat "$primary" | rpmmd2solv > "$w/os.solv"
  python3 -c 'import gzip, re, sys; print("\n".join(sorted({m[0] for m in re.findall(
    r"<package type=\"rpm\">\s*<name>([^<]*)</name>\s*<arch>(x86_64|noarch)</arch>", gzip.open(sys.argv[1]).read().decode())})))' \
    "$primary" > "$w/names"
  moa_args=(--distro centos7 --mirror "file://$w/m" --cache-dir "$w/c" --no-base)
  what="CentOS 7.9 os primary"
else
  fx=$(fixtures)/centos-stream9-appstream-x86_64
  python3 scripts/compare-dnf-cs9.py "$fx/repodata" "$w"
  rpmbuild --quiet -bb --define "_topdir $w/rpmbuild" "$w/stub.spec" >/dev/null
  stub=$(ls "$w"/rpmbuild/RPMS/x86_64/cs9-baseos-stub-*.rpm)
  mkdir -p "$w/node/etc"
  printf 'NAME="CentOS Stream"\nID=centos\nVERSION_ID="9"\n' > "$w/node/etc/os-release"
  rpm --root "$w/node" --dbpath /var/lib/rpm --initdb
  rpm --root "$w/node" --dbpath /var/lib/rpm -i --justdb --nodeps --nosignature "$stub"
  "$bin" probe --root "$w/node" -o "$w/node.json" >/dev/null
  # The manifest must pin a key; AppStream publishes no repomd.xml.asc, so any key will do.
  mkdir -m 700 "$w/g"
  gpg --batch --quiet --homedir "$w/g" --passphrase '' --quick-gen-key cmp@invalid ed25519 sign never 2>/dev/null
  gpg --batch --quiet --homedir "$w/g" --armor --export cmp@invalid > "$w/k.asc"
  fpr=$(gpg --batch --homedir "$w/g" --with-colons --list-keys cmp@invalid | awk -F: '/^fpr/ {print $10; exit}')
  gpgconf --homedir "$w/g" --kill gpg-agent 2>/dev/null || true
  printf '%s\n' 'name = "cmp"' 'distro = "cs9"' 'family = "rpm"' 'arch = "x86_64"' 'best = true' \
    'os_release = { id = "centos", version_id = "9" }' 'packages = ["nodejs"]' '[[repository]]' 'name = "appstream"' \
    'path = "."' "mirrors = [\"file://$fx\"]" "keys = [{ file = \"k.asc\", fingerprint = \"$fpr\" }]" > "$w/m.toml"
  moa_args=(--manifest "$w/m.toml" --cache-dir "$w/c" --target "$w/node.json")
  what="CentOS Stream 9 AppStream, BaseOS as one stub"
  oracle="dnf:$fx"
  mkdir -p "$w/h"; echo "%_dbpath /var/lib/rpm" > "$w/h/.rpmmacros"
fi
"$bin" resolve "${moa_args[@]}" >/dev/null 2>&1 || true
python3 - "$bin" "$w" "$seed" "$sets" "$what" "${oracle:-testsolv}" "${moa_args[@]}" <<'PY'
import json, os, random, subprocess, sys
from collections import Counter
bin, w, seed, sets, what, oracle = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
moa_args = sys.argv[7:]
names = open(f"{w}/names").read().split()
system = "repo system 0 empty\n"

def moa(roots):
    out = subprocess.run([bin, "resolve", *moa_args, "--offline", "--only", "--name", "cmp", "--json", *roots],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return {f'{p["name"]}-{p["version"]}.{p["arch"]}' for p in json.loads(out.stdout)["packages"]}

def libsolv(jobs):
    case = f"{w}/case.t"
    with open(case, "w") as f:
        # dnf with install_weak_deps=0, as moa-bundle packs no weak dependency.
        f.write(f"{system}repo os 0 solv os.solv\nsystem x86_64 rpm system\nsolverflags ignorerecommended\n")
        f.writelines(f"job {j}\n" for j in jobs)
        f.write("result transaction,problems <inline>\n")
    out = subprocess.run(["testsolv", case], capture_output=True, text=True, cwd=w).stdout
    if any(l.startswith("+problem") for l in out.splitlines()):
        return None
    return {l[len("+install "):].removesuffix("@os") for l in out.splitlines() if l.startswith("+install ")}

def dnf(args):
    """Real dnf (EL9's best=True, no weak dependencies) on the node root: what `dnf install ARGS`
    would install, or None when it refuses."""
    out = subprocess.run(["dnf", "--installroot", f"{w}/node", "--releasever", "9", "--forcearch", "x86_64",
                          "--setopt=reposdir=/nonexistent", f"--repofrompath=t,file://{oracle[4:]}",
                          "--setopt=t.gpgcheck=0", "--setopt=module_platform_id=platform:el9",
                          f"--setopt=cachedir={w}/dnf-cache", "--setopt=install_weak_deps=0", "--setopt=best=True",
                          "--assumeno", "install", *args],
                         capture_output=True, text=True, env={**os.environ, "HOME": f"{w}/h"})
    text = out.stdout + out.stderr
    if "Transaction Summary" not in text:
        return None
    got, section, words = set(), "", []
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            section, words = line, []
        elif not line.startswith(" "):
            section, words = "", []
        elif section in ("Installing:", "Installing dependencies:"):
            # A long name takes a line of its own, its columns follow on the next.
            words += line.split()
            if len(words) >= 4:
                n, arch, version = words[:3]
                got.add(f"{n}-{version}.{arch}")
                words = []
    return got

def answer(roots):
    if oracle.startswith("dnf:"):
        return dnf(roots)
    return libsolv([f"install name {r}" for r in roots])

def accepts(ours):
    """Whether the oracle installs exactly moa-bundle's packages, asked for them by NEVRA."""
    if oracle.startswith("dnf:"):
        return dnf(sorted(ours)) == ours
    return libsolv([f"install pkg {p}@os" for p in sorted(ours)]) == ours

peer = "dnf" if oracle.startswith("dnf:") else "libsolv"
rng = random.Random(seed)
total = Counter()
for size in (1, 10, 50):
    counts = Counter()
    for _ in range(sets):
        roots = rng.sample(names, size)
        ours, theirs = moa(roots), answer(roots)
        if ours is None and theirs is None:
            kind = "same-refusal"
        elif ours == theirs:
            kind = "exact"
        elif ours is None or theirs is None:
            kind = "invalid"
            print(f"  {size:2} roots, invalid: only {peer if ours is None else 'moa-bundle'} finds an answer: {' '.join(roots)}")
        else:
            # libsolv judges moa-bundle's answer: exactly those packages, nothing more needed.
            kind = "valid-different" if accepts(ours) else "invalid"
            print(f"  {size:2} roots, {kind}: moa only {sorted(ours - theirs)[:4]}, {peer} only {sorted(theirs - ours)[:4]}; roots: {' '.join(roots)}")
        counts[kind] += 1
    total.update(counts)
    print(f"{size:2} roots x {sets}: " + ", ".join(f"{k} {counts[k]}" for k in ("exact", "same-refusal", "valid-different", "invalid")))
n = sum(total.values())
print(f"all {n} sets (seed {seed}, {what}, {len(names)} x86_64/noarch names): "
      + ", ".join(f"{k} {total[k]}" for k in ("exact", "same-refusal", "valid-different", "invalid"))
      + f"; exact or same refusal {100 * (total['exact'] + total['same-refusal']) / n:.0f}%")
PY
