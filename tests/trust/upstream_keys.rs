//! Upstream signatures on real data: Debian's real signed `bookworm-updates` InRelease with
//! Debian's real archive keys, and the real CentOS 7 key, judged by `trust::Keyring`.

use crate::common;

use std::path::Path;

use moa_engine::formats::{Keyring, TrustError};
use moa_model::key::{Fingerprint, KeyPin};
use moa_model::types::Sha256;

const BOOKWORM: &str = "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8";
const BOOKWORM_SIGNING_SUBKEY: &str = "4CB50190207B4758A3F73A796ED0E7B82643E131";
const TRIXIE: &str = "04B54C3CDCA79751B16BC6B5225629DF75B188BD";
const CENTOS7: &str = "6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5";

fn pin(path: &Path, fingerprint: &str, legacy: bool) -> KeyPin {
    KeyPin {
        file: path.display().to_string(),
        url: None,
        fingerprint: Fingerprint::new(fingerprint).unwrap(),
        legacy,
        bytes: fs_err::read(path).unwrap(),
        mirror_urls: Vec::new(),
    }
}

fn debian() -> Option<(std::path::PathBuf, String)> {
    let dir = common::shared_fixtures()?.join("debian12-signed");
    let text = fs_err::read_to_string(dir.join("bookworm-updates-InRelease")).unwrap();
    Some((dir, text))
}

#[test]
fn the_real_inrelease_verifies_with_both_debian_keys_and_its_packages_chain_from_it() {
    let Some((dir, text)) = debian() else { return };
    let ring = Keyring::load(&[
        pin(&dir.join("debian-archive-bookworm-automatic.gpg"), BOOKWORM, false),
        pin(&dir.join("debian-archive-trixie-automatic.gpg"), TRIXIE, false),
    ])
    .unwrap();
    let (signed, who) = ring.verify_cleartext("InRelease", &text).unwrap();
    assert_eq!(who.key.as_str(), BOOKWORM, "the first good signature is the bookworm key's");
    assert_eq!(who.signer.as_str(), BOOKWORM_SIGNING_SUBKEY, "made by its signing subkey, as gpgv says");
    // The Packages file is what the signed text lists (size and sha256).
    let release = moa_engine::formats::apt::parse_release(&signed, "InRelease").unwrap();
    let (_, size, sha) = release.packages_index("main", "amd64").unwrap().clone();
    let packages = fs_err::read(dir.join("bookworm-updates-main-binary-amd64-Packages")).unwrap();
    let plain = release.files.iter().find(|(p, _, _)| p == "main/binary-amd64/Packages").unwrap();
    assert_eq!((packages.len() as u64, Sha256::digest(&packages)), (plain.1, plain.2));
    assert!(size > 0 && sha != Sha256::digest(b""));
    // One byte of Packages flipped: it no longer matches what the signed text lists.
    let mut flipped = packages.clone();
    flipped[1000] ^= 1;
    assert_ne!(Sha256::digest(&flipped), plain.2);
}

#[test]
fn the_bookworm_key_alone_is_enough_as_apt_says() {
    let Some((dir, text)) = debian() else { return };
    let ring = Keyring::load(&[pin(&dir.join("debian-archive-bookworm-automatic.gpg"), BOOKWORM, false)]).unwrap();
    let (_, who) = ring.verify_cleartext("InRelease", &text).unwrap();
    assert_eq!(who.key.as_str(), BOOKWORM);
    // And the trixie key alone too: the other signature is by a key nobody pinned, ignored.
    let ring = Keyring::load(&[pin(&dir.join("debian-archive-trixie-automatic.gpg"), TRIXIE, false)]).unwrap();
    assert_eq!(ring.verify_cleartext("InRelease", &text).unwrap().1.key.as_str(), TRIXIE);
}

#[test]
fn one_flipped_byte_of_the_signed_text_breaks_the_chain() {
    let Some((dir, text)) = debian() else { return };
    let ring = Keyring::load(&[pin(&dir.join("debian-archive-bookworm-automatic.gpg"), BOOKWORM, false)]).unwrap();
    // A digit of a listed sha256, inside the signed text.
    let at = text.find(" 80a1f6ee").unwrap() + 1;
    let mut bytes = text.clone().into_bytes();
    bytes[at] = b'9';
    let tampered = String::from_utf8(bytes).unwrap();
    match ring.verify_cleartext("InRelease", &tampered) {
        // Regression (issue 19, class 9): the reason was rPGP's debug dump of hash bytes.
        Err(TrustError::BadSignature { key, reason, .. }) => {
            assert_eq!(key, BOOKWORM_SIGNING_SUBKEY);
            assert_eq!(reason, "it does not match the data");
        }
        other => panic!("a tampered InRelease must be refused as badly signed, got {other:?}"),
    }
}

