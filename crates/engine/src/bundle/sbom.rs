//! `sbom.cdx.json`: a CycloneDX 1.5 JSON SBOM of the bundle's packages, one component per
//! package with its package URL, sha256, licence and source package where the metadata has
//! them, and the dependency graph the resolver found. Written by `cyclonedx-bom`; the serial
//! number and timestamp come from the bundle's content and fixed mtime, so two builds of one
//! bundle give the same SBOM.
//!
//! How a package URL is spelled is the family's business ([`PurlScheme`], picked in
//! `family.rs`): `pkg:rpm/centos/ntp@4.2.6p5-29.el7.centos.2?arch=x86_64&distro=centos-7&epoch=0`,
//! `pkg:deb/ubuntu/ntp@1:4.2.8p4+dfsg-3ubuntu5.9?arch=amd64&distro=xenial`.

use std::str::FromStr;

use cyclonedx_bom::external_models::date_time::DateTime;
use cyclonedx_bom::external_models::normalized_string::NormalizedString;
use cyclonedx_bom::external_models::uri::Purl;
use cyclonedx_bom::models::bom::{Bom, UrnUuid};
use cyclonedx_bom::models::component::{Classification, Component, Components};
use cyclonedx_bom::models::dependency::{Dependencies, Dependency};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::license::{LicenseChoice, Licenses};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::tool::{Tool, Tools};

use std::path::PathBuf;

use super::lock::Lock;
use super::BundleIndex;
use crate::repo::PackageRecord;
use moa_model::manifest::Manifest;
use moa_model::types::Sha256;

pub(crate) const SBOM_FILE: &str = "sbom.cdx.json";

/// A family's package URL spelling.
pub trait PurlScheme: Sync {
    /// The `distro` qualifier for the manifest's nodes (`centos-7`, `xenial`).
    fn distro(&self, manifest: &Manifest) -> String;
    /// The package URL of one package.
    fn purl(&self, p: &PackageRecord, namespace: &str, distro: &str) -> Result<String, packageurl::Error>;
}

/// `pkg:rpm/<id>/<name>@<version>-<release>?arch=&distro=<id>-<version_id>&epoch=`.
pub(crate) struct RpmPurl;
/// `pkg:deb/<id>/<name>@<version>?arch=&distro=<codename>`.
pub(crate) struct DebPurl;

impl PurlScheme for RpmPurl {
    fn distro(&self, m: &Manifest) -> String {
        format!("{}-{}", m.os_release.id, m.os_release.version_id)
    }
    fn purl(&self, p: &PackageRecord, namespace: &str, distro: &str) -> Result<String, packageurl::Error> {
        let (version, epoch) = match &p.version {
            moa_model::version::Version::Rpm(evr) => {
                let v = match evr.release() {
                    Some(r) => format!("{}-{r}", evr.version()),
                    None => evr.version().to_string(),
                };
                (v, evr.epoch)
            }
            other => (other.to_string(), 0),
        };
        let mut purl = packageurl::PackageUrl::new("rpm", p.name.as_str())?;
        purl.with_namespace(namespace)?.with_version(version)?;
        purl.add_qualifier("arch", p.arch.as_str())?.add_qualifier("distro", distro)?;
        purl.add_qualifier("epoch", epoch.to_string())?;
        Ok(purl.to_string())
    }
}

impl PurlScheme for DebPurl {
    /// The codename: the first suite of the first repository, without `-updates`/`-security`.
    fn distro(&self, m: &Manifest) -> String {
        let suite = m.repositories.first().and_then(|r| r.suites.first()).map(|s| s.to_string()).unwrap_or_default();
        suite.split('-').next().unwrap_or_default().to_string()
    }
    fn purl(&self, p: &PackageRecord, namespace: &str, distro: &str) -> Result<String, packageurl::Error> {
        let mut purl = packageurl::PackageUrl::new("deb", p.name.as_str())?;
        purl.with_namespace(namespace)?.with_version(p.version.to_string())?;
        purl.add_qualifier("arch", p.arch.as_str())?.add_qualifier("distro", distro)?;
        Ok(purl.to_string())
    }
}

