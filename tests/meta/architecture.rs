//! The shape of the code. Between crates the compiler keeps the layers; this checks that the
//! crate graph is the one the README draws (`cargo metadata`) and that only the CLI links clap.
//! Inside the engine it checks the text: its top-level modules form no import cycle, and only
//! `commands` imports the composition root `family` (no stage picks a family's parts itself).
//! Test code (`tests.rs`, `conformance.rs`, what follows `#[cfg(test)]`) and comments are left
//! out: they may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs_err::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level module → the top-level modules its non-test code names as `crate::X`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/engine/src");
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for e in fs_err::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if ["lib", "main", "cli"].contains(&name.as_str()) {
            continue;
        }
        let mut files = Vec::new();
        if p.is_dir() {
            rust_files(&p, &mut files);
        } else {
            files.push(p);
        }
        modules.entry(name).or_default().extend(files);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (m, files) in &modules {
        let mut deps = BTreeSet::new();
        for f in files {
            let stem = f.file_stem().unwrap().to_string_lossy();
            if stem == "tests" || stem == "conformance" {
                continue;
            }
            let text = fs_err::read_to_string(f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (i, _) in line.match_indices("crate::") {
                    let rest = &line[i + "crate::".len()..];
                    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                    let target = &rest[..end];
                    if target != m && names.contains(target) {
                        deps.insert(target.to_string());
                    }
                }
            }
        }
        graph.insert(m.clone(), deps);
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit<'g>(
        g: &'g BTreeMap<String, BTreeSet<String>>,
        m: &'g str,
        state: &mut BTreeMap<&'g str, u8>,
        path: &mut Vec<&'g str>,
    ) -> Option<Vec<String>> {
        state.insert(m, 1);
        path.push(m);
        for d in &g[m] {
            match state.get(d.as_str()) {
                Some(1) => {
                    let from = path.iter().position(|p| p == d).unwrap();
                    let mut c: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
                    c.push(d.clone());
                    return Some(c);
                }
                None => {
                    if let Some(c) = visit(g, d, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(m, 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in graph.keys() {
        if !state.contains_key(m.as_str()) {
            if let Some(c) = visit(graph, m, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_modules_form_no_cycle_and_only_commands_reach_the_composition_root() {
    let g = module_graph();
    assert!(g.len() >= 12 && g["commands"].contains("family"), "the scan found the modules: {g:?}");
    if let Some(c) = find_cycle(&g) {
        panic!("an import cycle: {}", c.join(" → "));
    }
    let importers: Vec<&String> = g.iter().filter(|(_, d)| d.contains("family")).map(|(m, _)| m).collect();
    assert_eq!(importers, ["commands"], "only commands may pick a family's parts");
}

fn host_triple() -> String {
    let out = std::process::Command::new("rustc").arg("-vV").output().expect("rustc -vV runs");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().find_map(|l| l.strip_prefix("host: ")).expect("rustc -vV names the host").to_string()
}

/// `cargo metadata` of the workspace: package name → the workspace packages it depends on
/// (normal dependencies), and whether anything in its dependency closure is clap.
fn crate_graph() -> BTreeMap<String, (BTreeSet<String>, bool)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        // This machine's platform only: the others' dependencies were never downloaded.
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            &host_triple(),
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let name_of = |id: &str| -> String {
        meta["packages"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap()["name"].as_str().unwrap().into()
    };
    let nodes = meta["resolve"]["nodes"].as_array().unwrap();
    let normal_deps = |id: &str| -> Vec<String> {
        let node = nodes.iter().find(|n| n["id"] == id).unwrap();
        node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
            .map(|d| d["pkg"].as_str().unwrap().to_string())
            .collect()
    };
    let mut graph = BTreeMap::new();
    for member in meta["workspace_members"].as_array().unwrap() {
        let id = member.as_str().unwrap();
        let (mut seen, mut todo) = (BTreeSet::new(), vec![id.to_string()]);
        while let Some(next) = todo.pop() {
            for d in normal_deps(&next) {
                if seen.insert(d.clone()) {
                    todo.push(d);
                }
            }
        }
        let direct = normal_deps(id).iter().map(|d| name_of(d)).filter(|n| n.starts_with("moa-")).collect();
        let clap = seen.iter().any(|d| name_of(d).starts_with("clap"));
        graph.insert(name_of(id), (direct, clap));
    }
    graph
}

/// The crates are the layers, and the compiler keeps them: the model depends on no other
/// crate of the workspace, the engine on the model, the time service on both, the CLI on all
/// three; and only the CLI links a command-line parser.
#[test]
fn the_crates_are_the_layers_and_only_the_cli_links_clap() {
    let g = crate_graph();
    let layers: BTreeMap<&str, Vec<&str>> = [
        ("moa-model", vec![]),
        ("moa-engine", vec!["moa-model"]),
        ("moa-time", vec!["moa-engine", "moa-model"]),
        ("moa-bundle", vec!["moa-engine", "moa-model", "moa-time"]),
    ]
    .into();
    assert_eq!(g.keys().map(String::as_str).collect::<Vec<_>>(), layers.keys().copied().collect::<Vec<_>>());
    for (name, (deps, clap)) in &g {
        let want: BTreeSet<String> = layers[name.as_str()].iter().map(|s| s.to_string()).collect();
        assert_eq!(deps, &want, "{name} depends on the workspace crates {deps:?}");
        assert_eq!(*clap, name == "moa-bundle", "{name}: clap in its dependencies: {clap}");
    }
}
