//! Approvals: a second person's minisign signature over a short statement naming the bundle's
//! sha256 (and its `SHA256SUMS`'s, what an unpacked bundle is matched by), the digest of the
//! review they read and the role they approve in. Approvals travel
//! beside the bundle in `<bundle>.approvals` (JSON, one per role and key). A node's policy,
//! `<root>/etc/moa-bundle/policy.toml`, says which keys hold which role and which roles a bundle
//! needs; the bundle's own signature counts for every role its key holds. Without a policy file
//! nothing changes.
//!
//! The statement is plain text, so the real `minisign -V -m statement -x signature` checks an
//! approval as this module does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sign::{SignError, TrustedKey};
use moa_model::types::{Label, Line, RepoPath, Sha256};

/// The node's policy, under the root.
pub(crate) const POLICY_FILE: &str = "etc/moa-bundle/policy.toml";
/// Where the policy's key paths are relative to, under the root.
const POLICY_DIR: &str = "etc/moa-bundle";
const STATEMENT_HEAD: &str = "moa-bundle approval 1";
/// A sidecar, a policy and a statement are small.
const SIDECAR_BYTES: u64 = 1 << 20;
const MAX_APPROVALS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("{}: {message}", path.display())]
    Policy { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Sidecar { path: PathBuf, message: String },
    #[error(transparent)]
    Key(#[from] SignError),
    #[error("{} does not meet this node's approval policy ({}): it lacks the role{} {}.{}\nHave it approved (`moa-bundle approve BUNDLE --key KEY --role ROLE`) by a key {policy} gives that role, and copy {} beside it", bundle.display(), policy.display(), if missing.len() == 1 { "" } else { "s" }, missing.join(", "), refused.iter().map(|r| format!("\n  - refused: {r}")).collect::<String>(), sidecar.display())]
    Unmet { bundle: PathBuf, policy: PathBuf, sidecar: PathBuf, missing: Vec<String>, refused: Vec<String> },
}

/// `policy.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    /// The roles every bundle needs.
    require: Vec<Label>,
    /// Each role and the public keys (paths relative to /etc/moa-bundle) that hold it.
    roles: BTreeMap<Label, RoleKeys>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleKeys {
    keys: Vec<RepoPath>,
}

/// A node's policy, its keys loaded.
#[derive(Debug)]
pub(crate) struct NodePolicy {
    pub path: PathBuf,
    require: Vec<Label>,
    /// Each key and the roles it holds.
    holders: Vec<(TrustedKey, Vec<Label>)>,
}

impl NodePolicy {
    /// The policy under `root`, if it has one.
    pub(crate) fn load(root: &Path) -> Result<Option<Self>, ApprovalError> {
        let path = root.join(POLICY_FILE);
        let bad = |message: String| ApprovalError::Policy { path: path.clone(), message };
        let text = match moa_model::files::read_at_most(&path, SIDECAR_BYTES) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(format!("could not read it: {e}"))),
            Ok(None) => return Err(bad("larger than 1 MiB".into())),
            Ok(Some(t)) => String::from_utf8(t).map_err(|_| bad("not UTF-8 text".into()))?,
        };
        let file: PolicyFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if let Some(r) = file.require.iter().find(|r| !file.roles.contains_key(*r)) {
            return Err(bad(format!("`require` names role `{r}`, which no [roles.{r}] gives keys")));
        }
        let mut holders: Vec<(TrustedKey, Vec<Label>)> = Vec::new();
        for (role, keys) in &file.roles {
            for k in &keys.keys {
                let key_path = moa_model::files::resolve_in_root(root, &Path::new(POLICY_DIR).join(k.as_str()), true)
                    .map_err(|e| bad(format!("key `{k}` of role `{role}`: {e}")))?;
                let key = TrustedKey::load(&key_path)?;
                match holders.iter_mut().find(|(h, _)| h.id == key.id) {
                    Some((_, roles)) => roles.push(role.clone()),
                    None => holders.push((key, vec![role.clone()])),
                }
            }
        }
        moa_model::limits::check("the number of policy keys", holders.len() as u64, moa_model::limits::KEYS as u64)
            .map_err(bad)?;
        Ok(Some(NodePolicy { path, require: file.require, holders }))
    }

    /// Every key the policy names: the bundle's own signature must be by one of them (or by a
    /// trusted key).
    pub(crate) fn keys(&self) -> Vec<TrustedKey> {
        self.holders.iter().map(|(k, _)| k.clone()).collect()
    }

    fn roles_of(&self, key_id: &str) -> &[Label] {
        self.holders.iter().find(|(k, _)| k.id == key_id).map_or(&[], |(_, r)| r.as_slice())
    }

    /// Whether the bundle meets the policy: the roles met, or why not.
    pub(crate) fn check(&self, c: &Candidate<'_>) -> Result<Vec<Met>, ApprovalError> {
        let (named, sidecar, signer) = (c.named, c.sidecar.clone(), c.signer);
        let mut met: Vec<Met> = Vec::new();
        if let Some(id) = signer {
            met.extend(self.roles_of(id).iter().map(|r| Met { role: r.clone(), key: id.to_string(), by: "signature" }));
        }
        let mut refused = Vec::new();
        for a in Sidecar::read(&sidecar)?.approvals {
            match self.judge(&a, &c.identity) {
                Ok(()) => met.push(Met { role: a.role.clone(), key: a.key.to_string(), by: "approval" }),
                Err(why) => refused.push(format!("the approval for role `{}` by key {}: {why}", a.role, a.key)),
            }
        }
        let missing: Vec<String> =
            self.require.iter().filter(|r| !met.iter().any(|m| &m.role == *r)).map(ToString::to_string).collect();
        if !missing.is_empty() {
            let (bundle, policy) = (named.to_path_buf(), self.path.clone());
            return Err(ApprovalError::Unmet { bundle, policy, sidecar, missing, refused });
        }
        Ok(met)
    }

    /// One approval against the policy and the bundle: by a policy key holding its role, its
    /// signature good, its statement for this bundle.
    fn judge(&self, a: &Approval, identity: &Identity) -> Result<(), String> {
        let Some((key, roles)) = self.holders.iter().find(|(k, _)| k.id == a.key.as_str()) else {
            return Err("that key is not in the policy".into());
        };
        if !roles.contains(&a.role) {
            let held: Vec<&str> = roles.iter().map(Label::as_str).collect();
            return Err(format!("that key holds {} in the policy, not `{}`", held.join(", "), a.role));
        }
        let sig =
            minisign_verify::Signature::decode(&a.signature).map_err(|e| format!("not a minisign signature: {e}"))?;
        key.verify(a.statement.as_bytes(), &sig).map_err(|e| format!("its signature does not hold: {e}"))?;
        let s = Statement::parse(&a.statement)?;
        if s.role != a.role {
            return Err(format!("its statement is for role `{}`", s.role));
        }
        match identity {
            Identity::Archive(sha256) if &s.bundle_sha256 != sha256 => {
                Err(format!("it approves another bundle (sha256 {}, this one is {sha256})", s.bundle_sha256))
            }
            Identity::Unpacked(sums) if &s.sums_sha256 != sums => {
                Err(format!("it approves another bundle (SHA256SUMS sha256 {}, this one's is {sums})", s.sums_sha256))
            }
            _ => Ok(()),
        }
    }
}

