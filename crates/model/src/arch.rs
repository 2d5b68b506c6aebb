//! Architectures as each package family names them: the one model of which package
//! architectures a node takes, used by the metadata readers, the resolver, the verifier and the
//! installer alike. A model type (no stage below it): each family's backend owns an
//! [`ArchModel`], and `family.rs` hands it to the stages.

/// How a family names and matches architectures.
pub trait ArchModel: Sync {
    /// The family's name for the machine architecture `machine` names (as `uname -m` and ELF
    /// headers do: `x86_64`, `aarch64`, `i686`…).
    fn name_of_machine(&self, machine: &str) -> String;
    /// The name of architecture-independent packages (`noarch`, `all`).
    fn independent(&self) -> &'static str;
    /// Whether a package of architecture `package` installs on a node of architecture `node`.
    /// Multilib (i686 on x86_64) is never taken.
    fn installs_on(&self, package: &str, node: &str) -> bool {
        package == node || package == self.independent()
    }
    /// Whether two packages of one name are the same slot on a node (an installed one and a
    /// bundled one): same arch, or either is arch-independent.
    fn same_slot(&self, a: &str, b: &str) -> bool {
        a == b || a == self.independent() || b == self.independent()
    }
}

/// rpm: `x86_64`, `aarch64`, `noarch`.
pub struct RpmArch;
/// dpkg: `amd64`, `arm64`, `all`.
pub struct DebArch;

impl ArchModel for RpmArch {
    fn name_of_machine(&self, machine: &str) -> String {
        match machine {
            "x86" | "i386" | "i586" => "i686".into(),
            "arm" => "armv7hl".into(),
            "powerpc64" => "ppc64le".into(),
            other => other.into(),
        }
    }
    fn independent(&self) -> &'static str {
        "noarch"
    }
}

impl ArchModel for DebArch {
    fn name_of_machine(&self, machine: &str) -> String {
        match RpmArch.name_of_machine(machine).as_str() {
            "x86_64" => "amd64".into(),
            "aarch64" => "arm64".into(),
            "i686" => "i386".into(),
            "armv7hl" => "armhf".into(),
            "ppc64le" => "ppc64el".into(),
            other => other.into(),
        }
    }
    fn independent(&self) -> &'static str {
        "all"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names_map_per_family_and_independent_packages_install_anywhere() {
        assert_eq!(DebArch.name_of_machine("x86_64"), "amd64");
        assert_eq!(DebArch.name_of_machine("aarch64"), "arm64");
        assert_eq!(RpmArch.name_of_machine("aarch64"), "aarch64");
        assert_eq!(RpmArch.name_of_machine("x86"), "i686");
        assert!(RpmArch.installs_on("noarch", "x86_64") && !RpmArch.installs_on("i686", "x86_64"));
        assert!(DebArch.installs_on("all", "arm64") && !DebArch.installs_on("amd64", "arm64"));
        assert!(!RpmArch.installs_on("all", "x86_64"), "`all` is dpkg's word, not rpm's");
        assert!(DebArch.same_slot("all", "amd64") && !DebArch.same_slot("i386", "amd64"));
    }
}
