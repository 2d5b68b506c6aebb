//! A suite's `Release`: the text an `InRelease` signature covers (or a `Release` beside its
//! `Release.gpg`), what it lists, and whether it may be used now, by apt's rules
//! (`debReleaseIndex::Load`, `pkgAcqMetaBase::VerifyVendor` in apt 2.6):
//!
//! - `Valid-Until` in the past: expired, refused (apt: "is expired"); a malformed one is refused.
//! - `Date` more than 10 s ahead of the clock (`Acquire::Max-FutureTime`): "not valid yet".
//! - neither `Codename` nor `Suite` is the suite asked for (apt's `CheckDist`, which also accepts
//!   `stable/updates` for `stable`): another suite answered. apt only warns ("Conflicting
//!   distribution"); a build keeps what it packs for years, so here it is refused.
//! - older than a Release of the same archive and suite seen before (its `Date`, remembered in
//!   the cache under the signer, origin, label and suite): a replay or a stale mirror. apt keeps
//!   the newer copy it has; a build refuses, naming both dates.
//!
//! `--allow-old-metadata` (apt's `Check-Valid-Until=false`, for a frozen archive or a snapshot
//! chosen on purpose) lifts the expiry and rollback checks, never the others.

use super::super::RepoError;
use crate::trust::Fingerprint;
use moa_model::types::Sha256;

/// What a `Release` file says: its dates, who it is, and the sha256 of every index file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Release {
    pub date: Option<u64>,
    pub valid_until: Option<u64>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub origin: Option<String>,
    pub label: Option<String>,
    /// (path relative to `dists/<suite>/`, size, sha256)
    pub files: Vec<(String, u64, Sha256)>,
}

impl Release {
    /// The best `Packages` index of a component and arch: `.xz`, then `.gz`, then plain.
    pub fn packages_index(&self, component: &str, arch: &str) -> Option<&(String, u64, Sha256)> {
        self.packages_indexes(component, arch).into_iter().next()
    }

    /// Every listed `Packages` index of a component and arch, best first (a mirror may lack
    /// the compressed ones a Release lists: Debian's `bookworm-updates` lists `.xz` and plain).
    pub fn packages_indexes(&self, component: &str, arch: &str) -> Vec<&(String, u64, Sha256)> {
        let stem = format!("{component}/binary-{arch}/Packages");
        ["xz", "gz", ""]
            .iter()
            .filter_map(|ext| {
                let want = if ext.is_empty() { stem.clone() } else { format!("{stem}.{ext}") };
                self.files.iter().find(|(p, _, _)| *p == want)
            })
            .collect()
    }

    /// Whether this Release may answer for `suite` at `fresh.now` (see the module's rules).
    pub fn check_fresh(&self, url: &str, suite: &str, fresh: Freshness) -> Result<(), RepoError> {
        if let (Some(until), false) = (self.valid_until, fresh.allow_old) {
            if fresh.now > until {
                return Err(RepoError::Expired { url: url.into(), since: moa_model::types::rfc3339(until) });
            }
        }
        if let Some(date) = self.date.filter(|d| *d > fresh.now.saturating_add(MAX_FUTURE_SECS)) {
            return Err(RepoError::NotYetValid { url: url.into(), date: moa_model::types::rfc3339(date) });
        }
        if !self.is_for(suite) {
            let got = self.codename.as_deref().or(self.suite.as_deref()).unwrap_or("no Codename or Suite");
            return Err(RepoError::ConflictingDistribution {
                url: url.into(),
                expected: suite.into(),
                got: moa_model::types::shown(got),
            });
        }
        Ok(())
    }

    /// apt's `metaIndex::CheckDist`.
    fn is_for(&self, suite: &str) -> bool {
        let named = |d: &str| self.codename.as_deref() == Some(d) || self.suite.as_deref() == Some(d);
        if suite.is_empty() || named(suite) {
            return true;
        }
        let t = if suite == "../project/experimental" { "experimental" } else { suite };
        let t = t.rfind('/').map_or(t, |i| &t[..i]);
        t.is_empty() || t == "." || named(t)
    }

