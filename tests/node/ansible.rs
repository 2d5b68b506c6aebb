//! The Ansible role (issue 13, item 3) with real `ansible-playbook` (PyPI ansible-core, installed
//! by scripts/test.sh into target/ansible-venv): `deploy/ansible/site.yml` rolls a bundle out to
//! a time server and a time client. The hosts are local, and each installs into its own
//! throwaway root through `moa_root` (`--root`), so nothing of this machine changes; Ansible's
//! own state goes to the test's directory. The server gets the bundle copied; the client
//! installs it from a registry (Debian's docker-registry on 127.0.0.1, the bundle pushed there
//! first). The first run changes both hosts; the second reports `changed=0`.

use crate::common;

use std::path::Path;
use std::process::Command;

use crate::common::{fake_os_release, moa, require_tools, run};

const TOOLS: &[&str] = &["rpm", "rpmbuild", "createrepo_c", "strip"];

fn playbook(t: &Path, inventory: &Path) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ansible = root.join("target/ansible-venv/bin/ansible-playbook");
    let state = t.join("ansible-home");
    let out = Command::new(&ansible)
        .arg("-i")
        .arg(inventory)
        .arg(root.join("deploy/ansible/site.yml"))
        .env("ANSIBLE_HOME", &state)
        .env("ANSIBLE_LOCAL_TEMP", state.join("tmp"))
        .env("ANSIBLE_REMOTE_TEMP", state.join("remote-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `changed=N` of `host` in the PLAY RECAP.
fn changed(recap: &str, host: &str) -> u32 {
    let line = recap
        .lines()
        .rev()
        .find(|l| l.starts_with(host) && l.contains("changed="))
        .unwrap_or_else(|| panic!("{recap}"));
    line.split_whitespace().find_map(|w| w.strip_prefix("changed=")).unwrap().parse().unwrap()
}

#[test]
fn the_role_rolls_out_a_server_and_a_client_and_a_second_run_changes_nothing() {
    require_tools(TOOLS);
    let (Some(_), Some(reg_bin)) = (
        common::tool("target/ansible-venv/bin/ansible-playbook"),
        common::tool("target/test-debs/registry/x/usr/bin/docker-registry"),
    ) else {
        common::skip(
            "ansible",
            "ansible-core or docker-registry is missing (bash scripts/test.sh installs both under target/)",
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (_mirror, manifest, base) = common::ntp_el_repo(t);
    let out = t.join("out");
    moa(t).arg("build").arg("--manifest").arg(&manifest).arg("-o").arg(&out).assert().success();
    let bundle = out.join("ntp-eltest-x86_64.tar.gz");
    let reg = common::registry(t, &reg_bin);
    let reference = format!("oci://{}/moa/ntp:eltest", reg.addr);
    moa(t).arg("push").arg(&bundle).arg(&reference).arg("--plain-http").assert().success();

    // This test's moa-bundle without debug info (250 MB in a debug build), copied to each host.
    let binary = t.join("moa-bundle-for-nodes");
    run(Command::new("strip").arg("-o").arg(&binary).arg(env!("CARGO_BIN_EXE_moa-bundle")));
    let roots = ["server", "client"].map(|n| t.join(format!("{n}-root")));
    for r in &roots {
        fake_os_release(r, "centos", "7");
        common::rpm_into(r, &base);
    }
    let inventory = t.join("inventory");
    fs_err::write(
        &inventory,
        format!(
            "[time_servers]\nntp1 ansible_connection=local moa_root={server}\n\n[time_clients]\napp1 ansible_connection=local moa_root={client} moa_bundle_ref={reference} moa_plain_http=true\n\n[all:vars]\nansible_python_interpreter={{{{ ansible_playbook_python }}}}\nmoa_become=false\nmoa_bundle_binary={bin}\nmoa_bundle_file={bundle}\nmoa_allow=[\"192.168.1.0/24\"]\nmoa_install_args=[\"--no-scripts\"]\n",
            server = roots[0].display(),
            client = roots[1].display(),
            bin = binary.display(),
            bundle = bundle.display(),
            reference = reference,
        ),
    )
    .unwrap();

    let (ok, recap) = playbook(t, &inventory);
    assert!(ok, "{recap}");
    assert!(changed(&recap, "ntp1") > 0 && changed(&recap, "app1") > 0, "{recap}");
    let conf = fs_err::read_to_string(roots[0].join("etc/ntp.conf")).unwrap();
    assert!(conf.contains("\nrestrict 192.168.1.0 mask 255.255.255.0 nomodify notrap\n"), "{conf}");
    let cron = fs_err::read_to_string(roots[1].join("etc/cron.d/moa-ntpdate")).unwrap();
    assert!(cron.contains("root /usr/sbin/ntpdate -u ntp1 "), "the client follows the first server: {cron}");
    assert!(roots[1].join("usr/sbin/ntpdate").exists() && roots[1].join("var/lib/moa-bundle/moa-bundle").exists());
    // The client's bundle came from the registry, not from a copy.
    assert!(!roots[1].join("var/lib/moa-bundle/ntp-eltest-x86_64.tar.gz").exists());
    assert!(roots[0].join("var/lib/moa-bundle/ntp-eltest-x86_64.tar.gz").exists());

    let (ok, recap) = playbook(t, &inventory);
    assert!(ok, "{recap}");
    assert_eq!((changed(&recap, "ntp1"), changed(&recap, "app1")), (0, 0), "{recap}");
}
