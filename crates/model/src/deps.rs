//! Dependency syntax of each family, behind [`DepSyntax`]: rpm's `name [OP [E:]V[-R]]` (as the yum
//! reader writes `rpm:entry` elements) and its rich (boolean) dependencies `(a if b)`, and
//! Debian's `a (>= 1) | b:any`.
//!
//! Parsing happens here, on demand, so loading 10,000 packages allocates no dependency trees.
//! [`DepSyntax::parse_dep`] gives the whole expression (what the SAT step encodes);
//! [`DepSyntax::parse_requirement`] flattens it to the relations any of which could meet it (what
//! `--why`, install staging and the base estimate use).

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
    /// Debian's architecture qualifier: `any` in `python3:any` (met only by a `Multi-Arch:
    /// allowed` package), or an architecture name.
    pub qualifier: Option<&'a str>,
}

impl<'a> Relation<'a> {
    pub fn plain(name: &'a str) -> Self {
        Self { name, constraint: None, qualifier: None }
    }
}

/// A whole dependency: one relation, Debian alternatives, or an rpm rich (boolean) expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dep<'a> {
    Rel(Relation<'a>),
    /// Any one of them (deb `a | b`, rpm `(a or b)`).
    Or(Vec<Dep<'a>>),
    /// All of them.
    And(Vec<Dep<'a>>),
    /// One package that meets all of them (`(a with b)`).
    With(Vec<Dep<'a>>),
    /// A package that meets the first and not the second (`(a without b)`).
    Without(Box<Dep<'a>>, Box<Dep<'a>>),
    /// `(then if cond [else otherwise])`.
    If {
        then: Box<Dep<'a>>,
        cond: Box<Dep<'a>>,
        otherwise: Option<Box<Dep<'a>>>,
    },
    /// `(then unless cond [else otherwise])`.
    Unless {
        then: Box<Dep<'a>>,
        cond: Box<Dep<'a>>,
        otherwise: Option<Box<Dep<'a>>>,
    },
}

impl<'a> Dep<'a> {
    /// Relations any of which could take part in meeting this dependency, in written order.
    pub fn leaves(&self, out: &mut Vec<Relation<'a>>) {
        match self {
            Dep::Rel(r) => out.push(r.clone()),
            Dep::Or(v) | Dep::And(v) | Dep::With(v) => v.iter().for_each(|d| d.leaves(out)),
            Dep::Without(a, _) => a.leaves(out),
            Dep::If { then, otherwise, .. } | Dep::Unless { then, otherwise, .. } => {
                then.leaves(out);
                if let Some(o) = otherwise {
                    o.leaves(out);
                }
            }
        }
    }
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
    /// A whole dependency (requirement, conflict, obsoletes).
    fn parse_dep<'a>(&self, raw: &'a str) -> Result<Dep<'a>, DepError>;
    /// A requirement flattened: the relations any one of which could meet it.
    fn parse_requirement<'a>(&self, raw: &'a str) -> Result<Vec<Relation<'a>>, DepError> {
        let mut out = Vec::new();
        self.parse_dep(raw)?.leaves(&mut out);
        Ok(out)
    }
    /// A provide: a name and, when versioned, `=` a version.
    fn parse_provide<'a>(&self, raw: &'a str) -> Result<Relation<'a>, DepError>;
    /// The capability name of a provide, without parsing its version.
    fn provide_name<'a>(&self, raw: &'a str) -> &'a str;
    fn parse_version(&self, raw: &str) -> Result<Version, DepError>;
}

/// rpm dependencies.
pub struct RpmSyntax;

