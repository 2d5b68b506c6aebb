//! EL8+ modularity, as dnf applies it: `modules.yaml` (modulemd v2 and modulemd-defaults v1
//! documents) names, for each module stream, the package builds (artifacts) it holds.
//!
//! - A stream is active when it is enabled (the manifest's `modules`, a node's enabled streams),
//!   the module's default, or required by an active stream; a module has at most one.
//! - Packages of inactive streams are hidden.
//! - Non-modular packages whose name a package of an active stream has are hidden.
//!
//! Hidden packages leave the metadata before resolving; their names are kept with their streams
//! so that a request for one is refused naming the stream to enable.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_yaml_ng::Value;

use super::{Metadata, PackageRecord, RepoError};
use moa_model::limits;

/// One `name:stream` build (a stream has several contexts and versions; all are kept).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleStream {
    pub name: String,
    pub stream: String,
    /// Runtime requirements on other modules: module → acceptable streams (empty: any).
    pub requires: Vec<(String, Vec<String>)>,
    /// Binary package builds, `name-epoch:version-release.arch`.
    pub artifacts: Vec<String>,
    /// The platforms (`el9`) this build runs on, from `requires: {platform: […]}`: empty for
    /// any; `-el8` excludes one.
    pub platforms: Vec<String>,
}

impl ModuleStream {
    /// Whether this build is for `platform` (any build is, when the platform is unknown).
    pub fn runs_on(&self, platform: Option<&str>) -> bool {
        let Some(p) = platform else { return true };
        let (not, yes): (Vec<&String>, Vec<&String>) = self.platforms.iter().partition(|s| s.starts_with('-'));
        !not.iter().any(|n| &n[1..] == p) && (yes.is_empty() || yes.iter().any(|y| y.as_str() == p))
    }
}

/// What one repository's `modules.yaml` says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Modules {
    pub streams: Vec<ModuleStream>,
    /// module → default stream.
    pub defaults: BTreeMap<String, String>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_sequence).map(|s| s.iter().filter_map(text).collect()).unwrap_or_default()
}

/// Parses every document of a `modules.yaml`; documents of other kinds are skipped.
pub fn parse_modules(yaml: &str, url: &str) -> Result<Modules, RepoError> {
    let bad = |m: String| RepoError::Malformed { url: url.to_string(), message: m };
    let mut out = Modules::default();
    for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
        let v = <Value as serde::Deserialize>::deserialize(doc).map_err(|e| bad(format!("not valid YAML: {e}")))?;
        let data = v.get("data");
        match v.get("document").and_then(Value::as_str) {
            Some("modulemd") => {
                let d = data.ok_or_else(|| bad("a modulemd document has no data".into()))?;
                let (Some(name), Some(stream)) = (d.get("name").and_then(text), d.get("stream").and_then(text)) else {
                    return Err(bad("a modulemd document has no name or stream".into()));
                };
                let artifacts: Vec<String> = strings(d.get("artifacts").and_then(|a| a.get("rpms")))
                    .into_iter()
                    .filter(|a| !a.ends_with(".src"))
                    .collect();
                let (mut requires, mut platforms) = (Vec::new(), Vec::new());
                for dep in d.get("dependencies").and_then(Value::as_sequence).into_iter().flatten() {
                    if let Some(Value::Mapping(m)) = dep.get("requires") {
                        for (k, v) in m {
                            match text(k) {
                                Some(p) if p == "platform" => platforms.extend(strings(Some(v))),
                                Some(module) => requires.push((module, strings(Some(v)))),
                                None => {}
                            }
                        }
                    }
                }
                out.streams.push(ModuleStream { name, stream, requires, artifacts, platforms });
            }
            Some("modulemd-defaults") => {
                let d = data.ok_or_else(|| bad("a modulemd-defaults document has no data".into()))?;
                if let (Some(m), Some(s)) = (d.get("module").and_then(text), d.get("stream").and_then(text)) {
                    out.defaults.insert(m, s);
                }
            }
            _ => {}
        }
        limits::check("the number of module streams", out.streams.len() as u64, limits::PACKAGES as u64)
            .map_err(&bad)?;
    }
    Ok(out)
}

/// `name:stream`, as a manifest's `modules` and dnf write it.
pub type StreamRef = (String, String);

