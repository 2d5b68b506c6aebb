//! `build`: resolve, then fetch and pack at once — the packages download in the bundle's member
//! order on their own threads while the packer writes each one as it lands — unless the output
//! already holds exactly this bundle (same tool, metadata, packages and roles), which is then
//! left as it is: nothing is fetched or written again.

use std::path::PathBuf;

use serde::Serialize;

use super::{load_and_resolve, plan_items, CommandError, PlanItem, Session, SourceOptions};
use crate::bundle::lock::{Lock, LOCK_FILE};
use crate::bundle::plan::{self, plan_bundle, PlanOptions, Planned};
use crate::bundle::{pack, BundleIndex, PACKAGES_DIR};
use crate::family::Backend;
use crate::fetch::{self, Arrivals, FetchOptions};
use crate::repo::{LoadedRepo, PackageRecord};
use crate::report::Reporter;
use moa_model::manifest::Manifest;
use moa_model::types::{Line, Sha256};

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    pub jobs: usize,
    pub source: SourceOptions,
    /// Fixed mtime; defaults to the metadata's newest timestamp.
    pub source_date_epoch: Option<u64>,
    /// A minisign secret key: sign the bundle into `<bundle>.minisig`.
    pub sign: Option<PathBuf>,
    /// `--locked FILE`: pack exactly this lock's set, without resolving.
    pub locked: Option<PathBuf>,
    /// Make the bundle a package repository too (`repodata/`), for `install --via-repo` and the
    /// node's own dnf/yum/apt (`--no-repo` turns it off).
    pub repository: bool,
    /// `--split-size`: also write the bundle in parts of at most this many bytes, for media.
    pub split_size: Option<u64>,
    /// `--parity N`: with the parts, N Reed–Solomon parity parts (any N lost parts rebuilt).
    pub parity: u32,
    /// Which moa-bundle binary the bundle carries for the node.
    pub installer: InstallerChoice,
    /// `--since OLD`: pack only what is new or changed since OLD (a bundle, its parts or its
    /// unpacked directory, or its `moa.lock`).
    pub since: Option<PathBuf>,
    /// `--rollback`: also pack the target node's versions of what the bundle upgrades or
    /// removes.
    pub rollback: Option<RollbackOptions>,
    /// Files a service configured with the packages adds to the bundle (the time service's
    /// role templates, `roles/…`): packed and summed in `SHA256SUMS` like the rest.
    pub service_files: Vec<(String, Vec<u8>)>,
}

impl BuildOptions {
    /// What of these options the bundle's plan records.
    fn plan(&self) -> PlanOptions {
        PlanOptions { source_date_epoch: self.source_date_epoch, signatures: self.source.signatures }
    }
}

/// `--rollback` and what goes with it.
#[derive(Debug, Clone, Default)]
pub struct RollbackOptions {
    /// `--rollback-partial`: build without the versions no repository publishes any more.
    pub partial: bool,
    /// `--rollback-mirror`: where to look, with the manifest's keys, for versions the
    /// manifest's mirrors no longer publish (an archive or snapshot mirror).
    pub mirrors: Vec<moa_model::types::MirrorFlag>,
}

/// `--installer PATH`, `--with-installer`, `--no-installer`, or the default.
#[derive(Debug, Clone, PartialEq)]
pub enum InstallerChoice {
    None,
    /// This binary (`--with-installer`): refused when it is not for the bundle's architecture.
    Running,
    Path(PathBuf),
    /// Built-in manifests: this binary when it is a release build for the bundle's architecture
    /// (a debug build is not what a node should run), else none, with a note saying how.
    Default,
}

/// What `build` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub bundle: PathBuf,
    pub sha256: Sha256,
    pub size: u64,
    /// The output already held exactly this bundle, so nothing was fetched or written.
    pub unchanged: bool,
    pub packages: Vec<PlanItem>,
    pub notes: Vec<crate::resolve::Note>,
    /// `<bundle>.minisig`, when `--sign` was given.
    pub signature: Option<PathBuf>,
    /// The parts and their index, with `--split-size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<crate::bundle::parts::Split>,
    /// The moa-bundle binary the bundle carries, or why it carries none where the default
    /// would have put one in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installer: Option<crate::bundle::BundledBinary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installer_note: Option<String>,
    /// With `--since`: which bundle this one follows and how many of the set it leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<SinceReport>,
}

