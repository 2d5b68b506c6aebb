//! `install.sh`, the bundle's own installer: POSIX sh that checks every file against
//! `SHA256SUMS`, then runs the bundled moa-bundle binary on the unpacked bundle when there is one
//! and it runs here, and otherwise installs with the family's package tool alone (or, with
//! `--via-repo`, its package manager), saying what that leaves out.

use super::{BundleIndex, BINARY_FILE, BINARY_GZ_FILE, PACKAGES_DIR, SUMS_FILE};

/// The package tool's command line in `install.sh`, from the family's installer.
#[derive(Debug, Clone, Default)]
pub struct FallbackCommand {
    /// Whether the tool can skip package scripts (rpm `--noscripts`; dpkg cannot).
    pub skip_scripts: bool,
    /// The tool's force options (`--force --nodeps`).
    pub force: &'static str,
    /// The command a stage's files are appended to, using the script's `$ROOT`, `$FORCE` and
    /// `$NOSCRIPTS`.
    pub line: &'static str,
    /// Module streams (EL8+ dnf): a line refusing a node that has another stream of `{module}`
    /// enabled (run before any package), and one enabling `{module}:{stream}` (after). Both
    /// names are validated labels (`[A-Za-z0-9._-]`), so they need no quoting.
    pub streams: Option<(&'static str, &'static str)>,
    /// sh defining what [`FallbackCommand::line`] calls, written once before the stages.
    pub preamble: &'static str,
    /// `install.sh --via-repo`: the sh that installs every bundled package with the node's own
    /// package manager from the bundle's repository, using the script's `$DIR` (the bundle's
    /// top directory, a plain path), `$ROOT` and `$NOSCRIPTS`. Empty when the bundle has none.
    pub via_repo: String,
}

/// `s` quoted for POSIX sh (`'…'`, a `'` inside as `'\''`).
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl FallbackCommand {
    fn stream_lines(&self, index: &BundleIndex, enable: bool) -> String {
        let Some((check, write)) = self.streams else { return String::new() };
        let template = if enable { write } else { check };
        let fill = |m: &moa_model::manifest::ModuleRef| {
            template.replace("{module}", m.name.as_str()).replace("{stream}", m.stream.as_str()) + "\n"
        };
        index.modules.iter().map(fill).collect()
    }
}

/// `install.sh`. Options are read without consuming them, so that the bundled binary gets
/// every one as given (`--role server` and the rest are its own); paths stay relative to where
/// the user ran it.
pub(super) fn install_script(index: &BundleIndex, tool: &FallbackCommand) -> String {
    let (force, tool_name) = (tool.force, tool.line.split_whitespace().next().unwrap_or("rpm"));
    let mut s = format!(
        r#"#!/bin/sh
# Installer for {name} ({distro}, {arch}), written by moa-bundle {ver}.
# It checks every file against {SUMS_FILE} first. With the moa-bundle binary beside it (a
# self-contained bundle), it then runs `moa-bundle install` on this directory with all the options
# given here (--role server, --dry-run, …: `./{BINARY_FILE} install --help`). Without one, or
# where it cannot run here (or with --no-binary), it installs with {tool_name} alone: no check of the
# node's os-release, no preflight, no removal of what a package replaces, no role.
# Usage: sh install.sh [--force] [--root DIR] [--noscripts] [--verified] [--via-repo] [--no-binary] [OPTION…]
#        sh install.sh undo [ENTRY] [--root DIR] [OPTION…]   (the bundled moa-bundle's undo)
#        sh install.sh history [--root DIR] [--verify]      (the node's ledger)
#   --force       {force}: install despite missing dependencies
#   --root DIR    install into DIR instead of /
#   --noscripts   rpm only: run no package scripts
#   --verified    the bundle's signature was checked (minisign -V) before it was unpacked
#   --via-repo    install with the node's own dnf/yum/apt-get from this directory as a
#                 repository (repodata/), every other repository left out
#   --no-binary   do not run the bundled moa-bundle
set -eu
DIR=$(cd "$(dirname "$0")" && pwd)
CMD=install
case "${{1:-}}" in undo|history) CMD=$1; shift ;; esac
FORCE="" ROOT="" NOSCRIPTS="" VERIFIED="" VIA_REPO="" NO_BINARY="" OTHER="" PREV=""
for a in "$@"; do
  if [ "$PREV" = --root ]; then ROOT="$a"; PREV=""; continue; fi
  case "$a" in
    --force) FORCE="{force}" ;;
    --verified) VERIFIED=1 ;;
    --via-repo) VIA_REPO=1 ;;
    --root) PREV=--root ;;
    --noscripts|--no-scripts) NOSCRIPTS="--noscripts" ;;
    --no-binary) NO_BINARY=1 ;;
    *) OTHER="$OTHER $a" ;;
  esac
