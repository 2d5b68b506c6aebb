//! What install found missing, as data: a [`Problem`] the preflight (or the package tool's own
//! check) found with the packages to install, and a [`MissingExpected`] package that a
//! differential bundle needs the node to have. Reports carry them typed (`install --json`);
//! their `Display` is the one sentence people read.

use std::fmt;

use serde::Serialize;

/// A dependency problem of the packages to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// `package` needs `requirement`, which neither the node nor the bundle meets.
    Unmet { package: String, requirement: String },
    /// `package` declares a dependency that cannot be read.
    Unreadable { package: String, requirement: String },
    /// A line of the package tool's report not taken apart (rpm's conflicts, say).
    Reported { line: String },
}

impl Problem {
    /// One line of rpm's "Failed dependencies" report (`libx.so.1()(64bit) is needed by
    /// hello-1.0-1.x86_64`).
    pub(crate) fn from_rpm_line(line: &str) -> Self {
        match line.split_once(" is needed by ") {
            Some((requirement, package)) => {
                Problem::Unmet { package: package.trim().into(), requirement: requirement.trim().into() }
            }
            None => Problem::Reported { line: line.trim().into() },
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unmet { package, requirement } => write!(f, "{package} needs `{requirement}`"),
            Problem::Unreadable { package, requirement } => {
                write!(f, "{package} has an unreadable dependency `{requirement}`")
            }
            Problem::Reported { line } => f.write_str(line),
        }
    }
}

/// A package a differential bundle expects the node to have (at this version or newer), which
/// it lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingExpected {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The version the node has instead, an older one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_has: Option<String>,
}

impl fmt::Display for MissingExpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.version, self.arch)?;
        match &self.node_has {
            Some(v) => write!(f, " (the node has {v})"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_lines_are_taken_apart_where_they_say_who_needs_what() {
        let p = Problem::from_rpm_line("\tlibgreet.so.1()(64bit) is needed by hello-1.0-1.x86_64");
        assert_eq!(
            p,
            Problem::Unmet { package: "hello-1.0-1.x86_64".into(), requirement: "libgreet.so.1()(64bit)".into() }
        );
        assert_eq!(p.to_string(), "hello-1.0-1.x86_64 needs `libgreet.so.1()(64bit)`");
        let c = Problem::from_rpm_line("\tfoo conflicts with bar-1-1.noarch");
        assert_eq!(c.to_string(), "foo conflicts with bar-1-1.noarch");
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"problem": "unmet", "package": "hello-1.0-1.x86_64", "requirement": "libgreet.so.1()(64bit)"})
        );
    }
}
