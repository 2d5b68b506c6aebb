//! Dependency syntax of each family, behind [`DepSyntax`]: rpm's `name [OP [E:]V[-R]]` (as the yum
//! reader writes `rpm:entry` elements) and Debian's `a (>= 1) | b:any`.
//!
//! Parsing happens here, on demand, so loading 10,000 packages allocates no dependency trees.

use std::cmp::Ordering;
use std::fmt;

use crate::version::{DebVersion, Evr, Version};

#[derive(Debug, thiserror::Error)]
#[error("`{raw}` is not a dependency moa-bundle can read: {why}")]
pub struct DepError {
    pub raw: String,
    pub why: String,
}

/// A version comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    pub fn accepts(self, o: Ordering) -> bool {
        match self {
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Eq => o == Ordering::Equal,
            Op::Ge => o != Ordering::Less,
            Op::Gt => o == Ordering::Greater,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">",
        })
    }
}

/// One capability with an optional version constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation<'a> {
    pub name: &'a str,
    pub constraint: Option<(Op, Version)>,
}

impl Relation<'_> {
    /// Whether a package or provide of `version` (None: unversioned provide) satisfies this relation.
    pub fn accepts(&self, version: Option<&Version>, unversioned_satisfies: bool) -> bool {
        match (&self.constraint, version) {
            (None, _) => true,
            (Some(_), None) => unversioned_satisfies,
            (Some((op, want)), Some(have)) => op.accepts(have.cmp_for_requirement(want)),
        }
    }
}

impl fmt::Display for Relation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.constraint {
            Some((op, v)) => write!(f, "{} {op} {v}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// How one family writes dependencies.
pub trait DepSyntax: Sync {
    /// A requirement: alternatives, any one of which satisfies it.
    fn parse_requirement<'a>(&self, raw: &'a str) -> Result<Vec<Relation<'a>>, DepError>;
    /// A provide: a name and, when versioned, `=` a version.
    fn parse_provide<'a>(&self, raw: &'a str) -> Result<Relation<'a>, DepError>;
    /// The capability name of a provide, without parsing its version.
    fn provide_name<'a>(&self, raw: &'a str) -> &'a str;
    fn parse_version(&self, raw: &str) -> Result<Version, DepError>;
    /// rpm: an unversioned provide satisfies a versioned requirement; Debian: it does not.
    fn unversioned_provide_satisfies(&self) -> bool;
}

/// rpm dependencies.
pub struct RpmSyntax;

impl DepSyntax for RpmSyntax {
    fn parse_requirement<'a>(&self, raw: &'a str) -> Result<Vec<Relation<'a>>, DepError> {
        if raw.starts_with('(') {
            return Err(DepError {
                raw: raw.into(),
                why: "rich (boolean) dependencies are not supported yet (rpm >= 4.13 repositories)".into(),
            });
        }
        Ok(vec![self.parse_provide(raw)?])
    }
    fn parse_provide<'a>(&self, raw: &'a str) -> Result<Relation<'a>, DepError> {
        let mut parts = raw.split(' ');
        let name = parts.next().unwrap_or("");
        let (Some(op), Some(ver)) = (parts.next(), parts.next()) else {
            return Ok(Relation { name: raw, constraint: None });
        };
        let op = match op {
            "<" => Op::Lt,
            "<=" => Op::Le,
            "=" => Op::Eq,
            ">=" => Op::Ge,
            ">" => Op::Gt,
            _ => return Err(DepError { raw: raw.into(), why: format!("unknown operator `{op}`") }),
        };
        Ok(Relation { name, constraint: Some((op, self.parse_version(ver)?)) })
    }
    fn provide_name<'a>(&self, raw: &'a str) -> &'a str {
        raw.split(' ').next().unwrap_or(raw)
    }
    fn parse_version(&self, raw: &str) -> Result<Version, DepError> {
        raw.parse::<Evr>().map(Version::Rpm).map_err(|e| DepError { raw: raw.into(), why: e.to_string() })
    }
    fn unversioned_provide_satisfies(&self) -> bool {
        true
    }
}

/// Debian dependencies.
pub struct DebSyntax;