impl DepSyntax for RpmSyntax {
    fn parse_dep<'a>(&self, raw: &'a str) -> Result<Dep<'a>, DepError> {
        if raw.starts_with('(') {
            let mut p = RichParser { raw, pos: 0, syntax: self };
            let dep = p.group()?;
            p.skip_space();
            if p.pos != raw.len() {
                return Err(p.error("text after the closing `)`"));
            }
            return Ok(dep);
        }
        Ok(Dep::Rel(self.parse_provide(raw)?))
    }
    fn parse_provide<'a>(&self, raw: &'a str) -> Result<Relation<'a>, DepError> {
        let mut parts = raw.split(' ');
        let name = parts.next().unwrap_or("");
        if name.is_empty() {
            return Err(DepError { raw: raw.into(), why: "a dependency without a name".into() });
        }
        let (Some(op), Some(ver)) = (parts.next(), parts.next()) else {
            return Ok(Relation::plain(raw));
        };
        let op = rpm_op(op).ok_or_else(|| DepError { raw: raw.into(), why: format!("unknown operator `{op}`") })?;
        Ok(Relation { name, constraint: Some((op, self.parse_version(ver)?)), qualifier: None })
    }
    fn provide_name<'a>(&self, raw: &'a str) -> &'a str {
        // A byte search: `split(' ')` compares each candidate through `memcmp`, the largest
        // cost of indexing CentOS 7's 99,885 provides.
        before(raw, b' ')
    }
    fn parse_version(&self, raw: &str) -> Result<Version, DepError> {
        raw.parse::<Evr>().map(Version::Rpm).map_err(|e| DepError { raw: raw.into(), why: e.to_string() })
    }
}

/// `raw` up to the first `byte` (an ASCII byte), or all of it.
fn before(raw: &str, byte: u8) -> &str {
    raw.as_bytes().iter().position(|&b| b == byte).map_or(raw, |at| &raw[..at])
}

fn rpm_op(op: &str) -> Option<Op> {
    Some(match op {
        "<" => Op::Lt,
        "<=" => Op::Le,
        "=" => Op::Eq,
        ">=" => Op::Ge,
        ">" => Op::Gt,
        _ => return None,
    })
}

/// Recursive descent over an rpm rich dependency, as rpm's own `rpmrichParse` reads it: a group
/// is `(TERM OP TERM [OP TERM]...)` with one operator throughout (`if`/`unless` take one
/// `else`); a term is a group or `name [OP version]`, where a name may hold balanced parentheses
/// (`libc.so.6()(64bit)`).
struct RichParser<'a, 's> {
    raw: &'a str,
    pos: usize,
    syntax: &'s RpmSyntax,
}

