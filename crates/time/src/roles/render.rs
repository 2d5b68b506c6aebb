//! The role templates (`roles/` in the source tree, built into the binary and packed into
//! `<bundle>/roles/`) and their rendering with minijinja. Which template a role uses is decided
//! here; what the files say is decided by the templates.
//!
//! Only the binary's own templates are rendered: a bundle's `roles/` is compared with them and a
//! difference reported ([`Templates::differs_from`]), because nothing yet proves who wrote a
//! bundle's templates (bundle signatures will). Rendering runs on a fuel budget
//! ([`moa_model::limits::TEMPLATE_FUEL`]), so a template that loops is refused, not run forever.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use moa_model::limits;
use moa_model::manifest::TimeFlavor;
use moa_model::types::node::{Host, Network, NodePath, SyncCommand};

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
    ("chrony/server.conf.j2", include_str!("../../roles/chrony/server.conf.j2")),
    ("chrony/client.conf.j2", include_str!("../../roles/chrony/client.conf.j2")),
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

    /// Whether an unpacked bundle's `roles/` directory holds other templates than these: the
    /// names of the files that differ or are missing (read within [`limits::TEMPLATE_BYTES`]).
    pub fn differs_from(&self, dir: &Path) -> Vec<String> {
        self.files
            .iter()
            .filter(|(n, text)| {
                moa_model::files::read_at_most(&dir.join(n), limits::TEMPLATE_BYTES as u64)
                    .ok()
                    .flatten()
                    .is_none_or(|b| b != text.as_bytes())
            })
            .map(|(n, _)| n.clone())
            .collect()
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
    pub config: NodePath,
    pub driftfile: NodePath,
    pub upstream: Vec<Host>,
    pub allow: Vec<Network>,
    pub server: Option<Host>,
    pub sync_command: SyncCommand,
    /// What the cron line appends to `sync_command`: the server, quoted for the shell where it
    /// is a chrony directive. Empty without a server.
    pub sync_target: String,
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
    if source.len() > limits::TEMPLATE_BYTES {
        return Err(RoleError::Template {
            origin: format!("{}/{name}", templates.origin.trim_end_matches('/')),
            message: format!("it is larger than {} bytes", limits::TEMPLATE_BYTES),
        });
    }
    let mut env = Environment::new();
    env.set_fuel(Some(limits::TEMPLATE_FUEL));
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

/// What a bundle of `manifest` carries for the time service (the engine's
/// `BuildOptions::service_files`): its flavor's templates, or nothing without a `[time]` section.
pub fn service_files(manifest: &moa_model::manifest::Manifest) -> Vec<(String, Vec<u8>)> {
    manifest.time.as_ref().map(|t| bundle_files(t.flavor)).unwrap_or_default()
}