    /// The cache key under which the newest `Date` of this archive's `suite` is remembered.
    fn memory_key(&self, suite: &str, signer: Option<&Fingerprint>) -> String {
        let field = |f: &Option<String>| f.clone().unwrap_or_default();
        let signer = signer.map(|f| f.to_string()).unwrap_or_default();
        format!("apt-release-date\0{signer}\0{}\0{}\0{suite}", field(&self.origin), field(&self.label))
    }
}

/// apt's `Acquire::Max-FutureTime` default: a `Date` this far ahead of the clock is tolerated.
const MAX_FUTURE_SECS: u64 = 10;

/// The clock signed metadata is judged by, and whether old metadata is wanted on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Seconds since the epoch.
    pub now: u64,
    /// `--allow-old-metadata`: accept an expired Release, or one older than seen before.
    pub allow_old: bool,
}

impl Freshness {
    /// Judged by this machine's clock.
    pub fn at_now(allow_old: bool) -> Self {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self { now, allow_old }
    }
}

/// Refuses a Release older than the newest one of the same archive and suite that this cache
/// has seen, then remembers this one's `Date` when it is the newest. A remembered value that is
/// not a number is ignored (and replaced): the cache can make a build refuse, never accept.
pub(super) fn check_not_older(
    cache: Option<&crate::cache::Cache>,
    release: &Release,
    suite: &str,
    signer: Option<&Fingerprint>,
    url: &str,
    fresh: Freshness,
) -> Result<(), RepoError> {
    let (Some(cache), Some(date)) = (cache, release.date) else { return Ok(()) };
    let key = release.memory_key(suite, signer);
    let seen = cache.metadata(&key, 32).and_then(|b| String::from_utf8(b).ok()).and_then(|s| s.trim().parse().ok());
    match seen {
        Some(seen) if seen > date && !fresh.allow_old => Err(RepoError::Rollback {
            url: url.into(),
            date: moa_model::types::rfc3339(date),
            seen: moa_model::types::rfc3339(seen),
        }),
        Some(seen) if seen >= date => Ok(()),
        _ => {
            cache.put_metadata(&key, date.to_string().as_bytes());
            Ok(())
        }
    }
}

/// The text of a clearsigned `InRelease` as its signature covers it (RFC 4880 §7.1, as gpg, apt
/// and rPGP read it), with `\n` line ends: the body runs from the blank line after the armor
/// headers to the first line starting with `-----`, without the line break before it; a leading
/// `- ` is removed from every line (not only from escaped dashes) and trailing blanks are
/// trimmed. It does not check the signature: [`crate::trust::Keyring::verify_cleartext`] does,
/// and returns the same text (the `clearsigned` fuzz target holds the two equal). A plain
/// `Release` is returned as it is. Used as it is only by `--insecure-skip-signatures` builds.
pub fn cleartext(text: &str, url: &str) -> Result<String, RepoError> {
    if !text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        return Ok(text.to_string());
    }
    let bad = |m: &str| RepoError::Malformed { url: url.into(), message: m.into() };
    let mut lines = text.split_inclusive('\n');
    // The armor line and headers ("Hash: SHA512") end at the first blank line.
    lines.find(|l| l.trim().is_empty()).ok_or_else(|| bad("a clearsigned message without its text"))?;
    let (mut signed, mut last_end) = (String::new(), 0);
    for line in lines {
        if line.starts_with("-----") {
            // The line break before the signature (as the file has it) is not signed.
            signed.truncate(signed.len() - last_end);
            let mut out = signed.replace("\r\n", "\n");
            out.push('\n');
            return Ok(out);
        }
        last_end = if line.ends_with("\r\n") { 2 } else { usize::from(line.ends_with('\n')) };
        let (content, ending) = line.split_at(line.len() - last_end);
        signed.push_str(content.strip_prefix("- ").unwrap_or(content).trim_end_matches([' ', '\t']));
        signed.push_str(ending);
    }
    Err(bad("a clearsigned message without its signature"))
}

