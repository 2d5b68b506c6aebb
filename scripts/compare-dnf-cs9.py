"""The node for compare-dnf.sh --cs9: the real CentOS Stream 9 AppStream repository without its
BaseOS (not in the fixtures), so every capability AppStream needs but does not provide is
provided by one installed stub package. Writes the stub's spec (built with rpmbuild by the
script) and the names to draw roots from: the non-modular ones (dnf hides modular packages
unless their stream is enabled; moa-bundle filters them through modules.yaml).
Usage: python3 compare-dnf-cs9.py REPODATA_DIR OUT_DIR"""
import gzip, lzma, pathlib, re, sys

repodata, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
primary = gzip.open(next(repodata.glob("*-primary.xml.gz"))).read().decode()
modules = lzma.open(next(repodata.glob("*-modules.yaml.xz"))).read().decode()
modular = set(re.findall(r"^\s+- (\S+-\d+:\S+\.(?:x86_64|noarch))\s*$", modules, re.M))

_, _, rest = primary.partition("<package ")
chunks = ("<package " + rest).split("</package>")
chunks.pop()
kept, names, provided, needed, conflicted = [], set(), set(), set(), set()
# `name = version` as provided, and as required (exactly: a BaseOS ABI such as `python(abi) = 3.9`
# that AppStream provides only at other versions).
provided_eq, needed_eq = set(), set()
ENTRY = re.compile(r'<rpm:entry name="([^"]*)"(?: flags="([A-Z]+)")?(?: epoch="(\d+)")?(?: ver="([^"]*)")?(?: rel="([^"]*)")?')

def evr(e, v, r):
    return (f"{e}:" if e and e != "0" else "") + (v or "") + (f"-{r}" if r else "")
for c in chunks:
    m = re.search(r"<name>([^<]*)</name>\s*<arch>([^<]*)</arch>\s*<version epoch=\"(\d+)\" ver=\"([^\"]*)\" rel=\"([^\"]*)\"", c)
    name, arch, e, v, r = m.groups()
    if arch not in ("x86_64", "noarch") or f"{name}-{e}:{v}-{r}.{arch}" in modular:
        continue
    kept.append(c)
    names.add(name)
    provided.add(name)
    for block, into in (("provides", provided), ("requires", needed), ("conflicts", conflicted), ("obsoletes", conflicted)):
        b = re.search(rf"<rpm:{block}>(.*?)</rpm:{block}>", c, re.S)
        if b:
            for n, flags, e, v, r in ENTRY.findall(b.group(1)):
                n = n.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
                into.add(n)
                if flags == "EQ":
                    (provided_eq if block == "provides" else needed_eq).add(f"{n} = {evr(e, v, r)}")
    provided.update(re.findall(r"<file[^>]*>([^<]*)</file>", c))

def leaves(dep):
    if not dep.startswith("("):
        return [dep]
    words = []
    for w in dep.split():
        w = w.lstrip("(")
        while w.endswith(")") and w.count(")") > w.count("("):
            w = w[:-1]
        words.append(w)
    ops = {"and", "or", "if", "else", "unless", "with", "without", "<", "<=", "=", ">", ">=", "<>"}
    out, skip = [], False
    for w in words:
        if w in ops:
            skip = w in {"<", "<=", "=", ">", ">=", "<>"}
            continue
        if not skip:
            out.append(w)
        skip = False
    return out

missing = sorted({l for d in needed for l in leaves(d)} - provided)
missing = [m for m in missing if not m.startswith("rpmlib(")]
files = [m for m in missing if m.startswith("/")]
# A name AppStream conflicts with (`foo < 2`) is provided at a version above any such bound, or
# the installed stub would conflict with the packages requested and block them all.
caps = [m + (" = 999:1-1" if m in conflicted else "") for m in missing if not m.startswith("/")]
caps += sorted(d for d in needed_eq - provided_eq if d.split(" = ")[0] in provided - conflicted)
spec = ["Name: cs9-baseos-stub", "Version: 1", "Release: 1", "Summary: what BaseOS provides",
        "License: MIT", "BuildArch: x86_64", "AutoReqProv: no"]
spec += [f"Provides: {c.replace('%', '%%')}" for c in caps]
spec += ["%description", "Stands in for CentOS Stream 9 BaseOS.", "%install"]
spec += [f"mkdir -p \"%{{buildroot}}{pathlib.PurePosixPath(f).parent}\" && touch \"%{{buildroot}}{f}\"" for f in files]
spec += ["%files"] + [f'"{f}"' for f in files]
(out / "stub.spec").write_text("\n".join(spec) + "\n")
(out / "names").write_text("\n".join(sorted(names)) + "\n")
print(f"{len(kept)} non-modular x86_64/noarch packages ({len(names)} names), {len(modular)} modular left out; "
      f"stub provides {len(caps)} capabilities and {len(files)} files")