impl<'a> RichParser<'a, '_> {
    fn error(&self, why: &str) -> DepError {
        DepError { raw: self.raw.into(), why: format!("rich dependency: {why} at byte {}", self.pos) }
    }
    fn skip_space(&mut self) {
        while self.raw[self.pos..].starts_with(' ') {
            self.pos += 1;
        }
    }
    /// A word: up to a space or a `)` that closes nothing opened inside the word.
    fn word(&mut self) -> &'a str {
        self.skip_space();
        let start = self.pos;
        let mut depth = 0usize;
        for (i, c) in self.raw[start..].char_indices() {
            match c {
                ' ' => {
                    self.pos = start + i;
                    return &self.raw[start..self.pos];
                }
                '(' => depth += 1,
                ')' if depth == 0 => {
                    self.pos = start + i;
                    return &self.raw[start..self.pos];
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        self.pos = self.raw.len();
        &self.raw[start..]
    }
    fn term(&mut self) -> Result<Dep<'a>, DepError> {
        self.skip_space();
        if self.raw[self.pos..].starts_with('(') {
            return self.group();
        }
        let name = self.word();
        if name.is_empty() {
            return Err(self.error("a name was expected"));
        }
        let save = self.pos;
        let op = self.word();
        if let Some(op) = rpm_op(op) {
            let ver = self.word();
            if ver.is_empty() {
                return Err(self.error("a version was expected"));
            }
            let v = self.syntax.parse_version(ver)?;
            return Ok(Dep::Rel(Relation { name, constraint: Some((op, v)), qualifier: None }));
        }
        self.pos = save;
        Ok(Dep::Rel(Relation::plain(name)))
    }
    fn group(&mut self) -> Result<Dep<'a>, DepError> {
        self.skip_space();
        if !self.raw[self.pos..].starts_with('(') {
            return Err(self.error("`(` was expected"));
        }
        self.pos += 1;
        let first = self.term()?;
        let mut terms = vec![first];
        let mut op: Option<&str> = None;
        let mut otherwise = None;
        loop {
            self.skip_space();
            if self.raw[self.pos..].starts_with(')') {
                self.pos += 1;
                break;
            }
            if self.pos >= self.raw.len() {
                return Err(self.error("missing `)`"));
            }
            let word = self.word();
            match (op, word) {
                (Some("if" | "unless"), "else") if otherwise.is_none() && terms.len() == 2 => {
                    otherwise = Some(Box::new(self.term()?));
                    continue;
                }
                (None, "and" | "or" | "with" | "without" | "if" | "unless") => op = Some(word),
                (Some(o), w) if o == w && matches!(o, "and" | "or" | "with") => {}
                (_, w) => return Err(self.error(&format!("unexpected `{w}`"))),
            }
            terms.push(self.term()?);
        }
        let two = |t: Vec<Dep<'a>>| -> Result<(Box<Dep<'a>>, Box<Dep<'a>>), DepError> {
            let [a, b]: [Dep<'a>; 2] = t.try_into().map_err(|_| DepError {
                raw: self.raw.into(),
                why: "rich dependency: if/unless/without take two terms".into(),
            })?;
            Ok((Box::new(a), Box::new(b)))
        };
        Ok(match op {
            None if terms.len() == 1 => terms.remove(0),
            Some("and") => Dep::And(terms),
            Some("or") => Dep::Or(terms),
            Some("with") => Dep::With(terms),
            Some("without") => {
                let (a, b) = two(terms)?;
                Dep::Without(a, b)
            }
            Some("if") => {
                let (then, cond) = two(terms)?;
                Dep::If { then, cond, otherwise }
            }
            Some("unless") => {
                let (then, cond) = two(terms)?;
                Dep::Unless { then, cond, otherwise }
            }
            _ => return Err(self.error("an operator was expected")),
        })
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
        // `name:any`, `name:amd64`: the qualifier is kept for the provider lookup.
        let (name, qualifier) = match head.split_once(':') {
            Some((n, q)) => (n, Some(q)),
            None => (head, None),
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(DepError { raw: whole.into(), why: "a relation without a package name".into() });
        }
        Ok(Relation { name, constraint, qualifier })
    }
}

