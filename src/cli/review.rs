//! `review`'s page: one self-contained HTML file (inline style, no script, no font, image or
//! link to load: it opens on an offline workstation) that a reviewer reads in minutes — the
//! summary, every package with its change and why-chain, what goes away, what the roles write,
//! and the dependency graph as inline SVG (requested packages in the first column; folded when large).

use std::collections::VecDeque;
use std::fmt::Write;

use moa_engine::{ReviewReport, Signatures};
use moa_time::roles::RoleReport;

/// `review --json`: the report, and what the roles write.
#[derive(serde::Serialize)]
pub struct Review<'a> {
    #[serde(flatten)]
    pub review: &'a ReviewReport,
    pub roles: &'a [RoleReport],
}

/// A graph of more than this many packages starts folded.
const OPEN_GRAPH: usize = 60;

fn esc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c if c.is_control() && c != '\n' && c != '\t' => format!("&#{};", c as u32),
            c => c.to_string(),
        })
        .collect()
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top;font-size:90%}\
th{background:#f3f3f3}.new{color:#075}.upgrade{color:#05a}.downgrade{color:#a50}.removed{color:#b00}\
.same{color:#777}code{font-size:85%}summary{cursor:pointer;font-weight:bold}svg text{font:11px sans-serif}";

/// The page.
pub fn page(r: &ReviewReport, roles: &[RoleReport]) -> String {
    let mut h = String::new();
    let title = format!("Review of {} ({} {})", r.name, r.distro, r.arch);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    summary(&mut h, r);
    packages(&mut h, r);
    removed(&mut h, r);
    role_changes(&mut h, roles);
    graph(&mut h, r);
    let _ = write!(
        h,
        "<p><small>Written by moa-bundle {}. This page loads nothing.</small></p>\n</body></html>\n",
        esc(moa_engine::VERSION)
    );
    h
}

fn summary(h: &mut String, r: &ReviewReport) {
    let signer = match (&r.signature, r.signed) {
        (Some(s), _) => {
            format!("signed by key <code>{}</code> ({})", esc(&s.key), esc(&s.key_file.display().to_string()))
        }
        (None, true) => "a signature is beside it, not checked here: pass --key to check it".into(),
        (None, false) => "<b>not signed</b>".into(),
    };
    let upstream = match r.upstream_signatures {
        Signatures::Verify => "checked against the pinned keys",
        Signatures::Skip => "<b>NOT checked</b> (built with --insecure-skip-signatures)",
    };
    let count = |c: &str| r.packages.iter().filter(|p| format!("{:?}", p.change).to_lowercase() == c).count();
    let rows = [
        ("Bundle", format!("<code>{}</code>", esc(&r.bundle.display().to_string()))),
        ("sha256", format!("<code>{}</code>", r.sha256)),
        ("Size", format!("{} bytes", r.size)),
        ("Distro, arch", format!("{} {}", esc(&r.distro), esc(&r.arch))),
        ("Created", esc(&r.created)),
        ("Built by", format!("moa-bundle {}", esc(&r.tool_version))),
        ("Builder signature", signer),
        ("Upstream signatures", upstream.into()),
        ("Compared with", r.against.as_deref().map_or("nothing (every package is new)".into(), esc)),
        (
            "Packages",
            format!(
                "{} ({} new, {} upgrades, {} downgrades, {} unchanged); {} removed",
                r.packages.len(),
                count("new"),
                count("upgrade"),
                count("downgrade"),
                count("same"),
                r.removed.len()
            ),
        ),
    ];
    h.push_str("<h2>Summary</h2>\n<table>\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    for s in &r.sources {
        let keys: Vec<String> = s.keys.iter().map(|k| format!("<code>{}</code>", esc(k))).collect();
        let _ =
            writeln!(h, "<tr><th>Repository {}</th><td>pinned keys {}</td></tr>", esc(&s.repository), keys.join(", "));
    }
    h.push_str("</table>\n");
}

fn packages(h: &mut String, r: &ReviewReport) {
    h.push_str("<h2>Packages</h2>\n<table id=\"packages\">\n<tr><th>Package</th><th>Version</th><th>Change</th><th>Why</th><th>Licence</th><th>Source</th><th>sha256</th></tr>\n");
    for p in &r.packages {
        let change = format!("{:?}", p.change).to_lowercase();
        let what = match &p.from {
            Some(f) => format!("{change} from {}", esc(f)),
            None => change.clone(),
        };
        let name = match p.requested {
            true => format!("<b class=\"name\">{}</b>", esc(&p.name)),
            false => format!("<span class=\"name\">{}</span>", esc(&p.name)),
        };
        let _ = writeln!(
            h,
            "<tr><td>{name} <small>{}</small></td><td>{}</td><td class=\"{change}\">{what}</td><td>{}</td><td>{}</td><td>{}</td><td><code title=\"{}\">{}</code></td></tr>",
            esc(&p.arch),
            esc(&p.version),
            p.why.iter().map(|w| esc(w)).collect::<Vec<_>>().join(" → "),
            p.licence.as_deref().map_or("—".into(), esc),
            p.source.as_deref().map_or("—".into(), esc),
            p.sha256,
            &p.sha256.to_hex()[..16],
        );
    }
    h.push_str("</table>\n");
}

fn removed(h: &mut String, r: &ReviewReport) {
    if r.removed.is_empty() {
        return;
    }
    h.push_str("<h2>Removed</h2>\n<table id=\"removed\">\n<tr><th>Package</th><th>Version</th><th>Change</th><th>Replaced by</th></tr>\n");
    for p in &r.removed {
        let by = p.by.as_deref().map_or("—".into(), esc);
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"removed\">removed</td><td>{by}</td></tr>",
            esc(&p.name),
            esc(&p.version)
        );
    }
    h.push_str("</table>\n");
}

/// What each role writes on the node (planned on a stand-in root: every file shown whole, since
/// the node's own are not known here, and no service step: those depend on its init system).
fn role_changes(h: &mut String, roles: &[RoleReport]) {
    if roles.is_empty() {
        return;
    }
    h.push_str("<h2>What the roles write on the node</h2>\n<p>The files <code>install --role</code> writes, with its default options (the client following 192.0.2.1), each shown whole; on the node, <code>install --dry-run --role …</code> shows the diff against its own files and the service steps for its init system.</p>\n");
    for r in roles {
        let mode = r.client_mode.map(|m| format!(" ({m:?} mode)").to_lowercase()).unwrap_or_default();
        let _ = writeln!(h, "<details><summary>{:?} role{mode}: {} file(s)</summary>", r.role, r.files.len());
        for f in &r.files {
            let _ = writeln!(
                h,
                "<p><code>{}</code> ({})</p><pre>{}</pre>",
                esc(&f.node_path),
                esc(&format!("{:?}", f.status).to_lowercase()),
                esc(&f.diff)
            );
        }
        h.push_str("</details>\n");
    }
}

/// Each package's column: its distance from the nearest requested package (those unreached
/// after them, in the last column).
fn columns(r: &ReviewReport) -> Vec<usize> {
    let mut depth = vec![usize::MAX; r.packages.len()];
    let mut queue: VecDeque<usize> =
        r.packages.iter().enumerate().filter(|(_, p)| p.requested).map(|(i, _)| i).collect();
    for &i in &queue {
        depth[i] = 0;
    }
    while let Some(i) = queue.pop_front() {
        for &j in &r.packages[i].depends {
            if depth[j] == usize::MAX {
                depth[j] = depth[i] + 1;
                queue.push_back(j);
            }
        }
    }
    let deepest = depth.iter().filter(|d| **d != usize::MAX).max().copied().unwrap_or(0);
    depth.into_iter().map(|d| if d == usize::MAX { deepest + 1 } else { d }).collect()
}

fn graph(h: &mut String, r: &ReviewReport) {
    let col = columns(r);
    let ncols = col.iter().max().map_or(1, |m| m + 1);
    let mut rows = vec![0usize; ncols];
    let mut at = vec![(0usize, 0usize); r.packages.len()];
    for (i, &c) in col.iter().enumerate() {
        at[i] = (c, rows[c]);
        rows[c] += 1;
    }
    let (w, rh) = (230, 24);
    let width = ncols * w + 20;
    let height = rows.iter().max().copied().unwrap_or(1) * rh + 20;
    let open = if r.packages.len() > OPEN_GRAPH { "" } else { " open" };
    let _ = writeln!(
        h,
        "<h2>Dependency graph</h2>\n<details{open}><summary>{} packages, requested ones in the first column</summary>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"dependency graph\">",
        r.packages.len()
    );
    let pos = |(c, row): (usize, usize)| (10 + c * w, 10 + row * rh);
    for (i, p) in r.packages.iter().enumerate() {
        for &j in &p.depends {
            let ((x1, y1), (x2, y2)) = (pos(at[i]), pos(at[j]));
            let _ = writeln!(
                h,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\"/>",
                x1 + 190,
                y1 + 9,
                x2,
                y2 + 9
            );
        }
    }
    for (i, p) in r.packages.iter().enumerate() {
        let (x, y) = pos(at[i]);
        let fill = match p.change {
            moa_engine::ReviewChange::New => "#e6f4ee",
            moa_engine::ReviewChange::Upgrade => "#e6eef8",
            moa_engine::ReviewChange::Downgrade => "#f8efe0",
            moa_engine::ReviewChange::Same => "#f2f2f2",
        };
        let _ = writeln!(
            h,
            "<g><title>{} {}</title><rect x=\"{x}\" y=\"{y}\" width=\"190\" height=\"18\" rx=\"3\" fill=\"{fill}\" stroke=\"#999\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
            esc(&p.name),
            esc(&p.version),
            x + 4,
            y + 13,
            esc(&p.name)
        );
    }
    h.push_str("</svg>\n</details>\n");
}