/// Parses a `Release` text (an `InRelease`'s signed text, taken out by the signature check or
/// by [`cleartext`]): its fields and the `SHA256` file list.
pub fn parse_release(body: &str, url: &str) -> Result<Release, RepoError> {
    let bad = |message: String| RepoError::Malformed { url: url.to_string(), message };
    let mut rel = Release::default();
    let mut in_sha = false;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix(' ') {
            if in_sha {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                if let [hash, size, path] = parts[..] {
                    let sha = Sha256::from_hex(hash).map_err(|e| bad(e.to_string()))?;
                    let size = size.parse().map_err(|_| bad(format!("bad size `{size}` for {path}")))?;
                    rel.files.push((path.to_string(), size, sha));
                }
            }
            continue;
        }
        in_sha = line.starts_with("SHA256:");
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        let text = || Some(value.to_string()).filter(|v| !v.is_empty());
        match key {
            "Date" => rel.date = parse_rfc2822(value),
            "Valid-Until" => {
                let until = parse_rfc2822(value);
                rel.valid_until =
                    Some(until.ok_or_else(|| {
                        bad(format!("invalid 'Valid-Until' entry `{}`", moa_model::types::shown(value)))
                    })?);
            }
            "Suite" => rel.suite = text(),
            "Codename" => rel.codename = text(),
            "Origin" => rel.origin = text(),
            "Label" => rel.label = text(),
            _ => {}
        }
    }
    if rel.files.is_empty() {
        return Err(bad("has no SHA256 file list, so its indexes cannot be checked".into()));
    }
    Ok(rel)
}