impl DepSyntax for DebSyntax {
    fn parse_dep<'a>(&self, raw: &'a str) -> Result<Dep<'a>, DepError> {
        let mut alts: Vec<Dep<'a>> =
            raw.split('|').map(|alt| self.one(alt, raw).map(Dep::Rel)).collect::<Result<_, _>>()?;
        Ok(if alts.len() == 1 { alts.remove(0) } else { Dep::Or(alts) })
    }
    // Debian has only alternatives: the flat list directly, no tree (this runs for every
    // requirement the base estimate, `--why` and install staging look at).
    fn parse_requirement<'a>(&self, raw: &'a str) -> Result<Vec<Relation<'a>>, DepError> {
        raw.split('|').map(|alt| self.one(alt, raw)).collect()
    }
    fn parse_provide<'a>(&self, raw: &'a str) -> Result<Relation<'a>, DepError> {
        self.one(raw, raw)
    }
    fn provide_name<'a>(&self, raw: &'a str) -> &'a str {
        before(before(raw, b'(').trim(), b':')
    }
    fn parse_version(&self, raw: &str) -> Result<Version, DepError> {
        raw.parse::<DebVersion>().map(Version::Deb).map_err(|e| DepError { raw: raw.into(), why: e.to_string() })
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

    fn show(d: &Dep<'_>) -> String {
        let list = |v: &[Dep<'_>], op: &str| v.iter().map(show).collect::<Vec<_>>().join(&format!(" {op} "));
        match d {
            Dep::Rel(r) => r.to_string(),
            Dep::Or(v) => format!("[{}]", list(v, "or")),
            Dep::And(v) => format!("[{}]", list(v, "and")),
            Dep::With(v) => format!("[{}]", list(v, "with")),
            Dep::Without(a, b) => format!("[{} without {}]", show(a), show(b)),
            Dep::If { then, cond, otherwise } => format!(
                "[{} if {}{}]",
                show(then),
                show(cond),
                otherwise.as_ref().map(|o| format!(" else {}", show(o))).unwrap_or_default()
            ),
            Dep::Unless { then, cond, otherwise } => format!(
                "[{} unless {}{}]",
                show(then),
                show(cond),
                otherwise.as_ref().map(|o| format!(" else {}", show(o))).unwrap_or_default()
            ),
        }
    }

    // Shapes from real el8/el9 primary.xml files.
    #[rstest]
    #[case("(a if b)", "[a if b]")]
    #[case("(a or b or c)", "[a or b or c]")]
    #[case("(python3-foo >= 1.2 if python3)", "[python3-foo >= 1.2 if python3]")]
    #[case(
        "(glibc-langpack-en if glibc-common else glibc-minimal-langpack)",
        "[glibc-langpack-en if glibc-common else glibc-minimal-langpack]"
    )]
    #[case("(libc.so.6()(64bit) unless musl)", "[libc.so.6()(64bit) unless musl]")]
    #[case("((a and b) or c)", "[[a and b] or c]")]
    #[case(
        "(kernel-core-uname-r = 4.18.0-80.el8.x86_64 with kernel)",
        "[kernel-core-uname-r = 4.18.0-80.el8.x86_64 with kernel]"
    )]
    #[case("(pkg without (pkg-devel or pkg-static))", "[pkg without [pkg-devel or pkg-static]]")]
    fn rpm_rich_dependencies(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(show(&RpmSyntax.parse_dep(raw).unwrap()), expected);
    }

    #[rstest]
    #[case("(a if b")]
    #[case("(a and b or c)")]
    #[case("(a if b if c)")]
    #[case("(a frob b)")]
    #[case("(a if b) c")]
    #[case("()")]
    fn rpm_rich_malformed_names_the_dependency(#[case] raw: &str) {
        let e = RpmSyntax.parse_dep(raw).unwrap_err().to_string();
        assert!(e.contains(raw) && e.contains("rich dependency"), "{e}");
    }

    /// Found by the `rpm_deps` fuzz target: an empty line parsed as a dependency named "".
    #[rstest]
    #[case("")]
    #[case(" >= 1.0")]
    fn rpm_dependencies_without_a_name_are_refused(#[case] raw: &str) {
        assert!(RpmSyntax.parse_dep(raw).is_err(), "{raw:?}");
    }

    #[test]
    fn rpm_rich_leaves_are_every_relation() {
        let leaves = RpmSyntax.parse_requirement("(a if b else (c or d >= 2))").unwrap();
        let names: Vec<String> = leaves.iter().map(|r| r.to_string()).collect();
        assert_eq!(names, ["a", "c", "d >= 2"]);
    }

    #[test]
    fn deb_any_qualifier_is_kept() {
        let r = DebSyntax.parse_requirement("python3:any (>= 3.5~) | perl:amd64").unwrap();
        assert_eq!((r[0].name, r[0].qualifier), ("python3", Some("any")));
        assert_eq!((r[1].name, r[1].qualifier), ("perl", Some("amd64")));
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
    fn an_unversioned_provide_meets_a_versioned_requirement_only_where_the_policy_says() {
        // rpm's policy says yes, Debian's no (crate::policy).
        let want = RpmSyntax.parse_requirement("foo >= 2").unwrap().remove(0);
        assert!(want.accepts(None, true));
        let want = DebSyntax.parse_requirement("foo (>= 2)").unwrap().remove(0);
        assert!(!want.accepts(None, false));
        let v = DebSyntax.parse_version("2.1").unwrap();
        assert!(want.accepts(Some(&v), false));
    }
}
