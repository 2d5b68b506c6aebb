//! The command line itself: help that teaches, and bad input answered with one clear error that
//! names the thing and the fix, a non-zero exit, and nothing written.

use crate::common;

use crate::common::moa;

fn stderr_of(args: &[&str], cache: &std::path::Path) -> (bool, String) {
    let out = moa(cache).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn help_lists_every_command_with_an_example() {
    let tmp = tempfile::tempdir().unwrap();
    let out = moa(tmp.path()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["build", "resolve", "install", "inspect", "verify", "distros"] {
        assert!(text.contains(cmd), "{cmd} missing from --help:\n{text}");
    }
    assert!(text.contains("moa-bundle build --distro centos7"), "{text}");
    let out = moa(tmp.path()).args(["install", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--force") && text.contains("--nodeps") && text.contains("--dry-run"), "{text}");
}

#[test]
fn distros_lists_the_builtin_manifests_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = moa(tmp.path()).args(["distros", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v.as_array().unwrap().iter().map(|d| d["distro"].as_str().unwrap()).collect();
    // The fleets the issue names, plus the seed's centos7 and ubuntu1604.
    let want = [
        "centos7",
        "rocky8",
        "rocky9",
        "alma9",
        "centos-stream9",
        "ubuntu1604",
        "ubuntu2004",
        "ubuntu2204",
        "ubuntu2404",
        "debian12",
        "debian13",
    ];
    assert_eq!(names, want);
    let daemon = |i: usize| v[i]["packages"][0].as_str().unwrap().to_string();
    assert_eq!((daemon(2), daemon(7)), ("chrony".to_string(), "ntpsec".to_string()), "EL9 has chrony only");
    assert_eq!(v[0]["bundle"], "ntp-centos7-x86_64.tar.gz");
}

#[test]
fn an_unknown_distro_names_the_known_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, err) = stderr_of(&["resolve", "--distro", "centos6"], tmp.path());
    assert!(!ok);
    assert!(err.starts_with("error: unknown distro `centos6`") && err.contains("centos7, rocky8, rocky9"), "{err}");
}

#[test]
fn a_malformed_manifest_names_the_file_and_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("bad.toml");
    fs_err::write(&m, "name = \"x\"\ndistro = \"d\"\nfamily = \"zip\"\n").unwrap();
    let (ok, err) = stderr_of(&["resolve", "--manifest", m.to_str().unwrap()], tmp.path());
    assert!(!ok);
    assert!(err.contains("bad.toml") && err.contains("zip"), "{err}");
    let (ok, err) = stderr_of(&["resolve", "--manifest", "/nonexistent/m.toml"], tmp.path());
    assert!(!ok);
    assert!(err.contains("/nonexistent/m.toml"), "{err}");
}

#[test]
fn an_unreachable_mirror_names_the_url_and_suggests_another_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mirror = format!("http://127.0.0.1:{port}");
    let out_path = tmp.path().join("out/b.tar.gz");
    let (ok, err) =
        stderr_of(&["build", "--distro", "centos7", "--mirror", &mirror, "-o", out_path.to_str().unwrap()], tmp.path());
    assert!(!ok);
    assert!(err.contains(&format!("{mirror}/7.9.2009/os/x86_64/repodata/repomd.xml")), "{err}");
    assert!(err.contains("--mirror"), "{err}");
    assert!(!out_path.exists());
}

#[test]
fn a_missing_or_garbage_bundle_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, err) = stderr_of(&["verify", "/nonexistent/b.tar.gz"], tmp.path());
    assert!(!ok && err.contains("/nonexistent/b.tar.gz"), "{err}");
    let junk = tmp.path().join("junk.tar.gz");
    fs_err::write(&junk, b"this is not a bundle").unwrap();
    let (ok, err) = stderr_of(&["install", junk.to_str().unwrap(), "--dry-run"], tmp.path());
    assert!(!ok && err.contains("junk.tar.gz is not a gzip file"), "{err}");
}

#[test]
fn a_bundle_with_a_link_member_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    fs_err::create_dir_all(dir.join("x")).unwrap();
    fs_err::os::unix::fs::symlink("/etc/passwd", dir.join("x/evil")).unwrap();
    let bundle = tmp.path().join("evil.tar.gz");
    common::run(std::process::Command::new("tar").arg("-czf").arg(&bundle).arg("-C").arg(&dir).arg("x"));
    let (ok, err) = stderr_of(&["verify", bundle.to_str().unwrap()], tmp.path());
    assert!(!ok && err.contains("not a plain file"), "{err}");
}