/// What an approval must name: the archive's sha256, or for an unpacked bundle (which has no
/// archive to hash) the sha256 of its `SHA256SUMS`, every member of which was checked.
pub(crate) enum Identity {
    Archive(Sha256),
    Unpacked(Sha256),
}

/// A bundle checked against the policy.
pub(crate) struct Candidate<'a> {
    /// Its path, as the user named it (for messages).
    pub named: &'a Path,
    /// Where its approvals are.
    pub sidecar: PathBuf,
    pub identity: Identity,
    /// The key its own signature held for.
    pub signer: Option<&'a str>,
}

/// Where an unpacked bundle's approvals are: `<dir>.approvals`, else the archive's sidecar
/// beside it (`<dir>.tar.gz.approvals`, as `tar -xzf` next to it leaves them).
pub(crate) fn unpacked_sidecar(dir: &Path) -> PathBuf {
    let own = sidecar_path(dir);
    let mut archive = dir.as_os_str().to_owned();
    archive.push(".tar.gz");
    let beside = sidecar_path(Path::new(&archive));
    if own.is_file() || !beside.is_file() {
        own
    } else {
        beside
    }
}

/// A role the bundle has, and what gave it.
#[derive(Debug, Clone, Serialize)]
pub struct Met {
    pub role: Label,
    pub key: String,
    /// `signature` (the bundle's own) or `approval`.
    pub by: &'static str,
}

/// What an approver signs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub bundle: Line,
    pub bundle_sha256: Sha256,
    /// sha256 of the bundle's `SHA256SUMS`, which names every member's digest: what an unpacked
    /// bundle (`install.sh`) is matched by.
    pub sums_sha256: Sha256,
    pub review_sha256: Option<Sha256>,
    pub role: Label,
}

impl Statement {
    pub(crate) fn text(&self) -> String {
        let review = self.review_sha256.map_or("none".to_string(), |r| r.to_hex());
        format!(
            "{STATEMENT_HEAD}\nbundle: {}\nbundle-sha256: {}\nsums-sha256: {}\nreview-sha256: {review}\nrole: {}\n",
            self.bundle, self.bundle_sha256, self.sums_sha256, self.role
        )
    }

