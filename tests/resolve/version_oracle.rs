//! Our version orderings agree with the real tools on every pair of a grid of tricky versions:
//! rpm's own `rpm.vercmp` (through `rpm --eval` and its Lua interpreter) and
//! `dpkg --compare-versions`.

use crate::common;

use std::cmp::Ordering;
use std::process::Command;

use moa_model::version::{DebVersion, Evr};

const RPM_VERSIONS: &[&str] = &[
    "1.0",
    "1.0-1",
    "1.0-2",
    "1:0.9",
    "0:1.0",
    "1.0~rc1",
    "1.0~rc1~git",
    "1.0^",
    "1.0^git1",
    "1.0.1",
    "1.0a",
    "1.0.a",
    "1.00",
    "1.01",
    "1_0",
    "2",
    "10",
    "4.2.6p5-28.el7.centos",
    "4.2.6p5-29.el7.centos.2",
    "5.18-5.el7",
    "2.17-317.el7",
    "2.17-326.el7_9",
    "1.0+",
    "a",
    "b1",
    "1b",
    "0.9-1.fc17",
    "0.9-1.fc17.1",
];

const DEB_VERSIONS: &[&str] = &[
    "1.0",
    "1.0-1",
    "1.0-0",
    "1:0.9",
    "0:1.0",
    "1.0~rc1",
    "1.0~~",
    "1.0~",
    "1.0+",
    "1.0a",
    "1.0.1",
    "1.00",
    "1.0-1ubuntu1",
    "1.0-1ubuntu1.1",
    "1:4.2.8p4+dfsg-3ubuntu5.9",
    "1:4.2.8p4+dfsg-3ubuntu5.10",
    "1:5.18.7-3",
    "2.23-0ubuntu10",
    "2.23-0ubuntu3",
    "3.1-20150325-1ubuntu2",
    "9.20160110ubuntu0.2",
    "2",
    "10",
    "1.2.3-a.b",
];

fn ord(i: i64) -> Ordering {
    i.cmp(&0)
}

#[test]
fn rpm_evr_ordering_matches_rpm() {
    common::require_tools(&["rpm"]);
    let mut lua = String::from("%{lua: ");
    for a in RPM_VERSIONS {
        for b in RPM_VERSIONS {
            lua.push_str(&format!("print(rpm.vercmp('{a}', '{b}') .. ' ') "));
        }
    }
    lua.push('}');
    let out = common::run(Command::new("rpm").arg("--eval").arg(&lua));
    let mut results = out.split_whitespace().map(|l| l.parse::<i64>().expect("rpm.vercmp prints a number"));
    let mut checked = 0;
    for a in RPM_VERSIONS {
        for b in RPM_VERSIONS {
            let want = ord(results.next().expect("one line per pair"));
            let (x, y): (Evr, Evr) = (a.parse().unwrap(), b.parse().unwrap());
            assert_eq!(x.cmp(&y), want, "{a} vs {b}: rpm says {want:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, RPM_VERSIONS.len() * RPM_VERSIONS.len());
}

#[test]
fn deb_version_ordering_matches_dpkg() {
    common::require_tools(&["dpkg"]);
    // One shell for all pairs: dpkg --compare-versions per pair, printing lt/eq/gt.
    let mut script = String::new();
    for a in DEB_VERSIONS {
        for b in DEB_VERSIONS {
            script.push_str(&format!(
                "if dpkg --compare-versions '{a}' lt '{b}'; then echo -1; elif dpkg --compare-versions '{a}' eq '{b}'; then echo 0; else echo 1; fi\n"
            ));
        }
    }
    let out = common::run(Command::new("sh").arg("-c").arg(&script));
    let mut results = out.lines().map(|l| l.trim().parse::<i64>().unwrap());
    for a in DEB_VERSIONS {
        for b in DEB_VERSIONS {
            let want = ord(results.next().unwrap());
            let (x, y): (DebVersion, DebVersion) = (a.parse().unwrap(), b.parse().unwrap());
            assert_eq!(x.cmp(&y), want, "{a} vs {b}: dpkg says {want:?}");
        }
    }
}