#[test]
fn a_file_signed_only_by_keys_nobody_pinned_is_refused_naming_them() {
    let Some(fixtures) = common::shared_fixtures() else { return };
    let (_, text) = debian().unwrap();
    let ubuntu = fixtures.join("ubuntu-keys/ubuntu-keyring-2018-archive.gpg");
    let ring = Keyring::load(&[pin(&ubuntu, "F6ECB3762474EDA9D21B7022871920D1991BC93C", false)]).unwrap();
    let err = ring.verify_cleartext("InRelease", &text).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TrustError::NoTrustedSignature { .. }), "{msg}");
    assert!(msg.contains("F6ECB3762474EDA9D21B7022871920D1991BC93C"), "names the key expected: {msg}");
    assert!(msg.contains(BOOKWORM_SIGNING_SUBKEY), "names the key seen: {msg}");
}

#[test]
fn a_key_file_without_the_pinned_fingerprint_is_refused() {
    let Some((dir, _)) = debian() else { return };
    let wrong = pin(&dir.join("debian-archive-trixie-automatic.gpg"), BOOKWORM, false);
    let msg = Keyring::load(&[wrong]).unwrap_err().to_string();
    assert!(msg.contains(TRIXIE) && msg.contains(BOOKWORM), "names what it holds and what was pinned: {msg}");
}

#[test]
fn the_real_ubuntu_2018_and_debian_keys_are_usable_without_legacy() {
    let Some(fixtures) = common::shared_fixtures() else { return };
    for (file, fpr) in [
        ("ubuntu-keys/ubuntu-keyring-2018-archive.gpg", "F6ECB3762474EDA9D21B7022871920D1991BC93C"),
        ("debian12-signed/debian-archive-bookworm-automatic.gpg", BOOKWORM),
    ] {
        Keyring::load(&[pin(&fixtures.join(file), fpr, false)]).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

/// `gpg --list-packets` shows digest algo 2 (SHA-1) on the only self-signature of each.
#[test]
fn the_centos7_and_ubuntu_2012_keys_are_sha1_self_signed_and_need_legacy() {
    let Some(fixtures) = common::shared_fixtures() else { return };
    for (file, fpr) in [
        ("centos7-7.9.2009-os-x86_64/RPM-GPG-KEY-CentOS-7", CENTOS7),
        ("ubuntu-keys/ubuntu-keyring-2012-archive.gpg", "790BC7277767219C42C86F933B4FE6ACC0B21F32"),
    ] {
        let key = fixtures.join(file);
        let msg = Keyring::load(&[pin(&key, fpr, false)]).unwrap_err().to_string();
        assert!(msg.contains("SHA-1") && msg.contains("legacy = true"), "{msg}");
        Keyring::load(&[pin(&key, fpr, true)]).unwrap();
    }
}

/// The real chain through the binary: Debian's signed `bookworm-updates` InRelease and its
/// plain `Packages` (the mirror has no `Packages.xz`, which the InRelease lists first) on a
/// loopback mirror, the manifest pinning Debian's real bookworm key. Good → resolved; one byte
/// of `Packages` or of the InRelease flipped → refused.
#[test]
fn the_real_debian_chain_through_the_binary_and_one_flipped_byte_anywhere_breaks_it() {
    let Some((dir, text)) = debian() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let suite = t.join("mirror/dists/bookworm-updates");
    fs_err::create_dir_all(suite.join("main/binary-amd64")).unwrap();
    fs_err::write(suite.join("InRelease"), &text).unwrap();
    let packages = fs_err::read(dir.join("bookworm-updates-main-binary-amd64-Packages")).unwrap();
    fs_err::write(suite.join("main/binary-amd64/Packages"), &packages).unwrap();
    fs_err::copy(dir.join("debian-archive-bookworm-automatic.gpg"), t.join("bookworm.gpg")).unwrap();
    let mirror = common::Mirror::serve(&t.join("mirror"));
    let manifest = common::TestManifest::deb(&["libssl-doc"])
        .set("name", "doc")
        .set("distro", "debian12")
        .apt_repo("updates", "bookworm-updates", &mirror.url, common::Keys::File("bookworm.gpg", BOOKWORM))
        .write_to(&t.join("m.toml"));
    let resolve = |cache: &str| {
        common::moa(&t.join(cache))
            .args(["resolve", "--no-base", "--json", "--manifest"])
            .arg(&manifest)
            .output()
            .unwrap()
    };
    // With --json the error is a JSON object on stdout.
    let error = |out: std::process::Output| -> String {
        assert!(!out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["error"].as_str().unwrap().to_string()
    };
    let out = resolve("c1");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["packages"][0]["version"], "3.0.17-1~deb12u2");

    let mut flipped = packages.clone();
    flipped[1000] ^= 1;
    fs_err::write(suite.join("main/binary-amd64/Packages"), &flipped).unwrap();
    let err = error(resolve("c2"));
    assert!(err.contains("Packages") && err.contains("checksum mismatch"), "{err}");
    fs_err::write(suite.join("main/binary-amd64/Packages"), &packages).unwrap();

    // The day of its Date: still a valid date, only the signature can tell.
    let at = text.find("Date: Sat, 28 Nov").unwrap() + 12;
    let mut bytes = text.into_bytes();
    assert_eq!(bytes[at], b'8');
    bytes[at] = b'7';
    fs_err::write(suite.join("InRelease"), &bytes).unwrap();
    let err = error(resolve("c3"));
    assert!(err.contains("InRelease") && err.contains("is bad") && err.contains(BOOKWORM_SIGNING_SUBKEY), "{err}");
}
