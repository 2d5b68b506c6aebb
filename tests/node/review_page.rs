//! The review page (issue 25) of a real Debian 12 bundle — ntpsec, nginx and libssl3 from
//! bookworm, -updates and -security, built `--target` the debootstrap root of the undo slice and
//! signed —
//! checked in a real browser: Debian's headless Chromium, with no network (its own network
//! namespace), renders it to a screenshot and a PDF without a console error, and the page's text
//! read back from the DOM names every package with its change, what goes away and the signer.

use std::path::Path;
use std::process::Command;

use super::debian_root::Node;
use crate::common::{self, require_tools};

/// Headless Chromium in a network namespace of its own: its stdout and stderr.
fn chromium(profile: &Path, args: &[&str], page: &Path) -> (String, String) {
    let o = Command::new("unshare")
        .args(["-n", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "chromium {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn bookworm_review_page_renders_offline_in_chromium_and_names_every_package_change_and_signer() {
    require_tools(&["chromium", "unshare"]);
    let Some(n) = Node::undo_slice(&["nginx"]) else { return };
    let t = n.tmp.path();
    let profile = t.join("node.json");
    n.cmd().args(["probe", "--root"]).arg(&n.root).arg("-o").arg(&profile).assert().success();
    n.cmd().args(["key", "generate"]).arg(t.join("builder")).assert().success();
    let sign = ["--sign", t.join("builder.key").to_str().unwrap()].map(String::from);
    let bundle = n.build_slice(&profile, &t.join("b.tar.gz"), &[&sign[0], &sign[1]]);
    let page = t.join("review.html");
    let review = |extra: &[&str]| {
        n.cmd()
            .arg("review")
            .arg(&bundle)
            .arg("--against")
            .arg(&profile)
            .arg("--key")
            .arg(t.join("builder.pub"))
            .args(extra)
            .output()
            .unwrap()
    };
    let o = review(&["-o", page.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = review(&["--json"]);
    let r: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let html = fs_err::read_to_string(&page).unwrap();
    // It loads nothing: no script, stylesheet, image or frame from anywhere.
    for needle in ["<script", "<link", "<img", "<iframe", "src=", "url(", "@import"] {
        assert!(!html.contains(needle), "the page has `{needle}`");
    }

    let shots = t.join("shots");
    fs_err::create_dir_all(&shots).unwrap();
    let chrome = t.join("chrome-profile");
    let png = shots.join("review.png");
    let (_, log) = chromium(&chrome, &[&format!("--screenshot={}", png.display()), "--window-size=1400,2000"], &page);
    let pdf = shots.join("review.pdf");
    let (_, log2) = chromium(&chrome, &[&format!("--print-to-pdf={}", pdf.display())], &page);
    assert!(fs_err::read(&png).unwrap().starts_with(b"\x89PNG"), "a screenshot");
    assert!(fs_err::read(&pdf).unwrap().starts_with(b"%PDF"), "a PDF");
    // The page's console messages (Chromium logs them as `INFO:CONSOLE:line`); the browser's own
    // attempts to reach the network, which the namespace refuses, are not the page's.
    for l in log.lines().chain(log2.lines()) {
        assert!(!l.contains(":CONSOLE") && !l.contains("Uncaught"), "console output: {l}");
        assert!(!(l.contains("net::ERR") && l.contains("review.html")), "the page asked for something: {l}");
    }
    let (dom, _) = chromium(&chrome, &["--dump-dom"], &page);
    let text = dom.replace("&gt;", ">");
    let packages = r["packages"].as_array().unwrap();
    assert!(packages.len() > 10, "{r}");
    let changes: Vec<&str> = packages.iter().map(|p| p["change"].as_str().unwrap()).collect();
    assert!(changes.contains(&"new") && changes.contains(&"upgrade"), "{changes:?}");
    // Every package in the DOM, with its change: a row per package.
    for p in packages {
        let (name, change) = (p["name"].as_str().unwrap(), p["change"].as_str().unwrap());
        let version = p["version"].as_str().unwrap();
        let row = text.lines().find(|l| l.contains(&format!(">{name}<")) && l.contains(&format!(">{version}<")));
        let row = row.unwrap_or_else(|| panic!("no row for {name} in the DOM"));
        assert!(row.contains(&format!("class=\"{change}\"")), "{name}: {row}");
        if change == "upgrade" {
            assert!(row.contains(&format!("upgrade from {}", p["from"].as_str().unwrap())), "{row}");
        }
    }
    assert!(packages.iter().any(|p| p["name"] == "nginx" && p["change"] == "new"), "{r}");
    let ssl = packages.iter().find(|p| p["name"] == "libssl3").unwrap();
    assert_eq!(ssl["change"], "upgrade", "{ssl}");
    // What goes away (the node's systemd-timesyncd, replaced by ntpsec), and the signer.
    assert!(text.contains(">systemd-timesyncd<") && text.contains("class=\"removed\""), "removed");
    let key = fs_err::read_to_string(t.join("builder.pub")).unwrap();
    let id = key.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    assert!(text.contains(&format!("signed by key <code>{id}</code>")), "signer {id}");
    assert!(text.contains("checked against the pinned keys") && text.contains("Repository security"), "upstream");
    assert!(text.contains("<svg") && text.contains("dependency graph"), "the graph");
    // What the roles write: the server's ntp.conf, whole, with the manifest's upstream servers.
    assert!(
        text.contains("<code>/etc/ntpsec/ntp.conf</code> (created)")
            && text.contains("+server 0.debian.pool.ntp.org iburst"),
        "the role's config"
    );
    assert!(text.contains("<code>/etc/cron.d/moa-ntpdate</code>"), "the cron client's file");
    eprintln!(
        "review page: {} bytes, {} packages; {}",
        html.len(),
        packages.len(),
        common::sha256_hex(html.as_bytes())
    );
}
