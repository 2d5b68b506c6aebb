# Sourced by the benchmarks that build from Debian 12's real archive (apt.sh, repo.sh, since.sh,
# oci.sh). debian12_manifest DIR PACKAGE… writes DIR/new.toml: the built-in debian12 manifest
# asking for PACKAGE… (no optional packages, no [time]), its keys beside it. debian12_point_release
# DIR writes DIR/old.toml from it: the release alone (bookworm: no updates, no security), the
# same archive a number of updates earlier.
debian12_manifest() {
  local dir=$1; shift
  local list; list=$(printf '"%s",' "$@"); list="[${list%,}]"
  sed -e "s/^packages = .*/packages = $list/" -e 's/^optional = .*/optional = []/' -e '/^\[time\]/,$d' \
    manifests/debian12.toml > "$dir/new.toml"
  ln -sfn "$PWD/manifests/keys" "$dir/keys"
}

debian12_point_release() {
  local dir=$1
  sed -e 's/^suites = \["bookworm", "bookworm-updates"\]/suites = ["bookworm"]/' "$dir/new.toml" \
    | awk '/^\[\[repository\]\]/ {block = $0; getline; if ($0 ~ /name = "security"/) {skip = 1; next} print block} /^\[base\]/ {skip = 0} !skip' \
    > "$dir/old.toml"
  if grep -q security "$dir/old.toml"; then echo "old.toml still has the security repository" >&2; return 1; fi
}