/// `Thu, 21 Apr 2016 23:23:46 UTC` → seconds since the epoch; `None` for anything else,
/// including fields out of their ranges (years 1970 to 9999).
pub fn parse_rfc2822(s: &str) -> Option<u64> {
    let s = s.split_once(',').map_or(s, |(_, r)| r).trim();
    let p: Vec<&str> = s.split_whitespace().collect();
    let [day, mon, year, time, ..] = p[..] else {
        return None;
    };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == mon)? as i64
        + 1;
    let (d, y): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let t: Vec<i64> = time.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [hh, mm, ss] = t[..] else { return None };
    let in_range = (1970..=9999).contains(&y)
        && (1..=31).contains(&d)
        && (0..24).contains(&hh)
        && (0..60).contains(&mm)
        && (0..=60).contains(&ss);
    if !in_range {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y2, m2) = if month <= 2 { (y - 1, month + 9) } else { (y, month - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    u64::try_from(days * 86400 + hh * 3600 + mm * 60 + ss).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(fields: &str) -> Release {
        let sha = "2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e";
        parse_release(&format!("{fields}SHA256:\n {sha} 1 main/binary-amd64/Packages\n"), "u").unwrap()
    }

    const NOW: u64 = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 UTC

    #[test]
    fn expiry_future_dates_and_suites_follow_apts_rules() {
        let at = |allow_old| Freshness { now: NOW, allow_old };
        let r = release("Suite: stable\nCodename: bookworm\nDate: Tue, 14 Nov 2023 22:13:20 UTC\nValid-Until: Tue, 14 Nov 2023 22:13:19 UTC\n");
        let e = r.check_fresh("u", "bookworm", at(false)).unwrap_err().to_string();
        assert!(
            e.contains("expired") && e.contains("2023-11-14T22:13:19Z") && e.contains("--allow-old-metadata"),
            "{e}"
        );
        r.check_fresh("u", "stable", at(true)).unwrap();
        // Valid until exactly now is still valid, as in apt (`invalid_since > 0`).
        let r = release("Suite: stable\nValid-Until: Tue, 14 Nov 2023 22:13:20 UTC\n");
        r.check_fresh("u", "stable", at(false)).unwrap();
        // Ten seconds ahead is tolerated, eleven is not; the flag does not lift it.
        release("Suite: s\nDate: Tue, 14 Nov 2023 22:13:30 UTC\n").check_fresh("u", "s", at(false)).unwrap();
        let e = release("Suite: s\nDate: Tue, 14 Nov 2023 22:13:31 UTC\n").check_fresh("u", "s", at(true));
        assert!(e.unwrap_err().to_string().contains("not valid yet"));
        // CheckDist: Codename or Suite, `stable/updates` for `stable`.
        let r = release("Suite: stable\nCodename: bookworm\n");
        for ok in ["stable", "bookworm", "stable/updates", "bookworm/updates", ""] {
            r.check_fresh("u", ok, at(false)).unwrap();
        }
        let e = r.check_fresh("u", "bookworm-updates", at(true)).unwrap_err().to_string();
        assert!(e.contains("bookworm-updates") && e.contains("bookworm"), "{e}");
        assert!(release("").check_fresh("u", "stable", at(false)).is_err());
    }

    #[test]
    fn a_malformed_valid_until_is_refused_and_a_malformed_date_ignored() {
        let sha = "2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e";
        let e = parse_release(&format!("Valid-Until: soon\nSHA256:\n {sha} 1 p\n"), "u").unwrap_err();
        assert!(e.to_string().contains("Valid-Until"), "{e}");
        assert_eq!(release("Date: yesterday\n").date, None);
    }

    #[test]
    fn rfc2822_dates() {
        assert_eq!(parse_rfc2822("Thu, 21 Apr 2016 23:23:46 UTC"), Some(1461281026));
        assert_eq!(parse_rfc2822("Sat, 10 Jun 2023 08:53:33 UTC"), Some(1686387213));
        assert_eq!(parse_rfc2822("garbage"), None);
        // Found by the `release` fuzz target: a huge year overflowed the arithmetic.
        assert_eq!(parse_rfc2822("Thu, 21 Apr 922337203685477580 23:23:46 UTC"), None);
        assert_eq!(parse_rfc2822("Thu, 41 Apr 2016 23:23:46 UTC"), None);
    }

    /// Regression (issue 19, class 2): the dash-escaped text was parsed, so a `- ` put before
    /// any line (which the signature does not cover) hid it from the parser.
    #[test]
    fn the_parsed_text_is_the_signed_text_with_dash_escapes_removed() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Ubuntu\n- Valid-Until: Thu, 21 Apr 2016 23:23:46 UTC\nSHA256:\n-  2b479c0f3efa73f75b7fb76c82687744275fff78e4a138b5b3efba95f91e099e 1234 main/binary-amd64/Packages.gz\n 310c1dd3974815282998dd1acb0b2c14c934ad19e196e16956531d57efac86c4 99 main/binary-amd64/Packages.xz\n- -dash escaped\n-----BEGIN PGP SIGNATURE-----\n\nwnUEARYKAB0WIQQ=\n=AAAA\n-----END PGP SIGNATURE-----\n";
        let r = parse_release(&cleartext(text, "u").unwrap(), "u").unwrap();
        assert_eq!(r.valid_until, Some(1461281026));
        assert_eq!(r.files.len(), 2);
        assert_eq!(r.packages_index("main", "amd64").unwrap().0, "main/binary-amd64/Packages.xz");
    }

    /// Found by the `clearsigned` fuzz target: a CR left at a line's end once its blanks are
    /// trimmed was kept by the unverified path, while the signed text ends the line there.
    #[test]
    fn the_unverified_text_is_the_signed_text_with_a_cr_before_blanks() {
        let seed = include_str!("../../../../../fuzz/corpus/clearsigned/gpg-clearsigned");
        let text = seed.replacen("Suite: stable\n", "Suite: stable \r  \n", 1);
        let signed = crate::trust::signed_text_unverified(&text).unwrap();
        assert_eq!(cleartext(&text, "u").unwrap().trim_end(), signed.trim_end());
        assert_eq!(parse_release(&cleartext(&text, "u").unwrap(), "u").unwrap().suite.as_deref(), Some("stable"));
    }
}