done
[ -z "$PREV" ] || {{ echo "install.sh: --root needs a directory" >&2; exit 2; }}
# The keys moa-bundle trusts: every *.pub there, dotfiles too (.release.pub), as the binary reads them.
TRUSTS=""
for k in "$ROOT"/etc/moa-bundle/trusted-keys/*.pub "$ROOT"/etc/moa-bundle/trusted-keys/.*.pub; do
  [ -e "$k" ] && TRUSTS=1
done
if [ -z "$VERIFIED" ] && [ -n "$TRUSTS" ]; then
  echo "install.sh: this node trusts bundle keys ($ROOT/etc/moa-bundle/trusted-keys/) and an unpacked bundle cannot show its signature: use 'moa-bundle install BUNDLE.tar.gz', or check the .tar.gz with 'minisign -V -p KEY.pub -m BUNDLE.tar.gz' first and pass --verified" >&2
  exit 3
fi
(cd "$DIR" && sha256sum -c --quiet {SUMS_FILE})
"#,
        name = index.name,
        distro = index.distro,
        arch = index.arch,
        ver = index.tool_version,
    );
    match &index.installer {
        Some(b) if b.gzip => s.push_str(&format!(
            r#"if [ -z "$NO_BINARY" ]; then
  # The binary is carried gzipped ({BINARY_GZ_FILE}, checked above): unpacked into a private
  # directory, run from there, removed afterwards.
  BIN=$(mktemp -d "${{TMPDIR:-/tmp}}/moa-bundle-bin.XXXXXX")
  trap 'rm -rf "$BIN"' EXIT
  trap 'exit 130' INT TERM
  gzip -dc "$DIR/{BINARY_GZ_FILE}" > "$BIN/{BINARY_FILE}" && chmod 700 "$BIN/{BINARY_FILE}"
  if WHY=$("$BIN/{BINARY_FILE}" --version 2>&1); then
    if [ "$CMD" = install ]; then "$BIN/{BINARY_FILE}" install "$DIR" "$@"; else "$BIN/{BINARY_FILE}" "$CMD" "$@"; fi
    exit 0
  fi
  echo "install.sh: the bundled moa-bundle cannot run on this node ($WHY)" >&2
  rm -rf "$BIN"
  trap - EXIT INT TERM
fi
"#
        )),
        Some(_) => s.push_str(&format!(
            r#"if [ -z "$NO_BINARY" ]; then
  if WHY=$("$DIR/{BINARY_FILE}" --version 2>&1); then
    if [ "$CMD" = install ]; then exec "$DIR/{BINARY_FILE}" install "$DIR" "$@"; fi
    exec "$DIR/{BINARY_FILE}" "$CMD" "$@"
  fi
  echo "install.sh: the bundled moa-bundle cannot run on this node ($WHY)" >&2
fi
"#
        )),
        None => {}
    }
    s.push_str(&format!(
        r#"if [ -e "$ROOT/etc/moa-bundle/policy.toml" ]; then
  echo "install.sh: this node has an approval policy ($ROOT/etc/moa-bundle/policy.toml), which only the bundled moa-bundle checks; it does not run here: use a moa-bundle that runs on this node" >&2
  exit 3
fi
if [ "$CMD" != install ]; then
  echo "install.sh: $CMD needs the bundled moa-bundle, which this bundle does not carry or which cannot run here: run moa-bundle $CMD on the node instead" >&2
  exit 2
fi
if [ -n "$OTHER" ]; then
  echo "install.sh: without moa-bundle these options cannot be applied:$OTHER. Run again without them to install with {tool_name} alone (no preflight, no removal of replaced packages, no role), or use a moa-bundle that runs here" >&2
  exit 2
fi
echo "install.sh: installing with {tool_name} alone: no check of the node, no preflight, no removal of what a package replaces, no role, no ledger entry (undo cannot put this back)" >&2
case "$ROOT" in /*|"") ;; *) ROOT="$(pwd)/$ROOT" ;; esac
cd "$DIR"
"#
    ));
    if !tool.skip_scripts {
        s.push_str(
            "[ -z \"$NOSCRIPTS\" ] || { echo \"install.sh: dpkg cannot skip maintainer scripts\" >&2; exit 2; }\n",
        );
    }
    s.push_str(&tool.stream_lines(index, false));
    s.push_str(tool.preamble);
    s.push_str("if [ -n \"$VIA_REPO\" ]; then\n");
    s.push_str(&via_repo(tool));
    s.push_str("else\n");
    let max_stage = index.packages.iter().map(|p| p.stage).max().unwrap_or(0);
    for stage in 0..=max_stage {
        let files: Vec<String> =
            index.packages.iter().filter(|p| p.stage == stage).map(|p| format!("{PACKAGES_DIR}/{}", p.file)).collect();
        if !files.is_empty() {
            s.push_str(&format!("{} {}\n", tool.line, files.join(" ")));
        }
    }
    s.push_str("fi\n");
    s.push_str(&tool.stream_lines(index, true));
    s
}

/// The `--via-repo` branch of `install.sh`: the paths checked for what a repository URL and a
/// config line can hold, then the family's package manager.
fn via_repo(tool: &FallbackCommand) -> String {
    if tool.via_repo.is_empty() {
        return "echo \"install.sh: this bundle is no repository (built with --no-repo)\" >&2; exit 2\n".into();
    }
    let mut s = String::from(
        r#"W=$(mktemp -d "${TMPDIR:-/tmp}/moa-bundle-repo.XXXXXX")
trap 'rm -rf "$W"' EXIT
# Every path that goes into the package manager's configuration, the work directory (TMPDIR)
# too, is plain, as moa-bundle requires: nothing in it can start another option or line.
for p in "$DIR" "$W" ${ROOT:+"$ROOT"}; do
  case "$p" in /*[!A-Za-z0-9/._+-]*|[!/]*|*/../*|*/..) echo "install.sh: --via-repo needs plain absolute paths (letters, digits, /._+-; set TMPDIR to one): $p" >&2; exit 2 ;; esac
done
"#,
    );
    s.push_str(&tool.via_repo);
    s
}
