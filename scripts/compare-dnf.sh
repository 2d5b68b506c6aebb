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
# Usage: [MOA_BIN=…] scripts/compare-dnf.sh [SEED] [SETS]   (default 1 and 30 sets each of 1, 10,
#        50 roots; MOA_BIN compares another build, e.g. a baseline)
#        (needs: libsolv-tools createrepo-c; no network)
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-1}; sets=${2:-30}
for t in rpmmd2solv testsolv createrepo_c; do
  command -v $t >/dev/null || { echo "missing $t: apt-get install libsolv-tools createrepo-c"; exit 1; }
done
. scripts/bench/fixtures.sh
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
centos7_mirror "$w"
primary=$w/m/7.9.2009/os/x86_64/repodata/$CENTOS7_PRIMARY
zcat "$primary" | rpmmd2solv > "$w/os.solv"
"$bin" resolve --distro centos7 --mirror "file://$w/m" --cache-dir "$w/c" >/dev/null 2>&1
python3 - "$bin" "$w" "$primary" "$seed" "$sets" <<'PY'
import gzip, json, random, re, subprocess, sys
from collections import Counter
bin, w, primary, seed, sets = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
xml = gzip.open(primary).read().decode()
names = sorted({m.group(1) for m in re.finditer(
    r'<package type="rpm">\s*<name>([^<]*)</name>\s*<arch>(x86_64|noarch)</arch>', xml)})

def moa(roots):
    out = subprocess.run([bin, "resolve", "--distro", "centos7", "--mirror", f"file://{w}/m", "--cache-dir",
                          f"{w}/c", "--offline", "--no-base", "--only", "--json", *roots],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return {f'{p["name"]}-{p["version"]}.{p["arch"]}' for p in json.loads(out.stdout)["packages"]}

def libsolv(jobs):
    case = f"{w}/case.t"
    with open(case, "w") as f:
        f.write("repo system 0 empty\nrepo os 0 solv os.solv\nsystem x86_64 rpm system\n")
        f.writelines(f"job {j}\n" for j in jobs)
        f.write("result transaction,problems <inline>\n")
    out = subprocess.run(["testsolv", case], capture_output=True, text=True, cwd=w).stdout
    if any(l.startswith("+problem") for l in out.splitlines()):
        return None
    return {l[len("+install "):].removesuffix("@os") for l in out.splitlines() if l.startswith("+install ")}

rng = random.Random(seed)
total = Counter()
for size in (1, 10, 50):
    counts = Counter()
    for _ in range(sets):
        roots = rng.sample(names, size)
        ours, theirs = moa(roots), libsolv([f"install name {r}" for r in roots])
        if ours is None and theirs is None:
            kind = "same-refusal"
        elif ours == theirs:
            kind = "exact"
        elif ours is None or theirs is None:
            kind = "invalid"
        else:
            # libsolv judges moa-bundle's answer: exactly those packages, nothing more needed.
            check = libsolv([f"install pkg {p}@os" for p in sorted(ours)])
            kind = "valid-different" if check == ours else "invalid"
            print(f"  {size:2} roots, {kind}: moa only {sorted(ours - theirs)[:4]}, libsolv only {sorted(theirs - ours)[:4]}")
        counts[kind] += 1
    total.update(counts)
    print(f"{size:2} roots x {sets}: " + ", ".join(f"{k} {counts[k]}" for k in ("exact", "same-refusal", "valid-different", "invalid")))
n = sum(total.values())
print(f"all {n} sets (seed {seed}, CentOS 7.9 os primary, {len(names)} x86_64/noarch names): "
      + ", ".join(f"{k} {total[k]}" for k in ("exact", "same-refusal", "valid-different", "invalid"))
      + f"; exact or same refusal {100 * (total['exact'] + total['same-refusal']) / n:.0f}%")
PY
