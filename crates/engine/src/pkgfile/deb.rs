//! `.deb` files: an ar archive whose first member is `debian-binary` (`2.x`) and whose next one
//! is `control.tar[.gz|.xz|.zst]`; the `control` file in it names the package. Read with bounds:
//! the ar framing by hand (60-byte headers, nothing allocated from a claimed length), the
//! decompressed control archive within [`moa_model::limits::HEADER_BYTES`].

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::{Contents, Identity, PackageFile, PackageFileError};
use moa_model::limits;
use moa_model::version::{DebVersion, Version};

pub struct DebFile;

const KIND: &str = "a deb";
/// The control file itself (Debian's are under 10 KiB).
const CONTROL_BYTES: u64 = 1 << 20;

/// One ar member header: its name and size.
fn ar_member(r: &mut impl Read) -> Result<Option<(String, u64)>, PackageFileError> {
    let mut h = [0u8; 60];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    if &h[58..60] != b"`\n" {
        return Err(PackageFileError::not(KIND, "an ar member header is malformed"));
    }
    let name = String::from_utf8_lossy(&h[..16]).trim_end().trim_end_matches('/').to_string();
    let size = std::str::from_utf8(&h[48..58])
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| PackageFileError::not(KIND, format!("ar member `{name}` has no readable size")))?;
    Ok(Some((name, size)))
}

/// The `control` file's bytes from the control member of `size` bytes named `name`.
fn control_file(r: &mut impl Read, name: &str, size: u64) -> Result<Vec<u8>, PackageFileError> {
    if !name.starts_with("control.tar") {
        return Err(PackageFileError::not(KIND, format!("its second member is `{name}`, not control.tar")));
    }
    let inner = decompressor(BufReader::new(r.take(size)), name)?;
    let mut tar = tar::Archive::new(inner.take(limits::HEADER_BYTES));
    let bad = |e: std::io::Error| PackageFileError::not(KIND, format!("{name} is unreadable: {e}"));
    for entry in tar.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        if path.as_os_str() == "./control" || path.as_os_str() == "control" {
            if entry.header().entry_type() != tar::EntryType::Regular || entry.size() > CONTROL_BYTES {
                return Err(PackageFileError::not(KIND, "its control file is not a small plain file"));
            }
            let mut buf = Vec::new();
            entry.take(CONTROL_BYTES).read_to_end(&mut buf).map_err(bad)?;
            return Ok(buf);
        }
    }
    Err(PackageFileError::not(KIND, format!("{name} has no control file")))
}

/// `Package`, `Version` and `Architecture` of a control file.
fn identity(control: &[u8]) -> Result<Identity, PackageFileError> {
    let mut fields = std::collections::HashMap::new();
    for line in control.lines() {
        let line = line.map_err(|_| PackageFileError::not(KIND, "its control file is not text"))?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':').filter(|_| !line.starts_with([' ', '\t'])) {
            fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut get = |k: &str| {
        fields.remove(k).ok_or_else(|| PackageFileError::not(KIND, format!("its control file has no {k} field")))
    };
    let (name, version, arch) = (get("package")?, get("version")?, get("architecture")?);
    let version: DebVersion =
        version.parse().map_err(|e| PackageFileError::not(KIND, format!("its control file's version: {e}")))?;
    Ok(Identity { name, version: Version::Deb(version), arch })
}

impl PackageFile for DebFile {
    fn check_signature(
        &self,
        _path: &Path,
        _keyring: &crate::trust::Keyring,
    ) -> Result<Option<crate::trust::Signed>, PackageFileError> {
        Ok(None)
    }

    fn identify(&self, path: &Path) -> Result<Identity, PackageFileError> {
        let mut r = open_ar(path)?;
        let (name, size) = next_member(&mut r, "control")?;
        identity(&control_file(&mut r, &name, size)?)
    }

    fn contents(&self, path: &Path) -> Result<Contents, PackageFileError> {
        let mut r = open_ar(path)?;
        let (name, size) = next_member(&mut r, "control")?;
        if size > limits::HEADER_BYTES {
            return Err(PackageFileError::not(KIND, format!("its {name} claims {size} bytes")));
        }
        // The whole control member (and its padding), so the next header is where `r` is.
        let mut member = Vec::new();
        (&mut r).take(size).read_to_end(&mut member)?;
        std::io::copy(&mut (&mut r).take(size % 2), &mut std::io::sink())?;
        let control = control_file(&mut &member[..], &name, size)?;
        let (data, size) = loop {
            let (name, size) = next_member(&mut r, "data")?;
            if name.starts_with("data.tar") {
                break (name, size);
            }
            std::io::copy(&mut (&mut r).take(size + size % 2), &mut std::io::sink())?;
        };
        let installed_kib = field(&control, "installed-size").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(Contents { installed_bytes: installed_kib.saturating_mul(1024), paths: data_paths(&mut r, &data, size)? })
    }
}

/// The file, past `!<arch>` and a `debian-binary` 2.x member.
fn open_ar(path: &Path) -> Result<BufReader<std::fs::File>, PackageFileError> {
    let (file, _) = moa_model::files::open_regular(path)?;
    let mut r = BufReader::new(file);
    let mut magic = [0u8; 8];
    if r.read_exact(&mut magic).is_err() || &magic != b"!<arch>\n" {
        return Err(PackageFileError::not(KIND, "it is not an ar archive"));
    }
    let Some((first, size)) = ar_member(&mut r)? else {
        return Err(PackageFileError::not(KIND, "it is an empty ar archive"));
    };
    let mut version = Vec::new();
    (&mut r).take(size.min(16)).read_to_end(&mut version)?;
    if first != "debian-binary" || size > 16 || !version.starts_with(b"2.") {
        return Err(PackageFileError::not(KIND, "its first member is not debian-binary 2.x"));
    }
    std::io::copy(&mut (&mut r).take(size % 2), &mut std::io::sink())?;
    Ok(r)
}

/// The next member that is not one dpkg skips (`_…`): its name and size.
fn next_member(r: &mut impl Read, what: &str) -> Result<(String, u64), PackageFileError> {
    loop {
        let Some((name, size)) = ar_member(r)? else {
            return Err(PackageFileError::not(KIND, format!("it has no {what} member")));
        };
        if !name.starts_with('_') {
            return Ok((name, size));
        }
        std::io::copy(&mut r.take(size + size % 2), &mut std::io::sink())?;
    }
}

/// One field of a control file (the first paragraph), lowercase key.
fn field(control: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(control).ok()?;
    text.lines().take_while(|l| !l.trim().is_empty()).filter(|l| !l.starts_with([' ', '\t'])).find_map(|l| {
        l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(key)).map(|(_, v)| v.trim().to_string())
    })
}