impl DebSyntax {
    fn one<'a>(&self, raw: &'a str, whole: &str) -> Result<Relation<'a>, DepError> {
        let raw = raw.trim();
        let (head, constraint) = match raw.split_once('(') {
            Some((head, rest)) => {
                let inner = rest
                    .trim_end()
                    .strip_suffix(')')
                    .ok_or_else(|| DepError { raw: whole.into(), why: "a `(` without its `)`".into() })?;
                let inner = inner.trim();
                let split = inner.find(|c: char| c.is_ascii_alphanumeric()).unwrap_or(inner.len());
                let (op, ver) = inner.split_at(split);
                let op = match op.trim() {
                    "<<" => Op::Lt,
                    "<=" | "<" => Op::Le,
                    "=" => Op::Eq,
                    ">=" | ">" => Op::Ge,
                    ">>" => Op::Gt,
                    other => return Err(DepError { raw: whole.into(), why: format!("unknown operator `{other}`") }),
                };
                (head.trim(), Some((op, self.parse_version(ver.trim())?)))
            }
            None => (raw, None),
        };
        // Build-profile and arch restrictions only appear in source packages; ignore them here.
        let head = head.split(['[', '<']).next().unwrap_or(head).trim();
        // `name:any`, `name:amd64`: single-arch bundles treat the qualifier as the name.
        let name = head.split(':').next().unwrap_or(head);
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(DepError { raw: whole.into(), why: "a relation without a package name".into() });
        }
        Ok(Relation { name, constraint })
    }
}

impl DepSyntax for DebSyntax {
    fn parse_requirement<'a>(&self, raw: &'a str) -> Result<Vec<Relation<'a>>, DepError> {
        raw.split('|').map(|alt| self.one(alt, raw)).collect()
    }
    fn parse_provide<'a>(&self, raw: &'a str) -> Result<Relation<'a>, DepError> {
        self.one(raw, raw)
    }
    fn provide_name<'a>(&self, raw: &'a str) -> &'a str {
        let head = raw.split('(').next().unwrap_or(raw).trim();
        head.split(':').next().unwrap_or(head)
    }
    fn parse_version(&self, raw: &str) -> Result<Version, DepError> {
        raw.parse::<DebVersion>().map(Version::Deb).map_err(|e| DepError { raw: raw.into(), why: e.to_string() })
    }
    fn unversioned_provide_satisfies(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("libopts.so.25()(64bit)", "libopts.so.25()(64bit)", None)]
    #[case("ntpdate = 0:4.2.6p5-29.el7.centos.2", "ntpdate", Some("= 4.2.6p5-29.el7.centos.2"))]
    #[case("systemd-units >= 1:2-3", "systemd-units", Some(">= 1:2-3"))]
    fn rpm_requirements(#[case] raw: &str, #[case] name: &str, #[case] constraint: Option<&str>) {
        let r = RpmSyntax.parse_requirement(raw).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].name, name);
        assert_eq!(r[0].constraint.as_ref().map(|(op, v)| format!("{op} {v}")).as_deref(), constraint);
    }

    #[test]
    fn rpm_rich_dependencies_are_refused_by_name() {
        let e = RpmSyntax.parse_requirement("(a if b)").unwrap_err().to_string();
        assert!(e.contains("(a if b)") && e.contains("rich"), "{e}");
    }

    #[rstest]
    #[case("libc6 (>= 2.14)", &["libc6 >= 2.14"])]
    #[case("default-mta | mail-transport-agent", &["default-mta", "mail-transport-agent"])]
    #[case("python3:any (>= 3.5~)", &["python3 >= 3.5~"])]
    #[case("dhcp3-client (<< 4.1.0-1)", &["dhcp3-client < 4.1.0-1"])]
    #[case("libfoo (>>1.0)|bar", &["libfoo > 1.0", "bar"])]
    fn deb_requirements(#[case] raw: &str, #[case] expected: &[&str]) {
        let alts: Vec<String> = DebSyntax.parse_requirement(raw).unwrap().iter().map(|r| r.to_string()).collect();
        assert_eq!(alts, expected);
    }

    #[rstest]
    #[case("libc6 (>= 2.14")]
    #[case("foo (~= 1)")]
    #[case("foo (>= )")]
    #[case(" | bar")]
    fn deb_malformed(#[case] raw: &str) {
        assert!(DebSyntax.parse_requirement(raw).is_err(), "{raw}");
    }

    #[test]
    fn unversioned_provides_differ_by_family() {
        let want = RpmSyntax.parse_requirement("foo >= 2").unwrap().remove(0);
        assert!(want.accepts(None, RpmSyntax.unversioned_provide_satisfies()));
        let want = DebSyntax.parse_requirement("foo (>= 2)").unwrap().remove(0);
        assert!(!want.accepts(None, DebSyntax.unversioned_provide_satisfies()));
        let v = DebSyntax.parse_version("2.1").unwrap();
        assert!(want.accepts(Some(&v), false));
    }
}