    /// Reads a statement back, exactly as [`Statement::text`] writes it.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let bad = || "its statement is not one moa-bundle writes".to_string();
        let mut lines = text.strip_suffix('\n').ok_or_else(bad)?.split('\n');
        if lines.next() != Some(STATEMENT_HEAD) {
            return Err(bad());
        }
        let mut field = |name: &str| {
            lines.next().and_then(|l| l.strip_prefix(name)).and_then(|v| v.strip_prefix(": ")).ok_or_else(bad)
        };
        let s = Statement {
            bundle: Line::new(field("bundle")?).map_err(|_| bad())?,
            bundle_sha256: Sha256::from_hex(field("bundle-sha256")?).map_err(|_| bad())?,
            sums_sha256: Sha256::from_hex(field("sums-sha256")?).map_err(|_| bad())?,
            review_sha256: match field("review-sha256")? {
                "none" => None,
                r => Some(Sha256::from_hex(r).map_err(|_| bad())?),
            },
            role: Label::new(field("role")?).map_err(|_| bad())?,
        };
        (s.text() == text).then_some(s).ok_or_else(bad)
    }
}

/// One approval in the sidecar.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Approval {
    pub role: Label,
    /// The minisign key id that signed it.
    pub key: Line,
    pub statement: String,
    /// The minisign signature file's text.
    pub signature: String,
}

/// `<bundle>.approvals`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sidecar {
    pub approvals: Vec<Approval>,
}

pub(crate) fn sidecar_path(bundle: &Path) -> PathBuf {
    let mut s = bundle.as_os_str().to_owned();
    s.push(".approvals");
    PathBuf::from(s)
}

impl Sidecar {
    /// The sidecar at `path` (none there: no approvals), bounded.
    pub(crate) fn read(path: &Path) -> Result<Self, ApprovalError> {
        let bad = |message: String| ApprovalError::Sidecar { path: path.to_path_buf(), message };
        let bytes = match moa_model::files::read_at_most(path, SIDECAR_BYTES) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Sidecar::default()),
            Err(e) => return Err(bad(format!("could not read it: {e}"))),
            Ok(None) => return Err(bad("larger than 1 MiB: not an approvals file".into())),
            Ok(Some(b)) => b,
        };
        let s: Sidecar = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not an approvals file: {e}")))?;
        moa_model::limits::check("the number of approvals", s.approvals.len() as u64, MAX_APPROVALS as u64)
            .map_err(bad)?;
        Ok(s)
    }
}

/// `approve`: signs the statement for `bundle` (checked: `sha256`) with the secret key in
/// `secret`, and adds it to the sidecar (replacing that key's approval for that role).
pub(crate) fn approve(
    bundle: &Path,
    (sha256, sums_sha256): (Sha256, Sha256),
    review: Option<Sha256>,
    role: Label,
    secret: &Path,
) -> Result<(PathBuf, Approval), ApprovalError> {
    let name = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bundle_name =
        Line::new(&name).map_err(|e| ApprovalError::Sidecar { path: bundle.to_path_buf(), message: e.to_string() })?;
    let statement = Statement {
        bundle: bundle_name,
        bundle_sha256: sha256,
        sums_sha256,
        review_sha256: review,
        role: role.clone(),
    };
    let text = statement.text();
    let comment = format!("approval role:{role} bundle-sha256:{sha256}");
    let (key, signature) = super::sign::sign_bytes(text.as_bytes(), secret, &comment)?;
    let approval = Approval { role, key: Line::new(&key).expect("a key id is one line"), statement: text, signature };
    let path = sidecar_path(bundle);
    let mut sidecar = Sidecar::read(&path)?;
    sidecar.approvals.retain(|a| !(a.key == approval.key && a.role == approval.role));
    sidecar.approvals.push(approval.clone());
    let bytes = serde_json::to_vec_pretty(&sidecar).expect("a sidecar serializes");
    moa_model::files::write_atomic(&path, &bytes, 0o644)
        .map_err(|e| ApprovalError::Sidecar { path: path.clone(), message: format!("could not write it: {e}") })?;
    Ok((path, approval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_reads_back_only_as_written() {
        let s = Statement {
            bundle: Line::new("ntp-debian12-amd64.tar.gz").unwrap(),
            bundle_sha256: Sha256::digest(b"b"),
            sums_sha256: Sha256::digest(b"s"),
            review_sha256: None,
            role: Label::new("security").unwrap(),
        };
        assert_eq!(Statement::parse(&s.text()), Ok(s.clone()));
        let with_review = Statement { review_sha256: Some(Sha256::digest(b"r")), ..s.clone() };
        assert_eq!(Statement::parse(&with_review.text()), Ok(with_review));
        for forged in [
            s.text().replace("role: security", "role: security\nrole: builder"),
            s.text().replace("moa-bundle approval 1", "moa-bundle approval 2"),
            s.text().trim_end().to_string(),
            s.text().replace("bundle-sha256: ", "bundle-sha256:  "),
        ] {
            assert!(Statement::parse(&forged).is_err(), "{forged}");
        }
    }
}