/// The active streams on `platform`: `enabled`, then defaults, then what active streams
/// require (the first stream they accept), one per module, each with a build for the platform.
/// Two enabled streams of one module are an error.
pub fn active_streams(
    modules: &Modules,
    enabled: &[StreamRef],
    platform: Option<&str>,
) -> Result<BTreeMap<String, String>, String> {
    let builds =
        |m: &str, s: &str| modules.streams.iter().any(|st| st.name == m && st.stream == s && st.runs_on(platform));
    let mut active: BTreeMap<String, String> = BTreeMap::new();
    for (m, s) in enabled {
        if let Some(other) = active.insert(m.clone(), s.clone()).filter(|o| o != s) {
            return Err(format!("modules {m}:{other} and {m}:{s} are both enabled: a module has one stream at a time"));
        }
    }
    for (m, s) in modules.defaults.iter().filter(|(m, s)| builds(m, s)) {
        active.entry(m.clone()).or_insert_with(|| s.clone());
    }
    // Requirements of active streams, until nothing changes (platform is the OS, not a module).
    loop {
        let mut wanted: Vec<(String, String)> = Vec::new();
        let live = |st: &&ModuleStream| active.get(&st.name) == Some(&st.stream) && st.runs_on(platform);
        for st in modules.streams.iter().filter(live) {
            for (m, streams) in &st.requires {
                if active.contains_key(m) || wanted.iter().any(|(w, _)| w == m) {
                    continue;
                }
                let pick = streams.iter().find(|s| !s.starts_with('-') && builds(m, s)).cloned().or_else(|| {
                    modules.streams.iter().find(|o| &o.name == m && o.runs_on(platform)).map(|o| o.stream.clone())
                });
                if let Some(s) = pick {
                    wanted.push((m.clone(), s));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(active);
        }
        active.extend(wanted);
    }
}

/// `name-epoch:version-release.arch` of a record, as modulemd lists artifacts.
fn nevra(p: &PackageRecord) -> String {
    let (epoch, rest) = match &p.version {
        moa_model::version::Version::Rpm(e) => {
            (e.epoch, format!("{}-{}", e.version(), e.release().unwrap_or_default()))
        }
        other => (0, other.to_string()),
    };
    format!("{}-{epoch}:{rest}.{}", p.name, p.arch)
}

/// Removes what modularity hides from `md` and returns, for each hidden package name that no
/// visible package has, the inactive streams that hold it.
pub fn filter(
    md: &mut Metadata,
    modules: &Modules,
    enabled: &[StreamRef],
    platform: Option<&str>,
) -> Result<HashMap<String, Vec<String>>, String> {
    if modules.streams.is_empty() {
        return Ok(HashMap::new());
    }
    for (m, s) in enabled {
        let of_m = || modules.streams.iter().filter(|st| &st.name == m);
        if !of_m().any(|st| &st.stream == s) {
            let known: HashSet<String> = of_m().map(|st| st.stream.clone()).collect();
            let mut known: Vec<String> = known.into_iter().collect();
            known.sort();
            return Err(format!("module stream {m}:{s} is in no repository (streams of {m}: {})", known.join(", ")));
        }
        if !of_m().any(|st| &st.stream == s && st.runs_on(platform)) {
            let p = platform.unwrap_or_default();
            return Err(format!("module stream {m}:{s} has no build for platform:{p}: it is for another release"));
        }
    }
    let active = active_streams(modules, enabled, platform)?;
    let is_active = |st: &ModuleStream| active.get(&st.name) == Some(&st.stream) && st.runs_on(platform);
    let mut owner: HashMap<&str, &ModuleStream> = HashMap::new();
    for st in &modules.streams {
        for a in &st.artifacts {
            owner.insert(a.as_str(), st);
        }
    }
    let active_names: HashSet<&str> = modules
        .streams
        .iter()
        .filter(|st| is_active(st))
        .flat_map(|st| st.artifacts.iter())
        .filter_map(|a| a.rsplit_once('-').and_then(|(nv, _)| nv.rsplit_once('-')).map(|(n, _)| n))
        .collect();
    // Each package's stream (one nevra per package), then what stays and, for the visible
    // modular ones, their stream by their index after the hidden ones are gone.
    let streams: Vec<Option<&ModuleStream>> =
        md.packages.iter().map(|p| owner.get(nevra(p).as_str()).copied()).collect();
    let mut hidden: HashMap<String, Vec<String>> = HashMap::new();
    let mut kept = Vec::with_capacity(md.packages.len());
    md.streams.clear();
    for (p, st) in std::mem::take(&mut md.packages).into_iter().zip(streams) {
        let keep = match st {
            Some(st) => is_active(st),
            None => !active_names.contains(p.name.as_str()),
        };
        match (keep, st) {
            (true, Some(st)) => {
                md.streams.insert(kept.len(), format!("{}:{}", st.name, st.stream));
            }
            (false, Some(st)) => {
                let s = format!("{}:{}", st.name, st.stream);
                let e = hidden.entry(p.name.to_string()).or_default();
                if !e.contains(&s) {
                    e.push(s);
                }
            }
            _ => {}
        }
        if keep {
            kept.push(p);
        }
    }
    md.packages = kept;
    let visible: HashSet<&str> = md.packages.iter().map(|p| p.name.as_str()).collect();
    hidden.retain(|name, _| !visible.contains(name.as_str()));
    for v in hidden.values_mut() {
        v.sort();
    }
    Ok(hidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"---
document: modulemd-defaults
version: 1
data:
  module: app
  stream: "2"
...
---
document: modulemd
version: 2
data:
  name: app
  stream: "2"
  version: 1
  context: c
  arch: x86_64
  dependencies:
  - buildrequires: {platform: [el9]}
    requires: {platform: [el9], runtime: ["3"]}
  artifacts:
    rpms:
    - app-0:2.0-1.module_el9.x86_64
    - app-0:2.0-1.module_el9.src
...
---
document: modulemd
version: 2
data:
  name: app
  stream: "1"
  version: 1
  context: c
  arch: x86_64
  artifacts:
    rpms: [app-0:1.0-1.module_el9.x86_64]
...
---
document: modulemd
version: 2
data:
  name: runtime
  stream: 3
  version: 1
  context: c
  arch: x86_64
  artifacts:
    rpms: [libruntime-0:3.0-1.module_el9.x86_64]
...
"#;

    #[test]
    fn defaults_and_requirements_activate_streams_one_per_module() {
        let m = parse_modules(YAML, "t").unwrap();
        assert_eq!(m.streams.len(), 3);
        assert_eq!(m.streams[0].artifacts, ["app-0:2.0-1.module_el9.x86_64"], "sources are not packages");
        assert_eq!(m.streams[2].stream, "3", "a numeric stream is read as text");
        let active = active_streams(&m, &[], Some("el9")).unwrap();
        assert_eq!(active.get("app").map(String::as_str), Some("2"), "the default");
        assert_eq!(active.get("runtime").map(String::as_str), Some("3"), "required by app:2");
        let active = active_streams(&m, &[("app".into(), "1".into())], None).unwrap();
        assert_eq!(active.get("app").map(String::as_str), Some("1"), "enabled beats default");
        assert!(!active.contains_key("runtime"), "app:1 requires nothing");
    }

    #[test]
    fn a_stream_built_for_another_platform_is_never_active() {
        let yaml = r#"---
document: modulemd-defaults
version: 1
data: {module: app, stream: "2"}
...
---
document: modulemd
version: 2
data:
  name: app
  stream: "2"
  dependencies:
  - buildrequires: {platform: [el9]}
    requires: {platform: [el8]}
  artifacts: {rpms: [app-0:2.0-1.module_el8.x86_64]}
...
"#;
        let m = parse_modules(yaml, "t").unwrap();
        assert_eq!(m.streams[0].platforms, ["el8"], "requires binds the node; buildrequires does not");
        assert_eq!(active_streams(&m, &[], Some("el8")).unwrap().get("app").map(String::as_str), Some("2"));
        assert!(active_streams(&m, &[], Some("el9")).unwrap().is_empty(), "the default has no el9 build");
        assert!(active_streams(&m, &[], None).unwrap().contains_key("app"), "an unknown platform binds nothing");
        let not_el8 = ModuleStream { platforms: vec!["-el8".into()], ..Default::default() };
        assert!(not_el8.runs_on(Some("el9")) && !not_el8.runs_on(Some("el8")));
    }
}