/// What `--since` left out.
#[derive(Debug, Clone, Serialize)]
pub struct SinceReport {
    pub base: Line,
    /// Packages of the set OLD already holds: not packed, expected on the node.
    pub expected: usize,
    /// Packages packed: new or changed since OLD.
    pub packed: usize,
}

/// Builds the bundle, then signs it when asked (an unchanged bundle is signed again: the key
/// may be new).
pub fn build(manifest: &Manifest, opts: &BuildOptions, reporter: &dyn Reporter) -> Result<BuildReport, CommandError> {
    let mut report = build_unsigned(manifest, opts, reporter)?;
    if let Some(key) = &opts.sign {
        reporter.status(&format!("signing {}", report.bundle.display()));
        report.signature = Some(crate::bundle::sign::sign(&report.bundle, key, &report.sha256)?);
    }
    if let Some(size) = opts.split_size {
        reporter.status(&format!("splitting {} into parts of {size} bytes", report.bundle.display()));
        report.split = Some(crate::bundle::parts::split(&report.bundle, size, opts.parity)?);
    }
    Ok(report)
}

fn build_unsigned(
    manifest: &Manifest,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BuildReport, CommandError> {
    // A base of another manifest's bundle fails before anything is downloaded.
    let old = opts.since.as_ref().map(|p| old_lock(p, manifest)).transpose()?;
    let source = super::SourceOptions { keep_entries: opts.repository, ..opts.source.clone() };
    let session = Session::open(manifest, &source, reporter)?;
    let (backend, transport, cache) = (session.backend, &session.transport, &session.cache);
    let (r, locked) = match &opts.locked {
        Some(path) => {
            let lock = Lock::load(path)?;
            lock.check_fits(path, &manifest.name, &manifest.distro, &manifest.arch)?;
            let metadata = super::load_metadata(manifest, &session)?;
            (crate::bundle::plan::from_lock(metadata, &lock)?, Some(lock))
        }
        None => (load_and_resolve(manifest, &session)?, None),
    };
    let Planned { mut index, mut records, lock } = plan_bundle(manifest, &opts.plan(), &r, locked.as_ref())?;
    // The SBOM and the lock describe the whole set, also in a differential bundle: what the
    // node has once it is installed.
    let scheme = backend.purl;
    let sbom = crate::bundle::sbom::sbom(manifest, &index, &lock, &records, scheme)
        .map_err(|message| crate::bundle::sbom::SbomError::Write { message })?;
    let since = match old {
        Some((old_lock, base)) => {
            let expected = crate::bundle::since::keep_new(&mut index, &mut records, &old_lock, base.clone());
            Some(SinceReport { base, expected, packed: index.packages.len() })
        }
        None => None,
    };
    let (binary, installer_note) = choose_installer(manifest, backend, &opts.installer)?;
    index.installer = binary.as_ref().map(|(_, b)| b.clone());
    let mut extra = opts.service_files.clone();
    if let Some(rollback) = &opts.rollback {
        extra.extend(rollback_kit(manifest, &session, (&r, &records), &mut index, rollback, opts)?);
    }
    if opts.repository {
        extra.extend(local_repository(backend, &r.metadata, &index, &records)?);
    }
    extra.push((LOCK_FILE.to_string(), lock.to_text().into_bytes()));
    extra.extend(plan::keys(manifest, opts.source.signatures).into_iter().map(|(k, bytes)| (k.file, bytes)));
    extra.push((crate::bundle::sbom::SBOM_FILE.to_string(), sbom));
    let roles = extra;
    let stem = manifest.bundle_stem();
    // What the bundle holds: a differential one, only what is new or changed.
    let items: Vec<PlanItem> = plan_items(&r)
        .into_iter()
        .filter(|p| {
            index.packages.iter().any(|q| {
                (q.name.as_str(), q.version.to_string(), q.arch.as_str())
                    == (p.name.as_str(), p.version.clone(), p.arch.as_str())
            })
        })
        .collect();
    let notes = r.plan.notes.clone();
    let report = |sha256, size, unchanged| BuildReport {
        bundle: opts.output.clone(),
        sha256,
        size,
        unchanged,
        packages: items.clone(),
        notes: notes.clone(),
        signature: None,
        split: None,
        installer: index.installer.clone(),
        installer_note: installer_note.clone(),
        since: since.clone(),
    };
    let binary = binary.as_ref().map(|(gz, _)| gz.as_slice());

    let installer = backend.installer;
    let mut tool = installer.fallback_command();
    if opts.repository {
        tool.via_repo = installer.fallback_via_repo(&index);
    }
    let key = pack::content_key(&index, &roles, &tool, binary, &stem);
    if let Some((sha256, size)) = cache.unchanged_bundle(&key, &opts.output) {
        reporter.status(&format!("{} already holds this bundle: nothing to fetch or pack", opts.output.display()));
        let report = report(sha256, size, true);
        drop(records);
        super::free_later(r);
        return Ok(report);
    }

    let out_dir = moa_model::files::parent_dir(&opts.output);
    let swept = moa_model::files::sweep_partials(&out_dir);
    if swept > 0 {
        reporter.event(&crate::report::Event::Swept { what: out_dir.display().to_string(), count: swept });
    }

    // Fetch in member order (packages/ sorted by file name), so the packer rarely waits.
    let mut fetch_order: Vec<usize> = (0..index.packages.len()).collect();
    fetch_order.sort_by(|&a, &b| index.packages[a].file.cmp(&index.packages[b].file));
    let mut slot = vec![0; fetch_order.len()];
    for (pos, &i) in fetch_order.iter().enumerate() {
        slot[i] = pos;
    }
    // The packages to fetch and where from are all that is needed of the metadata now: the
    // rest (every record of every index) is let go before the downloads begin, so their
    // buffers reuse its memory instead of adding to it.
    let to_fetch: Vec<PackageRecord> = fetch_order.iter().map(|&i| records[i].clone()).collect();
    let to_fetch: Vec<&PackageRecord> = to_fetch.iter().collect();
    let repos: Vec<LoadedRepo> = r.metadata.repos.iter().map(LoadedRepo::mirrors_only).collect();
    drop(records);
    super::free_later(r);
    let arrivals = Arrivals::new(to_fetch.len());
    let check = package_signatures(manifest, backend, opts)?;
    let fetch_opts =
        FetchOptions { jobs: opts.jobs, offline: opts.source.offline, arrivals: Some(&arrivals), check: Some(&check) };
    let (fetched, packed) = std::thread::scope(|s| {
        let fetcher = s.spawn(|| {
            let r = fetch::fetch_all(&to_fetch, &repos, transport, cache, &fetch_opts, reporter);
            arrivals.close();
            r
        });
        reporter.status(&format!("packing {} as the packages arrive", opts.output.display()));
        let packed =
            pack::write_bundle(&index, &|i| arrivals.wait(slot[i]), &roles, &tool, binary, &stem, &opts.output);
        (fetcher.join().expect("the fetch thread does not panic"), packed)
    });
    // A fetch error first: it is why a package was missing from the pack.
    fetched?;
    let packed = packed?;
    cache.record_bundle(&key, &packed.path, &packed.sha256);
    Ok(report(packed.sha256, packed.size, false))
}

/// The rollback kit's files (`rollback/…`), fetched and checked now; its list goes into
/// bundle.json. What the manifest's mirrors no longer publish is looked up in the
/// `--rollback-mirror` ones (their metadata checked with the same keys).
fn rollback_kit(
    manifest: &Manifest,
    session: &Session<'_>,
    (r, records): (&plan::Resolved, &[&PackageRecord]),
    index: &mut BundleIndex,
    rollback: &RollbackOptions,
    opts: &BuildOptions,
) -> Result<Vec<(String, Vec<u8>)>, CommandError> {
    use super::rollback;
    let obsoletes: Vec<String> =
        records.iter().flat_map(|p| p.obsoletes().iter().map(str::to_string).collect::<Vec<_>>()).collect();
    let wanted = rollback::wanted(index, &r.nodes, &obsoletes, session.backend)?;
    let first = rollback::plan(&wanted, &[&r.metadata], session.backend, true)?;
    let archive = match (first.missing.is_empty(), rollback.mirrors.is_empty()) {
        (false, false) => {
            let mut elsewhere = manifest.clone();
            elsewhere.override_mirrors(&rollback.mirrors)?;
            session.reporter.status("looking for the node's versions in --rollback-mirror");
            Some((elsewhere.clone(), super::load_metadata(&elsewhere, session)?))
        }
        _ => None,
    };
    let mut sources = vec![&r.metadata];
    sources.extend(archive.as_ref().map(|(_, m)| m));
    let kit = rollback::plan(&wanted, &sources, session.backend, rollback.partial)?;
    session.reporter.status(&format!("fetching the rollback kit ({} packages)", kit.records.len()));
    let check = package_signatures(manifest, session.backend, opts)?;
    let fetch_opts =
        FetchOptions { jobs: opts.jobs, offline: opts.source.offline, arrivals: None, check: Some(&check) };
    let mut files = Vec::new();
    for (p, (source, record)) in kit.packages.iter().zip(&kit.records) {
        let repos = &sources[*source].repos;
        let fetch = |rs: &[&PackageRecord]| {
            fetch::fetch_all(rs, repos, &session.transport, &session.cache, &fetch_opts, session.reporter)
        };
        let path = fetch(&[*record])?.remove(0);
        let bytes =
            fs_err::read(&path).map_err(|source| CommandError::Io { what: path.display().to_string(), source })?;
        // The bytes packed are the bytes checked: the cache file is read once more here.
        if Sha256::digest(&bytes) != p.sha256 {
            let e = std::io::Error::other("changed in the cache after it was checked: run the build again");
            return Err(CommandError::Io { what: path.display().to_string(), source: e });
        }
        files.push((format!("{}/{}", crate::bundle::ROLLBACK_DIR, p.file), bytes));
    }
    (index.rollback, index.rollback_missing) = (kit.packages, kit.missing);
    Ok(files)
}

/// What `lock` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct LockReport {
    pub lock: PathBuf,
    pub packages: Vec<PlanItem>,
    pub notes: Vec<crate::resolve::Note>,
}

