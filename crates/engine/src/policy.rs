//! Resolve policy: how each family's own tool chooses where more than one answer meets every
//! dependency, apart from how dependencies are written ([`moa_model::deps`]). The resolver asks its
//! [`ResolvePolicy`]; the composition root gives each family its own.
//!
//! - rpm follows dnf (libsolv): an unversioned provide meets a versioned requirement; a
//!   requested package comes at its best version, but a dependency is chosen so that the node's
//!   installed packages stay as they are when some choice allows it (`install X` where the
//!   newest `Y` needs a newer `lib` takes the older `Y` that works with the installed `lib`);
//!   among packages providing one capability, libsolv's order: not a name whose newest build
//!   no longer provides it, the highest provided version, then the alphabetically first name.
//! - deb follows apt: a versioned requirement needs a versioned provide; dependencies come at
//!   their candidate (newest) version, upgrading what they need; binaries built from the same
//!   source as a new package are upgraded with it; among several packages providing one
//!   capability, the more important `Priority` wins (`awk`: `mawk`, required, over `gawk`).

use crate::repo::{PackageRecord, Priority};

pub trait ResolvePolicy: Sync {
    /// rpm: an unversioned provide satisfies a versioned requirement; Debian: it does not.
    fn unversioned_provide_satisfies(&self) -> bool;
    /// apt upgrades installed binaries of a new package's source along with it; dnf does not.
    fn upgrades_by_source(&self) -> bool {
        false
    }
    /// dnf keeps an installed package when a choice of the dependencies works with it, and
    /// upgrades it only when none does; apt takes the dependencies' newest versions.
    fn keeps_installed(&self) -> bool {
        false
    }
    /// Among package names providing one capability (none of them installed, none named like
    /// it), lower ranks first; ties go by [`ResolvePolicy::provider_name_key`].
    fn provider_rank(&self, _p: &PackageRecord) -> u8 {
        0
    }
    /// apt removes an installed package that a new package Conflicts with or Breaks, when no
    /// upgrade of it avoids that and it is not Essential (`MarkInstall_MarkDeleteForNotUpgradeable`),
    /// with or without `Replaces`. dnf removes one only when the new package obsoletes it.
    fn removes_what_a_new_package_conflicts_with(&self) -> bool {
        false
    }
    /// dnf installs no package that nothing in the transaction needs: a solution's extra
    /// provider of a requirement another member meets is dropped (`resolve::prune`).
    fn drops_unneeded(&self) -> bool {
        false
    }
    /// apt tries the package named like a capability before its providers; libsolv has no such
    /// rule (a `kernel` requirement: kernel-debug, whose provided `kernel-uname-r` is higher).
    fn prefers_provider_named_like_capability(&self) -> bool {
        true
    }
    /// Whether providers are reordered as libsolv reorders them (dnf): a name whose newest
    /// build no longer provides the capability last, and the highest provided version first
    /// (see `resolve::choose`), before [`ResolvePolicy::provider_rank`] and the name.
    fn orders_providers_like_libsolv(&self) -> bool {
        false
    }
    /// The last tie-break among providers' names: shorter first, then alphabetical (apt), or
    /// alphabetical alone (libsolv: dnf takes `aa` over `b`, `abcdef` over `zz`).
    fn provider_name_key<'n>(&self, name: &'n str) -> (usize, &'n str) {
        (name.len(), name)
    }
    /// Whether the answer, where apt's own walk decides it, is the one that walk meets first
    /// (`resolve::mark`: or-groups and providers in apt's order, a group met meanwhile left
    /// alone); the SAT step answers the rest.
    fn marks_like_apt(&self) -> bool {
        false
    }
    /// A request naming a virtual package that several packages provide: apt refuses it and
    /// lists the providers (unless one is installed); dnf installs the best provider.
    fn virtual_request_needs_one_provider(&self) -> bool {
        false
    }
    /// Whether package `p` answers a relation on its name with this arch qualifier (Debian's
    /// `pkg:any`, `pkg:amd64`, `pkg:native`); rpm writes none, so every package does.
    fn arch_qualifier_accepts(&self, _qualifier: Option<&str>, _p: &PackageRecord) -> bool {
        true
    }
}

pub(crate) struct RpmPolicy;

impl ResolvePolicy for RpmPolicy {
    fn unversioned_provide_satisfies(&self) -> bool {
        true
    }
    fn keeps_installed(&self) -> bool {
        true
    }
    fn orders_providers_like_libsolv(&self) -> bool {
        true
    }
    fn prefers_provider_named_like_capability(&self) -> bool {
        false
    }
    fn drops_unneeded(&self) -> bool {
        true
    }
    fn provider_name_key<'n>(&self, name: &'n str) -> (usize, &'n str) {
        (0, name)
    }
}

pub(crate) struct DebPolicy;

impl ResolvePolicy for DebPolicy {
    fn unversioned_provide_satisfies(&self) -> bool {
        false
    }
    fn removes_what_a_new_package_conflicts_with(&self) -> bool {
        true
    }
    fn upgrades_by_source(&self) -> bool {
        true
    }
    fn marks_like_apt(&self) -> bool {
        true
    }
    /// apt-get: "Package X is a virtual package provided by: … You should explicitly select one
    /// to install."
    fn virtual_request_needs_one_provider(&self) -> bool {
        true
    }
    /// dpkg's rule, whatever the arch: `pkg:any` needs `Multi-Arch: allowed`; `pkg:ARCH` that
    /// arch (or `all`). Provides are not asked: apt lets them meet `:any`.
    fn arch_qualifier_accepts(&self, qualifier: Option<&str>, p: &PackageRecord) -> bool {
        match qualifier {
            None | Some("native") => true,
            Some("any") => p.multi_arch == crate::repo::MultiArch::Allowed,
            Some(a) => p.arch.as_str() == a || p.arch.as_str() == "all",
        }
    }
    /// apt's provider order (`CompareProviders`): Essential, then by Priority.
    fn provider_rank(&self, p: &PackageRecord) -> u8 {
        let priority = match p.priority {
            Some(Priority::Required) => 0,
            Some(Priority::Important) => 1,
            Some(Priority::Standard) => 2,
            Some(Priority::Optional) | None => 3,
            Some(Priority::Extra) | Some(Priority::Other) => 4,
        };
        if p.essential {
            0
        } else {
            priority + 1
        }
    }
}