/// A serial number made from the bundle's content: a UUID (version 5 layout) of its digest.
fn serial(digest: &Sha256) -> String {
    let mut b: [u8; 16] = hex::decode(&digest.to_hex()[..32]).expect("hex").try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("urn:uuid:{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The SBOM of a planned bundle: `records` are its packages in `index` order, `lock` its set
/// (repository and dependencies of each).
/// Why there is no SBOM to give.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("could not write the SBOM: {message}")]
    Write { message: String },
    #[error("{} holds no {SBOM_FILE}: it was built by a moa-bundle without SBOMs; build it again", bundle.display())]
    Missing { bundle: PathBuf },
}

pub(crate) fn sbom(
    manifest: &Manifest,
    index: &BundleIndex,
    lock: &Lock,
    records: &[&PackageRecord],
    scheme: &dyn PurlScheme,
) -> Result<Vec<u8>, String> {
    let distro = scheme.distro(manifest);
    let namespace = manifest.os_release.id.as_str();
    let mut purls = Vec::with_capacity(records.len());
    let mut components = Vec::with_capacity(records.len());
    for ((p, b), l) in records.iter().zip(&index.packages).zip(&lock.packages) {
        let purl = scheme.purl(p, namespace, &distro).map_err(|e| format!("package {}: {e}", p.nevra()))?;
        let mut c =
            Component::new(Classification::Library, p.name.as_str(), &b.version.to_string(), Some(purl.clone()));
        c.purl = Some(Purl::from_str(&purl).expect("infallible"));
        c.hashes = Some(Hashes(vec![Hash { alg: HashAlgorithm::SHA_256, content: HashValue(b.sha256.to_hex()) }]));
        c.licenses = p
            .license()
            .map(|l| Licenses(vec![LicenseChoice::License(cyclonedx_bom::models::license::License::named_license(l))]));
        let source =
            p.source_rpm().map(str::to_string).or_else(|| p.source_field().is_some().then(|| p.source().0.to_string()));
        let mut props = vec![Property {
            name: "moa-bundle:repository".into(),
            value: NormalizedString::new(l.repository.as_str()),
        }];
        if let Some(s) = source {
            props.push(Property { name: "moa-bundle:source-package".into(), value: NormalizedString::new(&s) });
        }
        c.properties = Some(Properties(props));
        purls.push(purl);
        components.push(c);
    }
    let dependencies = lock
        .packages
        .iter()
        .zip(&purls)
        .map(|(l, purl)| Dependency {
            dependency_ref: purl.clone(),
            dependencies: l
                .depends
                .iter()
                .filter_map(|d| lock.packages.iter().position(|q| q.name == *d).map(|j| purls[j].clone()))
                .collect(),
        })
        .collect();
    let digest = Sha256::digest(serde_json::to_vec(index).expect("the index serializes").as_slice());
    let mut me = Component::new(Classification::Application, &index.stem(), env!("CARGO_PKG_VERSION"), None);
    me.version = Some(NormalizedString::new(digest.to_hex().get(..12).unwrap_or_default()));
    me.bom_ref = Some(format!("bundle:{}", index.stem()));
    let tool = Tool {
        vendor: None,
        name: Some(NormalizedString::new("moa-bundle")),
        version: Some(NormalizedString::new(env!("CARGO_PKG_VERSION"))),
        hashes: None,
        external_references: None,
    };
    let metadata = Metadata {
        timestamp: Some(
            DateTime::try_from(moa_model::types::rfc3339(index.source_date_epoch)).map_err(|e| e.to_string())?,
        ),
        tools: Some(Tools::List(vec![tool])),
        component: Some(me),
        ..Metadata::default()
    };
    let bom = Bom {
        serial_number: Some(UrnUuid::new(serial(&digest)).map_err(|e| format!("{e:?}"))?),
        metadata: Some(metadata),
        components: Some(Components(components)),
        dependencies: Some(Dependencies(dependencies)),
        ..Bom::default()
    };
    let mut out = Vec::new();
    bom.output_as_json_v1_5(&mut out).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(moa_model::types::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(moa_model::types::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(moa_model::types::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn serials_are_uuid_shaped_and_stable() {
        let s = serial(&Sha256::digest(b"x"));
        assert_eq!(s, serial(&Sha256::digest(b"x")));
        assert!(UrnUuid::new(s.clone()).is_ok(), "{s}");
        assert_eq!(&s[9 + 14..9 + 15], "5");
    }
}
