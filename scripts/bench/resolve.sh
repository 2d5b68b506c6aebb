#!/usr/bin/env bash
# Load + resolve on the real CentOS 7.9 base metadata (tests/fixtures), against libsolv
# (rpmmd2solv + testsolv, the solver behind dnf/zypper) on the same file and the same request.
# Reports wall time (hyperfine, mean of runs) and peak RSS (/usr/bin/time), and the ratios.
# Usage: bash scripts/bench/resolve.sh        (needs: hyperfine libsolv-tools createrepo-c)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/fixtures.sh
primary=$CENTOS7_PRIMARY
for t in hyperfine rpmmd2solv testsolv createrepo_c; do
  command -v $t >/dev/null || { echo "missing $t: apt-get install hyperfine libsolv-tools createrepo-c"; exit 1; }
done
# MOA_BIN=path compares another build (a baseline) on the same work.
if [ -z "${MOA_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MOA_BIN:-$PWD/target/release/moa-bundle}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT; [ -n "${KEEP:-}" ] && trap - EXIT
centos7_mirror "$w"
mirror="file://$w/m"
libsolv="cd $w && zcat m/7.9.2009/os/x86_64/repodata/$primary | rpmmd2solv > os.solv && { testsolv ntp.testcase >/dev/null || true; }"
# A large request: the @core roots of the manifest plus 50 server packages, full closure.
big=$(python3 - "$w" <<'PY'
import sys, tomllib
m = tomllib.load(open("manifests/centos7.toml", "rb"))
extra = ["httpd","mariadb-server","postgresql-server","mod_ssl","samba","nfs-utils","bind","dhcp","vsftpd","squid",
 "postfix","dovecot","openldap-servers","tomcat","haproxy","keepalived","rsync","screen","tmux","vim-enhanced",
 "git","subversion","gcc","make","perl","python","ruby","php","java-1.8.0-openjdk","net-snmp","lsof","strace",
 "tcpdump","wireshark","nmap-ncat","telnet","wget","mailx","at","bc","zip","unzip","bzip2","ntp","ntpdate",
 "chrony","sysstat","iotop","mtr","traceroute"]
open(sys.argv[1] + "/big.toml", "w").write(open("manifests/centos7.toml").read().split("[base]")[0]
  .replace('packages = ["ntp", "ntpdate"]', "packages = " + repr(m["base"]["roots"] + extra).replace("'", '"')))
print(len(m["base"]["roots"]) + len(extra))
PY
)
# big.toml names its keys as the built-in manifest does, relative to itself (keys/…).
ln -sfn "$PWD/manifests/keys" "$w/keys"
echo "== load + resolve ntp, real CentOS 7.9 primary (28 MB XML, 10,072 packages)"
hyperfine -N --warmup 1 --runs 10 --export-json "$w/h.json" \
  -n "moa-bundle (with @core base)" "$bin resolve --distro centos7 --mirror $mirror" \
  -n "moa-bundle --no-base" "$bin resolve --distro centos7 --no-base --mirror $mirror" \
  -n "libsolv rpmmd2solv+testsolv" "sh -c '$libsolv'" \
  -n "moa-bundle big request ($big roots, full closure)" "$bin resolve --manifest $w/big.toml --no-base --mirror $mirror" 2>&1 | grep -v -i -E "warning|outlier|^ *$" || true
python3 - "$w/h.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
lib = next(x for x in r if x["command"].startswith("libsolv"))["mean"]
for x in r:
    print(f'  {x["command"]:<48} {x["mean"]*1000:7.0f} ms ± {x["stddev"]*1000:4.0f}   ratio to libsolv {x["mean"]/lib:5.2f}')
PY
echo "== peak RSS (max resident, /usr/bin/time)"
rss() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }
echo "  moa-bundle (with base):     $(rss $bin resolve --distro centos7 --mirror $mirror) KB"
echo "  moa-bundle big request:     $(rss $bin resolve --manifest $w/big.toml --no-base --mirror $mirror) KB"
echo "  libsolv rpmmd2solv:         $(cd $w && zcat m/7.9.2009/os/x86_64/repodata/$primary > primary.xml && rss sh -c 'rpmmd2solv < primary.xml > os.solv') KB"
echo "  libsolv testsolv:           $(cd $w && rss sh -c 'testsolv ntp.testcase || true') KB"