/// Every path in the data member of `size` bytes named `name`, bounded in count and bytes.
fn data_paths(r: &mut impl Read, name: &str, size: u64) -> Result<Vec<String>, PackageFileError> {
    let member = BufReader::new(r.take(size));
    let inner = decompressor(member, name)?;
    let mut tar = tar::Archive::new(inner.take(limits::DATA_BYTES));
    let bad = |e: std::io::Error| PackageFileError::not(KIND, format!("{name} is unreadable: {e}"));
    let mut out = Vec::new();
    for entry in tar.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        if out.len() >= limits::CONTENT_PATHS {
            return Err(PackageFileError::not(KIND, format!("{name} lists more than {} paths", limits::CONTENT_PATHS)));
        }
        let path = entry.path().map_err(bad)?;
        let p = super::node_path(&path.to_string_lossy());
        if p != "/" {
            out.push(p);
        }
    }
    Ok(out)
}

/// A reader of a `.tar[.gz|.xz|.zst]` member's tar stream.
fn decompressor<'r, R: BufRead + 'r>(member: R, name: &str) -> Result<Box<dyn Read + 'r>, PackageFileError> {
    let ext = name.rsplit_once(".tar").map(|(_, e)| e).unwrap_or("?");
    Ok(match ext {
        "" => Box::new(member),
        ".gz" => Box::new(flate2::bufread::GzDecoder::new(member)),
        ".xz" => Box::new(liblzma::bufread::XzDecoder::new(member)),
        ".zst" => Box::new(
            ruzstd::decoding::StreamingDecoder::new(member)
                .map_err(|e| PackageFileError::not(KIND, format!("{name} is not zstd: {e}")))?,
        ),
        _ => return Err(PackageFileError::not(KIND, format!("member `{name}` is not a tar archive dpkg reads"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_fields_name_the_package() {
        let id =
            identity(b"Package: ntp\nVersion: 1:4.2.8p4+dfsg-3ubuntu5.9\nArchitecture: amd64\nDescription: x\n y\n")
                .unwrap();
        assert_eq!(
            (id.name.as_str(), id.version.to_string().as_str(), id.arch.as_str()),
            ("ntp", "1:4.2.8p4+dfsg-3ubuntu5.9", "amd64")
        );
        assert!(identity(b"Package: ntp\n").is_err());
    }

    #[test]
    fn text_and_other_archives_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.deb");
        fs_err::write(&p, b"not a deb at all").unwrap();
        assert!(DebFile.identify(&p).unwrap_err().to_string().contains("not an ar archive"));
        let mut ar = b"!<arch>\n".to_vec();
        ar.extend_from_slice(format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", "evil", 0, 0, 0, 644, 2).as_bytes());
        ar.extend_from_slice(b"hi");
        fs_err::write(&p, &ar).unwrap();
        assert!(DebFile.identify(&p).unwrap_err().to_string().contains("debian-binary"));
    }
}
