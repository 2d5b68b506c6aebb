//! The role templates (`roles/` in the source tree, `<bundle>/roles/` in a bundle) and their
//! rendering with minijinja. Which template a role uses is decided here; what the files say is
//! decided by the templates.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::manifest::TimeFlavor;

use super::params::{Host, Network};
use super::RoleError;

/// The directory of the templates inside a bundle.
pub const ROLES_DIR: &str = "roles";
pub const CRON_TEMPLATE: &str = "cron.j2";

/// Templates built into the binary, by their path under `roles/`.
const BUILTIN: &[(&str, &str)] = &[
    ("ntp/server.conf.j2", include_str!("../../roles/ntp/server.conf.j2")),
    ("ntp/client.conf.j2", include_str!("../../roles/ntp/client.conf.j2")),
    ("ntpsec/server.conf.j2", include_str!("../../roles/ntpsec/server.conf.j2")),
    ("ntpsec/client.conf.j2", include_str!("../../roles/ntpsec/client.conf.j2")),
    (CRON_TEMPLATE, include_str!("../../roles/cron.j2")),
];

/// The templates of one flavor: `<flavor>/server.conf.j2`, `<flavor>/client.conf.j2`, `cron.j2`.
#[derive(Debug, Clone, PartialEq)]
pub struct Templates {
    pub flavor: TimeFlavor,
    /// Path under `roles/` → text.
    pub files: BTreeMap<String, String>,
    /// Where they came from, for messages.
    pub origin: String,
}

impl Templates {
    fn names(flavor: TimeFlavor) -> [String; 3] {
        let f = flavor.as_str();
        [format!("{f}/server.conf.j2"), format!("{f}/client.conf.j2"), CRON_TEMPLATE.to_string()]
    }

    /// The binary's own templates.
    pub fn builtin(flavor: TimeFlavor) -> Self {
        let files = Self::names(flavor)
            .into_iter()
            .map(|n| {
                let text = BUILTIN.iter().find(|(p, _)| *p == n).map(|(_, t)| *t).expect("every flavor is built in");
                (n, text.to_string())
            })
            .collect();
        Self { flavor, files, origin: "built-in roles/".into() }
    }

    /// The templates packed in an unpacked bundle's `roles/` directory.
    pub fn from_dir(dir: &Path, flavor: TimeFlavor) -> Result<Self, RoleError> {
        let mut files = BTreeMap::new();
        for n in Self::names(flavor) {
            let path = dir.join(&n);
            let text = fs_err::read_to_string(&path).map_err(|source| RoleError::Template {
                origin: dir.display().to_string(),
                message: format!("cannot read {n}: {source}; rebuild the bundle with this moa-bundle"),
            })?;
            files.insert(n, text);
        }
        Ok(Self { flavor, files, origin: dir.display().to_string() })
    }

    pub fn server(&self) -> &str {
        &self.files[&format!("{}/server.conf.j2", self.flavor.as_str())]
    }
    pub fn client(&self) -> &str {
        &self.files[&format!("{}/client.conf.j2", self.flavor.as_str())]
    }
    pub fn cron(&self) -> &str {
        &self.files[CRON_TEMPLATE]
    }
}

/// Everything a template may use.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub tool: String,
    pub distro: String,
    pub role: String,
    pub config: String,
    pub driftfile: String,
    pub upstream: Vec<Host>,
    pub allow: Vec<Network>,
    pub server: Option<Host>,
    pub sync_command: String,
    pub orphan_stratum: u8,
    pub orphan_wait: Option<u32>,
}

/// Renders one template. Unknown variables are errors, so a typo in a template cannot silently
/// drop a line from `/etc/ntp.conf`.
pub fn render(templates: &Templates, name: &str, source: &str, ctx: &Context) -> Result<String, RoleError> {
    let err = |e: minijinja::Error| RoleError::Template {
        origin: format!("{}{name}", templates.origin.trim_end_matches('/').to_string() + "/"),
        message: e.to_string(),
    };
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let t = env.template_from_str(source).map_err(err)?;
    t.render(minijinja::Value::from(minijinja::value::Serde(ctx))).map_err(err)
}

/// The files the bundle carries under `roles/`, for the packer.
pub fn bundle_files(flavor: TimeFlavor) -> Vec<(String, Vec<u8>)> {
    Templates::builtin(flavor).files.into_iter().map(|(n, t)| (format!("{ROLES_DIR}/{n}"), t.into_bytes())).collect()
}
