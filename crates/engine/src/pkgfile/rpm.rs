//! `.rpm` files: the lead, the signature header and the main header, read with rpm's own bounds
//! (at most 65,535 tags, data within [`moa_model::limits::HEADER_BYTES`]) before the `rpm` crate
//! parses them, so a crafted intro cannot make it allocate gigabytes.

use std::io::{Read, Write};
use std::path::Path;

use super::{Contents, Identity, PackageFile, PackageFileError};
use crate::trust::{Keyring, Signed};
use moa_model::limits;
use moa_model::version::{Evr, Version};

pub struct RpmFile;

const KIND: &str = "an rpm";
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm's own `HEADER_TAGS_MAX`.
const MAX_TAGS: u64 = 0xffff;

/// Reads one header (intro, index, data) into `out`, checking its magic and sizes; returns the
/// data size (the signature header is padded to 8 bytes after it).
fn read_header(r: &mut impl Read, out: &mut Vec<u8>, which: &str) -> Result<u64, PackageFileError> {
    let mut intro = [0u8; 16];
    r.read_exact(&mut intro).map_err(|_| PackageFileError::not(KIND, format!("its {which} header is cut short")))?;
    if intro[..4] != HEADER_MAGIC {
        return Err(PackageFileError::not(KIND, format!("its {which} header has no header magic")));
    }
    let tags = u64::from(u32::from_be_bytes(intro[8..12].try_into().expect("4 bytes")));
    let data = u64::from(u32::from_be_bytes(intro[12..16].try_into().expect("4 bytes")));
    if tags == 0 || tags > MAX_TAGS || data > limits::HEADER_BYTES {
        return Err(PackageFileError::not(KIND, format!("its {which} header claims {tags} tags and {data} bytes")));
    }
    out.extend_from_slice(&intro);
    let start = out.len();
    r.take(tags * 16 + data).read_to_end(out)?;
    if ((out.len() - start) as u64) < tags * 16 + data {
        return Err(PackageFileError::not(KIND, format!("its {which} header is cut short")));
    }
    check_index(&out[start..start + (tags * 16) as usize], data, which)?;
    Ok(data)
}

/// rpm's `headerVerifyInfo`: every index entry has a known type, and its data starts inside the
/// data store. (The `rpm` crate indexes the store with an entry's offset unchecked.)
fn check_index(index: &[u8], data: u64, which: &str) -> Result<(), PackageFileError> {
    for (i, e) in index.chunks_exact(16).enumerate() {
        let word = |k: usize| u32::from_be_bytes(e[k..k + 4].try_into().expect("4 bytes"));
        let (kind, offset, count) = (word(4), u64::from(word(8)), u64::from(word(12)));
        // Types 0 (null) to 9 (i18n string); the offset is a signed 32-bit number in rpm.
        if kind > 9 || offset >= data.max(1) || offset > i32::MAX as u64 || count > data.max(1) {
            return Err(PackageFileError::not(
                KIND,
                format!("its {which} header's entry {i} has type {kind}, offset {offset}, count {count} for {data} bytes of data"),
            ));
        }
    }
    Ok(())
}

/// The lead and both headers, as bytes, and where the main header starts in them.
fn read_headers(r: &mut impl Read) -> Result<(Vec<u8>, usize), PackageFileError> {
    let mut out = vec![0u8; 96];
    r.read_exact(&mut out).map_err(|_| PackageFileError::not(KIND, "it is shorter than an rpm lead"))?;
    if out[..4] != LEAD_MAGIC {
        return Err(PackageFileError::not(KIND, "it does not start with the rpm lead magic"));
    }
    let sig_data = read_header(r, &mut out, "signature")?;
    let pad = (8 - sig_data % 8) % 8;
    let before = out.len();
    r.take(pad).read_to_end(&mut out)?;
    if ((out.len() - before) as u64) < pad {
        return Err(PackageFileError::not(KIND, "it ends after the signature header"));
    }
    let main = out.len();
    read_header(r, &mut out, "main")?;
    Ok((out, main))
}

/// Signature-header tags holding an OpenPGP signature: over the main header alone (RSA 268, DSA
/// 267, rpm 6's OPENPGP 278), or over the main header and the payload (PGP 1002, GPG 1005:
/// CentOS 7's V3 signatures come in both kinds).
const HEADER_ONLY: [u32; 3] = [268, 267, 278];
const HEADER_AND_PAYLOAD: [u32; 2] = [1002, 1005];

