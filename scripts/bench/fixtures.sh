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