#[test]
fn probe_of_this_machine_lists_what_dpkg_query_lists() {
    if !std::path::Path::new("/var/lib/dpkg/status").is_file() {
        common::skip("probe_of_this_machine_lists_what_dpkg_query_lists", "this machine has no dpkg database");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Reads only; the profile goes to stdout.
    let out = moa(tmp.path()).args(["probe"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["family"], "deb");
    let mut ours: Vec<String> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}:{} {}",
                p["name"].as_str().unwrap(),
                p["arch"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    // dpkg's own view: packages whose current state is installed (second letter `i`).
    let q = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Abbrev}\t${Package}:${Architecture} ${Version}\n"])
        .output()
        .unwrap();
    let mut theirs: Vec<String> = String::from_utf8_lossy(&q.stdout)
        .lines()
        .filter(|l| l.as_bytes().get(1) == Some(&b'i'))
        .map(|l| l.split_once('\t').unwrap().1.to_string())
        .collect();
    ours.sort();
    theirs.sort();
    assert!(theirs.len() > 50, "{theirs:?}");
    assert_eq!(ours, theirs);
}

#[test]
fn a_missing_or_broken_target_profile_fails_before_any_download() {
    let tmp = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing answers; the profile must be refused first.
    let dead = "http://127.0.0.1:9/";
    let missing = tmp.path().join("missing.json");
    let out = moa(tmp.path())
        .args(["resolve", "--distro", "centos7", "--mirror", dead, "--target"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("could not read node profile") && e.contains("missing.json") && !e.contains("mirror"), "{e}");
    let broken = tmp.path().join("broken.json");
    fs_err::write(&broken, "not json").unwrap();
    let out = moa(tmp.path())
        .args(["build", "--distro", "centos7", "--mirror", dead, "--target"])
        .arg(&broken)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("broken.json is not valid") && e.contains("moa-bundle probe -o FILE"), "{e}");
}

/// Regression (issue 9): the top-level help lost the line breaks of its two examples.
#[test]
fn top_level_help_keeps_its_example_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let out = moa(tmp.path()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.trim_start().starts_with("On a connected machine:")), "{text}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("On the air-gapped node:")), "{text}");
}

/// Regression (issue 9): output into a pipe that closed early (`| head`) panicked.
#[test]
fn output_into_a_closed_pipe_is_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_moa-bundle");
    // probe prints this machine's packages: far more than a pipe buffer.
    let script = format!("'{bin}' probe | head -c 10 >/dev/null; echo \"status=${{PIPESTATUS[0]}}\"");
    let out =
        std::process::Command::new("bash").arg("-c").arg(&script).env("XDG_CACHE_HOME", tmp.path()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("status=0"), "{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Regression (issue 9): a SOURCE_DATE_EPOCH that did not parse was ignored.
#[test]
fn a_bad_source_date_epoch_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = moa(tmp.path())
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .args(["build", "--distro", "centos7", "--mirror", "http://127.0.0.1:9", "-o"])
        .arg(tmp.path().join("b.tar.gz"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("SOURCE_DATE_EPOCH is `yesterday`"), "{err}");
}

/// Regression (issue 9): `--client-mode daemon` with `--role server` was silently ignored.
#[test]
fn client_mode_without_the_client_role_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    common::fake_os_release(&root, "centos", "7");
    let (ok, err) = stderr_of(
        &[
            "configure",
            "--role",
            "server",
            "--client-mode",
            "daemon",
            "--distro",
            "centos7",
            "--dry-run",
            "--root",
            root.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(!ok && err.contains("--client-mode only applies to the client role"), "{err}");
}

/// A mirror that is not a URL with a host is refused as a flag, naming it.
#[test]
fn a_mirror_without_a_host_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, err) = stderr_of(&["resolve", "--distro", "centos7", "--mirror", "http://"], tmp.path());
    assert!(!ok && err.contains("`http://` is not a mirror URL"), "{err}");
}

/// `--version` names the commit the binary was built from (build.rs asks git), so a node's
/// report says exactly which moa-bundle made it.
#[test]
fn version_names_the_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let out = moa(tmp.path()).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(text, format!("moa-bundle {} (commit {head})", env!("CARGO_PKG_VERSION")));
}

/// The completion script is real bash: sourced into bash, it completes `moa-bundle bu` to
/// `build`, and a subcommand's values and options.
#[test]
fn bash_completes_commands_and_values() {
    common::require_tools(&["bash"]);
    let tmp = tempfile::tempdir().unwrap();
    let out = moa(tmp.path()).args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = tmp.path().join("moa-bundle.bash");
    fs_err::write(&script, &out.stdout).unwrap();
    let complete = |words: &str, cword: usize| {
        let prog = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _moa__bundle moa-bundle \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        common::run(std::process::Command::new("bash").arg("-c").arg(prog)).trim().to_string()
    };
    assert_eq!(complete("moa-bundle bu", 1), "build");
    // Past the subcommand too (clap_complete's own script stops there for hyphenated bins).
    assert_eq!(complete("moa-bundle completions f", 2), "fish");
    assert_eq!(complete("moa-bundle install --ro", 2), "--root --role");
}

/// The manual renders with man(1): the main page names every command, and `--dir` writes one
/// page per command (install's with its flags).
#[test]
fn man_pages_render_with_man() {
    common::require_tools(&["man"]);
    let tmp = tempfile::tempdir().unwrap();
    let out = moa(tmp.path()).arg("man").output().unwrap();
    assert!(out.status.success());
    let page = tmp.path().join("moa-bundle.1");
    fs_err::write(&page, &out.stdout).unwrap();
    let text = common::run(std::process::Command::new("man").env("MANWIDTH", "100").arg("-l").arg(&page));
    for cmd in ["build", "install", "completions", "man"] {
        assert!(text.contains(&format!("moa-bundle-{cmd}(1)")), "{cmd} missing:\n{text}");
    }
    let dir = tmp.path().join("man1");
    fs_err::create_dir(&dir).unwrap();
    assert!(moa(tmp.path()).args(["man", "--dir"]).arg(&dir).output().unwrap().status.success());
    let install = common::run(std::process::Command::new("man").arg("-l").arg(dir.join("moa-bundle-install.1")));
    assert!(install.contains("--role") && install.contains("--dry-run"), "{install}");
}
