//! What the resolver tells people, as data: each planned package's why-chain ([`WhyStep`]) and
//! the plan's notes ([`Note`]). The `Display` impls here are the one place they become English;
//! reports serialize them as that text (the JSON a script reads is the same sentence a person
//! reads), and the SBOM takes the dependency graph, not the prose.

use std::fmt;

use serde::{Serialize, Serializer};

/// One step of the chain from a requested package down to a planned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhyStep {
    /// The chain's start: a package the manifest asks for.
    Requested { package: String },
    /// `package` has a requirement the next package meets.
    Needs { package: String, requirement: String },
    /// Upgraded along with `with`, both built from `source` (apt's policy).
    UpgradedWith { package: String, with: String, source: String },
    /// Taken so that the node's packages stay consistent (a dependency of the node's own).
    KeepsConsistent { package: String },
    /// A step as a lock or a bundle recorded it.
    Recorded(String),
}

impl fmt::Display for WhyStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requested { package } => write!(f, "{package} (requested)"),
            Self::Needs { package, requirement } => write!(f, "{package} needs {requirement}"),
            Self::UpgradedWith { package, with, source } => {
                write!(f, "{package} (upgraded with {with}, built from the same source {source}, as apt does)")
            }
            Self::KeepsConsistent { package } => write!(f, "{package} (keeps the node's packages consistent)"),
            Self::Recorded(s) => f.write_str(s),
        }
    }
}

/// Something the user should know about a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    BaseRootsMissing {
        roots: Vec<String>,
    },
    AlreadyInstalled {
        request: String,
        version: String,
    },
    OptionalMissing {
        request: String,
    },
    /// The newest version could not be planned with the rest; another was packed.
    NotTogether {
        package: String,
        version: String,
        packed: String,
    },
    /// An unpinned request for an obsoleted name resolved to its obsoleter (as yum does).
    Obsoleted {
        request: String,
        by: String,
        version: String,
    },
    /// Installing `new` removes `old` from the node: it conflicts with it (deb: as apt removes it;
    /// rpm: it obsoletes it).
    Removes {
        new: String,
        old: String,
        conflict: String,
    },
    /// A base package's requirement no repository meets; the node is assumed to have it.
    BaseUnmet {
        package: String,
        requirement: String,
    },
    /// Two node profiles need different versions: the newest is packed for both.
    NewerForAnotherNode {
        node: String,
        package: String,
        needs: String,
        packed: String,
    },
    /// apt's own walk stopped where apt-get calls its problem resolver: the answer is the SAT
    /// step's, which may differ from apt-get's.
    BeyondAptWalk {
        reason: String,
    },
    /// A note of the resolve for one node profile (`--target`).
    ForNode {
        node: String,
        note: Box<Note>,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BaseRootsMissing { roots } => {
                write!(f, "base roots not in any repository (ignored): {}", roots.join(", "))
            }
            Self::AlreadyInstalled { request, version } => {
                write!(f, "`{request}` is already installed on the node at {version}: not packed")
            }
            Self::OptionalMissing { request } => write!(f, "optional package `{request}` is not in any repository: skipped"),
            Self::NotTogether { package: n, version: v, packed } => write!(
                f,
                "{n} {v} cannot be installed together with the node's packages and the rest of the plan: {packed} is packed instead (pin `{n} = {v}` in the manifest to see why)"
            ),
            Self::Obsoleted { request, by, version } => {
                write!(f, "`{request}` is obsoleted by {by} {version}: packing {by} instead (as yum does)")
            }
            Self::Removes { new, old, conflict } => {
                write!(f, "installing {new} removes {old} from the node (it conflicts with it: `{conflict}`)")
            }
            Self::ForNode { node, note } => write!(f, "{node}: {note}"),
            Self::NewerForAnotherNode { node, package, needs, packed } => {
                write!(f, "{node} needs {package} {needs}: packed instead of {packed}")
            }
            Self::BeyondAptWalk { reason } => write!(
                f,
                "{reason}: apt-get would call its problem resolver here, so these packages are a SAT solver's answer, which may differ from what apt-get installs"
            ),
            Self::BaseUnmet { package, requirement } => write!(
                f,
                "base: {package} needs `{requirement}`, which no repository provides (ignored: the node is assumed to have it)"
            ),
        }
    }
}

/// Serialized as the sentence `Display` writes.
macro_rules! serialize_as_text {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
serialize_as_text!(WhyStep);
serialize_as_text!(Note);

/// The chain as text, one string per step (for tests and messages).
#[cfg(test)]
pub(crate) fn chain_text(steps: &[WhyStep]) -> Vec<String> {
    steps.iter().map(WhyStep::to_string).collect()
}