/// The binary values of the signature header's entries with these tags (the index was checked
/// by [`check_index`]; a value running past the store is refused).
fn signature_values(bytes: &[u8], tags: &[u32]) -> Result<Vec<Vec<u8>>, PackageFileError> {
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
    let (count, size) = (word(96 + 8), word(96 + 12));
    let store = 96 + 16 + count * 16;
    let mut out = Vec::new();
    for i in 0..count {
        let e = 96 + 16 + i * 16;
        let (tag, kind, offset, len) = (word(e) as u32, word(e + 4), word(e + 8), word(e + 12));
        if !tags.contains(&tag) {
            continue;
        }
        if kind != 7 || offset + len > size {
            return Err(PackageFileError::not(
                KIND,
                format!("its signature tag {tag} is not binary data inside the header"),
            ));
        }
        out.push(bytes[store + offset..store + offset + len].to_vec());
    }
    Ok(out)
}

fn pgp_signatures(values: Vec<Vec<u8>>) -> Result<Vec<pgp::packet::Signature>, PackageFileError> {
    let mut out = Vec::new();
    for v in values {
        let sigs = crate::trust::parse_signatures(&v)
            .map_err(|e| PackageFileError::not(KIND, format!("its header signature is unreadable: {e}")))?;
        out.extend(sigs);
    }
    Ok(out)
}

impl RpmFile {
    /// Checks the package's header signatures as `rpm -K` does, against `keyring`: the
    /// header-only ones over the main header, the header+payload ones over the rest of the file.
    /// Every kind present must have a good signature by a pinned key and no bad one; an rpm with
    /// none is unsigned and refused. The payload must be covered too: by the payload digest the
    /// signed main header carries (rpm ≥ 4.14 builds), checked here, or by a header+payload
    /// signature (EL7's); a package whose payload nothing signed covers is refused.
    pub fn check_signatures(&self, path: &Path, keyring: &Keyring) -> Result<Signed, PackageFileError> {
        let (file, _) = moa_model::files::open_regular(path)?;
        let (bytes, main) = read_headers(&mut std::io::BufReader::new(file))?;
        let what = path.display().to_string();
        let header = pgp_signatures(signature_values(&bytes, &HEADER_ONLY)?)?;
        let whole = pgp_signatures(signature_values(&bytes, &HEADER_AND_PAYLOAD)?)?;
        if header.is_empty() && whole.is_empty() {
            return Err(PackageFileError::Unsigned);
        }
        let mut signed = None;
        if !header.is_empty() {
            signed = Some(keyring.judge(&what, &header, || Ok(&bytes[main..]))?);
        }
        let skip_to = |at: usize| {
            move || -> std::io::Result<_> {
                let (file, _) = moa_model::files::open_regular(path)?;
                let mut f = std::io::BufReader::with_capacity(1 << 20, file);
                std::io::copy(&mut (&mut f).take(at as u64), &mut std::io::sink())?;
                Ok(f)
            }
        };
        if !whole.is_empty() {
            signed = Some(keyring.judge(&what, &whole, skip_to(main))?);
        }
        match payload_digest(&bytes)? {
            Some(want) => want.check(skip_to(bytes.len())()?)?,
            None if whole.is_empty() => return Err(PackageFileError::PayloadUnsigned),
            None => {}
        }
        Ok(signed.expect("one kind is present"))
    }
}

/// The payload digest a main header carries (`RPMTAG_PAYLOADDIGEST`, hex, with
/// `RPMTAG_PAYLOADDIGESTALGO`, an OpenPGP hash id: 8 SHA-256, 9 SHA-384, 10 SHA-512).
struct PayloadDigest {
    algo: u32,
    hex: String,
}

impl PayloadDigest {
    /// Reads `payload` (the rest of the file after the main header) to its end and compares.
    fn check(&self, mut payload: impl Read) -> Result<(), PackageFileError> {
        use sha2::Digest;
        fn hash<D: Digest + Write>(r: &mut impl Read) -> std::io::Result<String> {
            let mut d = D::new();
            std::io::copy(r, &mut d)?;
            Ok(hex::encode(d.finalize()))
        }
        let got = match self.algo {
            8 => hash::<sha2::Sha256>(&mut payload)?,
            9 => hash::<sha2::Sha384>(&mut payload)?,
            10 => hash::<sha2::Sha512>(&mut payload)?,
            other => {
                return Err(PackageFileError::not(
                    KIND,
                    format!("its payload digest uses hash algorithm {other}, which moa-bundle does not know"),
                ))
            }
        };
        if !got.eq_ignore_ascii_case(&self.hex) {
            return Err(PackageFileError::PayloadAltered { expected: moa_model::types::shown(&self.hex), actual: got });
        }
        Ok(())
    }
}

