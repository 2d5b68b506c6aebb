//! `approve` (a reviewer's signature beside the bundle) and, on the node, the approval policy
//! `install` and `verify --node` enforce ([`crate::bundle::approval`]).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Checked, CommandError};
use crate::bundle::approval::{self, ApprovalError, Met, NodePolicy};
use crate::bundle::sign::TrustedKey;
use moa_model::types::{Label, Sha256};

/// What `approve` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ApproveReport {
    pub bundle: PathBuf,
    pub sha256: Sha256,
    pub role: Label,
    pub key: String,
    /// The review's digest the approval names, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_sha256: Option<Sha256>,
    /// `<bundle>.approvals`.
    pub sidecar: PathBuf,
    /// The statement signed.
    pub statement: String,
}

/// `approve BUNDLE --key SECRET --role ROLE [--review FILE]`: the bundle is verified whole
/// first (an approval names the sha256 of the bytes checked), then the statement is signed and
/// added to `<bundle>.approvals`.
pub fn approve_cmd(
    bundle: &Path,
    secret: &Path,
    role: &Label,
    review: Option<&Path>,
) -> Result<ApproveReport, CommandError> {
    let checked = super::open_verified(bundle, &[], false)?;
    let named = checked._opened.as_ref().map(|o| o.named.clone()).ok_or_else(|| ApprovalError::Sidecar {
        path: bundle.to_path_buf(),
        message: "an unpacked directory cannot be approved: approve the bundle file (.tar.gz) or its parts".into(),
    })?;
    let sha256 = checked.unpacked.bundle_sha256;
    let sums = sums_sha256(&checked.unpacked)?;
    let review_sha256 = review
        .map(|r| {
            moa_model::files::read_at_most(r, 256 << 20)
                .map_err(|e| CommandError::Io { what: r.display().to_string(), source: e })?
                .map(|b| Sha256::digest(&b))
                .ok_or_else(|| CommandError::Io {
                    what: r.display().to_string(),
                    source: std::io::Error::other("larger than 256 MiB: not a review"),
                })
        })
        .transpose()?;
    let (sidecar, a) = approval::approve(&named, (sha256, sums), review_sha256, role.clone(), secret)?;
    Ok(ApproveReport {
        bundle: named,
        sha256,
        role: role.clone(),
        key: a.key.to_string(),
        review_sha256,
        sidecar,
        statement: a.statement,
    })
}

/// The node's policy, if it has one, and the keys a bundle's signature may then be by: the
/// trusted ones and the policy's.
pub(crate) fn node_policy(
    root: &Path,
    trusted: &[TrustedKey],
) -> Result<(Option<NodePolicy>, Vec<TrustedKey>), CommandError> {
    let policy = NodePolicy::load(root)?;
    let mut keys = trusted.to_vec();
    for k in policy.iter().flat_map(NodePolicy::keys) {
        if !keys.iter().any(|t| t.id == k.id) {
            keys.push(k);
        }
    }
    Ok((policy, keys))
}

/// The roles a checked bundle has under `policy`, or why it does not meet it. An archive is
/// matched by its sha256 and its approvals are beside it; an unpacked bundle (no archive, no
/// signature to check) by its `SHA256SUMS`, its approvals beside the directory.
pub(crate) fn enforce(policy: Option<&NodePolicy>, bundle: &Path, checked: &Checked) -> Result<Vec<Met>, CommandError> {
    let Some(policy) = policy else { return Ok(Vec::new()) };
    let candidate = match &checked._opened {
        Some(opened) => approval::Candidate {
            named: &opened.named,
            sidecar: approval::sidecar_path(&opened.named),
            identity: approval::Identity::Archive(checked.unpacked.bundle_sha256),
            signer: checked.signature.as_ref().map(|s| s.key.as_str()),
        },
        None => approval::Candidate {
            named: bundle,
            sidecar: approval::unpacked_sidecar(bundle),
            identity: approval::Identity::Unpacked(sums_sha256(&checked.unpacked)?),
            signer: None,
        },
    };
    Ok(policy.check(&candidate)?)
}

/// sha256 of the checked bundle's `SHA256SUMS` (its private copy).
fn sums_sha256(u: &crate::bundle::verify::Unpacked) -> Result<Sha256, CommandError> {
    let path = u.dir.join(crate::bundle::SUMS_FILE);
    let bytes = moa_model::files::read_at_most(&path, moa_model::limits::SUMS_BYTES)
        .map_err(|source| CommandError::Io { what: path.display().to_string(), source })?
        .unwrap_or_default();
    Ok(Sha256::digest(&bytes))
}