/// `lock`: resolve as `build` would and write the set to `opts.output` (nothing is downloaded).
/// What `lock` needs: where to write, where the metadata comes from, and the members' mtime
/// the lock records.
#[derive(Debug, Clone)]
pub struct LockOptions {
    pub output: PathBuf,
    pub source: SourceOptions,
    pub source_date_epoch: Option<u64>,
}

pub fn lock(manifest: &Manifest, opts: &LockOptions, reporter: &dyn Reporter) -> Result<LockReport, CommandError> {
    let r = load_and_resolve(manifest, &Session::open(manifest, &opts.source, reporter)?)?;
    let plan = PlanOptions { source_date_epoch: opts.source_date_epoch, signatures: opts.source.signatures };
    let planned = plan_bundle(manifest, &plan, &r, None)?;
    let werr = |e: std::io::Error| CommandError::Io { what: opts.output.display().to_string(), source: e };
    if let Some(dir) = opts.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir).map_err(werr)?;
    }
    moa_model::files::write_atomic(&opts.output, planned.lock.to_text().as_bytes(), 0o644).map_err(werr)?;
    let report = LockReport { lock: opts.output.clone(), packages: plan_items(&r), notes: r.plan.notes.clone() };
    super::free_later(r);
    Ok(report)
}

/// The lock of the bundle `--since` names (or the lock itself), which must be for this
/// manifest's bundle, and the line naming it.
fn old_lock(path: &std::path::Path, manifest: &Manifest) -> Result<(Lock, Line), CommandError> {
    let mut head = [0u8; 2];
    let gzip = moa_model::files::open_regular(path)
        .and_then(|(mut f, _)| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && head == [0x1f, 0x8b];
    let lock = if path.is_dir() && crate::bundle::verify::is_unpacked_bundle(path) {
        Lock::load(&path.join(LOCK_FILE))?
    } else if path.is_dir() || gzip || crate::bundle::parts::is_part_or_index(path) {
        // Only the lock is read (not trusted: install checks the node has what it holds).
        Lock::from_bundle(&crate::bundle::parts::open(path)?.file)?
    } else {
        Lock::load(path)?
    };
    lock.check_fits(path, &manifest.name, &manifest.distro, &manifest.arch)?;
    let digest = Sha256::digest(lock.to_text().as_bytes()).to_hex();
    let base = format!("{}-{}-{} (moa.lock sha256 {})", lock.name, lock.distro, lock.arch, &digest[..16]);
    Ok((lock, plan::line(&base, "the base bundle")?))
}

/// A binary to carry: its path and what bundle.json says of it.
type Carried = (Vec<u8>, crate::bundle::BundledBinary);

/// The binary the bundle carries, or a note on why the default carries none.
fn choose_installer(
    manifest: &Manifest,
    backend: &Backend,
    choice: &InstallerChoice,
) -> Result<(Option<Carried>, Option<String>), CommandError> {
    let running = || {
        std::env::current_exe().map_err(|e| crate::bundle::pack::PackError::Installer {
            path: "the running moa-bundle".into(),
            message: e.to_string(),
        })
    };
    let path = match choice {
        InstallerChoice::None => return Ok((None, None)),
        InstallerChoice::Path(p) => p.clone(),
        InstallerChoice::Running => running()?,
        InstallerChoice::Default if cfg!(debug_assertions) => {
            let note = "this moa-bundle is a debug build, so the bundle carries no moa-bundle for the node (install.sh falls back to rpm/dpkg): pass --installer with the release binary (scripts/release.sh)";
            return Ok((None, Some(note.into())));
        }
        InstallerChoice::Default => {
            let exe = running()?;
            match bundled_binary(manifest, backend, &exe) {
                Ok(b) => return Ok((Some(b), None)),
                Err(e) => return Ok((None, Some(format!("the bundle carries no moa-bundle for the node: {e}")))),
            }
        }
    };
    Ok((Some(bundled_binary(manifest, backend, &path)?), None))
}

/// What bundle.json says of the binary at `path`, which must be an executable for the
/// bundle's architecture.
fn bundled_binary(manifest: &Manifest, backend: &Backend, path: &std::path::Path) -> Result<Carried, CommandError> {
    let fail = |message: String| {
        CommandError::from(crate::bundle::pack::PackError::Installer { path: path.to_path_buf(), message })
    };
    let machine = crate::bundle::verify::elf_arch(path).ok_or_else(|| fail("is not an ELF executable".into()))?;
    let arch = backend.arch.name_of_machine(machine);
    if arch != manifest.arch.as_str() {
        return Err(fail(format!(
            "is a {arch} executable, the bundle is for {}: build moa-bundle for it (scripts/release.sh) and pass --installer, or --no-installer",
            manifest.arch
        )));
    }
    // One read: the binary is gzipped as it is read (best compression, no name or time in the
    // header: the same binary gives the same bytes).
    let (file, _) = moa_model::files::open_regular(path).map_err(|e| fail(e.to_string()))?;
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    let read = std::io::copy(&mut std::io::Read::take(file, moa_model::limits::BINARY_BYTES + 1), &mut gz)
        .map_err(|e| fail(e.to_string()))?;
    moa_model::limits::check("its size", read, moa_model::limits::BINARY_BYTES).map_err(fail)?;
    let bytes = gz.finish().map_err(|e| fail(e.to_string()))?;
    let same = std::env::current_exe().ok().and_then(|e| e.canonicalize().ok()) == path.canonicalize().ok();
    let version = match same {
        true => crate::VERSION_LINE.to_string(),
        false => format!("moa-bundle (from {})", path.display()),
    };
    let b = crate::bundle::BundledBinary {
        size: bytes.len() as u64,
        sha256: moa_model::types::Sha256::digest(&bytes),
        gzip: true,
        version: plan::line(&version, "the binary's version")?,
    };
    Ok((bytes, b))
}

/// The files that make the bundle a repository of its family's format (`repodata/`).
fn local_repository(
    backend: &Backend,
    metadata: &crate::repo::Metadata,
    index: &BundleIndex,
    records: &[&PackageRecord],
) -> Result<Vec<(String, Vec<u8>)>, CommandError> {
    let packages: Vec<crate::repo::LocalPackage<'_>> = records
        .iter()
        .zip(&index.packages)
        .map(|(record, p)| crate::repo::LocalPackage {
            record,
            entry: metadata.entry(record),
            href: format!("{PACKAGES_DIR}/{}", p.file),
        })
        .collect();
    Ok(backend.metadata.local_repository(&packages, index.source_date_epoch, &index.stem())?)
}

/// The check every fetched package passes before it is packed: its own signature (rpm headers)
/// by a key its repository pins, unless signatures are skipped.
fn package_signatures(
    manifest: &Manifest,
    backend: &Backend,
    opts: &BuildOptions,
) -> Result<impl Fn(&PackageRecord, &std::path::Path) -> Result<(), String> + Sync, CommandError> {
    let verify = opts.source.signatures == crate::repo::Signatures::Verify;
    let rings = manifest
        .repositories
        .iter()
        .map(|r| match verify {
            true => crate::trust::Keyring::load(&r.keys)
                .map(Some)
                .map_err(|error| crate::repo::RepoError::Keys { repo: r.name.to_string(), error }),
            false => Ok(None),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let files = backend.package_file;
    Ok(move |p: &PackageRecord, path: &std::path::Path| match &rings[p.repo] {
        Some(ring) => files.check_signature(path, ring).map(|_| ()).map_err(|e| e.to_string()),
        None => Ok(()),
    })
}
