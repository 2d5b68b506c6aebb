# Sourced by the benchmarks: `fixtures` prints target/test-fixtures, the project's real upstream
# data (tests/fixtures/) with files kept in parts (over the 2 MiB file limit) joined and every
# file named by its sha256 checked, as the tests' `shared_fixtures()` assembles it.
fixtures() {
  local d=target/test-fixtures
  if [ ! -f "$d/.complete" ]; then
    rm -rf "$d.sh" && mkdir -p target && cp -r tests/fixtures "$d.sh"
    find "$d.sh" -name '*.part0' | while read -r p; do
      f=${p%.part0}; cat "$f".part[0-9]* > "$f" && rm "$f".part[0-9]*
    done
    for f in $(find "$d.sh" -type f -name '????????????????????????????????????????????????????????????????-*'); do
      n=$(basename "$f")
      [ "$(sha256sum < "$f" | cut -c1-64)" = "${n%%-*}" ] || { echo "fixture $f does not match its name" >&2; return 1; }
    done
    touch "$d.sh/.complete"
    mv "$d.sh" "$d" 2>/dev/null || rm -rf "$d.sh"
  fi
  echo "$PWD/$d"
}

# centos7_mirror DIR: the real CentOS 7.9 os primary as a yum mirror under DIR/m (the layout
# the built-in centos7 manifest asks for, with an empty updates repository), and the libsolv
# testcase DIR/ntp.testcase resolving ntp and ntpdate from DIR/os.solv (which the caller makes
# with rpmmd2solv from CENTOS7_PRIMARY under DIR/m).
CENTOS7_PRIMARY=2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e-primary.xml.gz
centos7_mirror() {
  local w=$1 fx; fx=$(fixtures)/centos7-7.9.2009-os-x86_64
  local p=$CENTOS7_PRIMARY
  mkdir -p "$w/m/7.9.2009/os/x86_64/repodata" "$w/m/7.9.2009/updates/x86_64"
  cp "$fx/$p" "$w/m/7.9.2009/os/x86_64/repodata/"
  cat > "$w/m/7.9.2009/os/x86_64/repodata/repomd.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1587512243</revision>
<data type="primary"><checksum type="sha256">${p%%-*}</checksum>
<location href="repodata/$p"/><timestamp>1587512243</timestamp></data></repomd>
XML
  createrepo_c -q "$w/m/7.9.2009/updates/x86_64"
  cat > "$w/ntp.testcase" <<TC
repo system 0 empty
repo os 0 solv os.solv
system x86_64 rpm system
job install name ntp
job install name ntpdate
result transaction,problems <inline>
TC
}