/// The lead and headers parsed by the `rpm` crate (the bytes are bounded and well framed by
/// [`read_headers`]; a parser bug on crafted content is still a refusal, not a crash).
fn parse_metadata(bytes: &[u8]) -> Result<rpm::PackageMetadata, PackageFileError> {
    match std::panic::catch_unwind(|| rpm::PackageMetadata::parse(&mut &bytes[..])) {
        Ok(Ok(md)) => Ok(md),
        Ok(Err(e)) => Err(PackageFileError::not(KIND, format!("its header is malformed: {e}"))),
        Err(_) => Err(PackageFileError::not(KIND, "its header is malformed")),
    }
}

fn payload_digest(bytes: &[u8]) -> Result<Option<PayloadDigest>, PackageFileError> {
    let md = parse_metadata(bytes)?;
    let Ok(digests) = md.header.get_entry_data_as_string_array(rpm::IndexTag::RPMTAG_PAYLOADSHA256) else {
        return Ok(None);
    };
    let hex = digests.first().ok_or_else(|| PackageFileError::not(KIND, "its payload digest is empty"))?.to_string();
    let algo = md
        .header
        .get_entry_data_as_u32_array(rpm::IndexTag::RPMTAG_PAYLOADSHA256ALGO)
        .ok()
        .and_then(|a| a.first().copied())
        .unwrap_or(8);
    Ok(Some(PayloadDigest { algo, hex }))
}

impl PackageFile for RpmFile {
    fn check_signature(&self, path: &Path, keyring: &Keyring) -> Result<Option<Signed>, PackageFileError> {
        self.check_signatures(path, keyring).map(Some)
    }

    fn identify(&self, path: &Path) -> Result<Identity, PackageFileError> {
        let (file, _) = moa_model::files::open_regular(path)?;
        let (bytes, _) = read_headers(&mut std::io::BufReader::new(file))?;
        let md = parse_metadata(&bytes)?;
        if md.header.entry_is_present(rpm::IndexTag::RPMTAG_SOURCEPACKAGE) {
            return Err(PackageFileError::not(KIND, "it is a source package (.src.rpm)"));
        }
        let field = |r: Result<&str, rpm::Error>, what: &str| {
            r.map(str::to_string).map_err(|e| PackageFileError::not(KIND, format!("its header has no {what}: {e}")))
        };
        let name = field(md.get_name(), "name")?;
        let version = field(md.get_version(), "version")?;
        let release = field(md.get_release(), "release")?;
        let arch = field(md.get_arch(), "arch")?;
        let epoch = md.get_epoch().unwrap_or(0);
        let evr = Evr::new(epoch.into(), &version, Some(&release))
            .map_err(|e| PackageFileError::not(KIND, format!("its header's version is unreadable: {e}")))?;
        Ok(Identity { name, version: Version::Rpm(evr), arch })
    }

    fn contents(&self, path: &Path) -> Result<Contents, PackageFileError> {
        let (file, _) = moa_model::files::open_regular(path)?;
        let (bytes, _) = read_headers(&mut std::io::BufReader::new(file))?;
        let md = parse_metadata(&bytes)?;
        let paths = md.get_file_paths().unwrap_or_default();
        if paths.len() > limits::CONTENT_PATHS {
            return Err(PackageFileError::not(
                KIND,
                format!("its header lists more than {} files", limits::CONTENT_PATHS),
            ));
        }
        Ok(Contents {
            installed_bytes: md.get_installed_size().unwrap_or(0),
            paths: paths.iter().map(|p| super::node_path(&p.to_string_lossy())).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_crafted_intros_are_refused_without_allocating() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.rpm");
        fs_err::write(&p, b"/etc/passwd\n/tmp/other.rpm\n").unwrap();
        let e = RpmFile.identify(&p).unwrap_err().to_string();
        assert!(e.contains("not an rpm package") && e.contains("lead"), "{e}");
        // A lead, then a signature intro that claims 4 GiB of data.
        let mut b = vec![0u8; 96];
        b[..4].copy_from_slice(&LEAD_MAGIC);
        b.extend_from_slice(&HEADER_MAGIC);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        fs_err::write(&p, &b).unwrap();
        let e = RpmFile.identify(&p).unwrap_err().to_string();
        assert!(e.contains("claims 1 tags and 4294967295 bytes"), "{e}");
    }
}
