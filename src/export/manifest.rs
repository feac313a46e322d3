//! Exports that prove themselves: a manifest of what an export is and what
//! it was made from, an optional Ed25519 signature over it, and the check
//! that recomputes both.
//!
//! `<export>.manifest.json` beside the file holds the export's SHA-256 and
//! size; for every source segment its catalogue row (id, start, end), path,
//! size, modification time and SHA-256; the request; the engine's and
//! libav's versions; and when it was made. `--sign KEYFILE` writes a
//! detached signature over the manifest's bytes to
//! `<export>.manifest.json.sig` (hex; the key files are hex too: a 32-byte
//! Ed25519 seed, mode 0600, and its 32-byte public key).
//!
//! The hashes are read back, not taken from the writers' streams: the
//! index-driven writer never sees the bytes (the kernel copies them, or the
//! filesystem shares them), and libav's muxer rewrites its file to put the
//! `moov` first. The export's bytes are read from the staged file right
//! after it was written (from the page cache) while the sources are hashed
//! on the other cores; the README has what that costs.
//!
//! The manifest is written (under a temporary name, then renamed) before
//! the export itself is committed, and removed if that commit fails: a
//! manifest never describes a file that is not there.

use std::io::Read;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::error::{Error, Result};
use crate::output::hex;
use crate::output::StagedFile;

use super::request::ExportRequest;

/// What a manifest says it is.
pub const FORMAT: &str = "nvr-export manifest 1";

/// The manifest of an export (see the module doc).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub export: FileDigest,
    pub sources: Vec<SourceDigest>,
    /// The request as the engine took it (its JSON form).
    pub request: serde_json::Value,
    /// Which writer wrote the file (`fast`, `libav`, `hls`, `transcode`).
    pub writer: String,
    pub engine: String,
    pub libav: String,
    /// When the manifest was made (UTC, RFC 3339).
    pub made_at: String,
}

/// A file's name (the export's: its name only, it may be moved), size and SHA-256.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FileDigest {
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

/// One source segment: its catalogue row and its file as read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceDigest {
    pub id: String,
    pub start_s: f64,
    pub end_s: f64,
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub modified_ns: i128,
    pub sha256: String,
}

/// A source segment to describe (the writers' inputs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Source {
    pub id: String,
    pub start_s: f64,
    pub end_s: f64,
    pub path: PathBuf,
}

/// `<export>.manifest.json`.
pub fn manifest_path(export: &Path) -> PathBuf {
    let mut p = export.as_os_str().to_owned();
    p.push(".manifest.json");
    PathBuf::from(p)
}

/// `<export>.manifest.json.sig`.
pub fn signature_path(export: &Path) -> PathBuf {
    let mut p = manifest_path(export).into_os_string();
    p.push(".sig");
    PathBuf::from(p)
}

fn manifest_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Manifest {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect()
}

/// SHA-256 (hex) and size of the file at `path`.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let f = crate::output::confine::open_regular(path)?;
    let size = f.metadata()?.len();
    Ok((size, crate::output::sha256(&f, 0, size)?))
}

fn modified_ns(meta: &std::fs::Metadata) -> i128 {
    use std::os::unix::fs::MetadataExt;
    meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128
}

/// The manifest of the staged export `staged` (to be named `file`), made
/// from `sources`: the export hashed on this thread, the sources on the
/// others.
pub(crate) fn make(
    staged: &Path,
    file: &str,
    sources: &[Source],
    req: &ExportRequest,
    writer: &str,
) -> Result<Manifest> {
    use rayon::prelude::*;
    let (export, digests) = rayon::join(
        || hash_file(staged).map_err(|e| Error::io(staged, e)),
        || {
            sources
                .par_iter()
                .map(|s| {
                    let meta = std::fs::metadata(&s.path).map_err(|e| Error::io(&s.path, e))?;
                    let (size, sha256) = hash_file(&s.path).map_err(|e| Error::io(&s.path, e))?;
                    Ok(SourceDigest {
                        id: s.id.clone(),
                        start_s: s.start_s,
                        end_s: s.end_s,
                        path: s.path.clone(),
                        size,
                        modified_ns: modified_ns(&meta),
                        sha256,
                    })
                })
                .collect::<Result<Vec<_>>>()
        },
    );
    let (size, sha256) = export?;
    Ok(Manifest {
        format: FORMAT.into(),
        export: FileDigest {
            file: file.into(),
            size,
            sha256,
        },
        sources: digests?,
        request: serde_json::to_value(req).unwrap_or(serde_json::Value::Null),
        writer: writer.into(),
        engine: format!("nvr-export {}", env!("CARGO_PKG_VERSION")),
        libav: crate::hw::LIBAV_VERSION.to_string(),
        made_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// The manifest (and its signature, with `key`) written for `export` under
/// temporary names, to be committed with it.
pub(crate) struct StagedManifest {
    files: Vec<StagedFile>,
}

impl StagedManifest {
    pub(crate) fn write(
        manifest: &Manifest,
        export: &Path,
        owner: &str,
        key: Option<&Path>,
    ) -> Result<StagedManifest> {
        let bytes = serde_json::to_vec_pretty(manifest)
            .map_err(|e| manifest_error(export, format!("cannot write the manifest: {e}")))?;
        let mut files = vec![staged_with(&manifest_path(export), owner, &bytes)?];
        if let Some(key) = key {
            let signature = read_signing_key(key)?.sign(&bytes);
            let text = format!("{}\n", hex(&signature.to_bytes()));
            files.push(staged_with(
                &signature_path(export),
                owner,
                text.as_bytes(),
            )?);
        }
        Ok(StagedManifest { files })
    }

    /// Renames the files to their names; returns them.
    pub(crate) fn commit(self) -> Result<Vec<PathBuf>> {
        self.files.into_iter().map(StagedFile::commit).collect()
    }
}

fn staged_with(target: &Path, owner: &str, bytes: &[u8]) -> Result<StagedFile> {
    let staged = StagedFile::create(target, owner)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(staged.temp_path())
        .map_err(|e| Error::io(staged.temp_path(), e))?;
    std::io::Write::write_all(&mut f, bytes).map_err(|e| Error::io(staged.temp_path(), e))?;
    Ok(staged)
}

/// Writes a new Ed25519 key pair into `dir`: `export-signing.key` (the
/// secret seed, hex, mode 0600) and `export-signing.pub` (hex). Refuses to
/// replace either.
pub fn keygen(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut r| r.read_exact(&mut seed))
        .map_err(|e| Error::io("/dev/urandom", e))?;
    let key = SigningKey::from_bytes(&seed);
    let (secret, public) = (
        dir.join("export-signing.key"),
        dir.join("export-signing.pub"),
    );
    for p in [&secret, &public] {
        if p.exists() {
            return Err(manifest_error(
                p,
                "already exists; refusing to replace a key",
            ));
        }
    }
    let write = |path: &Path, text: String, mode: u32| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| Error::io(path, e))?;
        f.sync_all().map_err(|e| Error::io(path, e))
    };
    write(&secret, format!("{}\n", hex(&seed)), 0o600)?;
    write(
        &public,
        format!("{}\n", hex(key.verifying_key().as_bytes())),
        0o644,
    )?;
    Ok((secret, public))
}

fn read_key_bytes(path: &Path) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    unhex(&text)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            manifest_error(
                path,
                "not a key: expected 64 hex digits (see `nvr-export keygen`)",
            )
        })
}

/// Whether `path` holds a signing key [`keygen`] wrote.
pub(crate) fn check_signing_key(path: &Path) -> Result<()> {
    read_signing_key(path).map(|_| ())
}

fn read_signing_key(path: &Path) -> Result<SigningKey> {
    Ok(SigningKey::from_bytes(&read_key_bytes(path)?))
}

fn read_verifying_key(path: &Path) -> Result<VerifyingKey> {
    VerifyingKey::from_bytes(&read_key_bytes(path)?)
        .map_err(|e| manifest_error(path, format!("not an Ed25519 public key: {e}")))
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verification {
    pub export: PathBuf,
    pub manifest: PathBuf,
    /// The manifest could be read (`false`: altered past reading, or gone).
    pub manifest_readable: bool,
    /// The export's bytes are the ones the manifest names.
    pub export_matches: bool,
    /// `None` without a key; else whether the signature holds.
    pub signature: Option<bool>,
    pub sources: Vec<SourceCheck>,
    /// Why something does not hold, one line each.
    pub problems: Vec<String>,
}

/// One source segment, checked again.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceCheck {
    pub id: String,
    pub path: PathBuf,
    /// `same`, `changed` or `gone`.
    pub state: &'static str,
}

impl Verification {
    /// 0: the export (and the signature, when a key was given) hold and so
    /// do the sources; 1: the export or its manifest was altered, or the
    /// signature fails; 3: the export holds but sources changed or are gone.
    pub fn exit_code(&self) -> u8 {
        if !self.manifest_readable || !self.export_matches || self.signature == Some(false) {
            1
        } else if self.sources.iter().any(|s| s.state != "same") {
            3
        } else {
            0
        }
    }
}

/// Checks `export` against its manifest (and the manifest's signature
/// against `key`, when given): the export's bytes hashed again, and every
/// source segment that still exists hashed again.
pub fn verify(export: &Path, key: Option<&Path>) -> Result<Verification> {
    let manifest_file = manifest_path(export);
    let mut v = Verification {
        export: export.to_path_buf(),
        manifest: manifest_file.clone(),
        manifest_readable: false,
        export_matches: false,
        signature: None,
        sources: Vec::new(),
        problems: Vec::new(),
    };
    let bytes = match std::fs::read(&manifest_file) {
        Ok(b) => b,
        Err(e) => {
            v.problems.push(format!("no manifest: {e}"));
            return Ok(v);
        }
    };
    if let Some(key) = key {
        let public = read_verifying_key(key)?;
        let sig_file = signature_path(export);
        let holds = std::fs::read_to_string(&sig_file)
            .ok()
            .and_then(|t| unhex(&t))
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| public.verify(&bytes, &Signature::from_bytes(&b)).is_ok());
        match holds {
            Some(true) => v.signature = Some(true),
            Some(false) => {
                v.signature = Some(false);
                v.problems
                    .push("the signature does not hold for this manifest and key".into());
            }
            None => {
                v.signature = Some(false);
                v.problems
                    .push(format!("no readable signature at {}", sig_file.display()));
            }
        }
    }
    let manifest: Manifest = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            v.problems.push(format!("the manifest cannot be read: {e}"));
            return Ok(v);
        }
    };
    if manifest.format != FORMAT {
        v.problems.push(format!(
            "not a manifest this engine reads: {:?}",
            manifest.format
        ));
        return Ok(v);
    }
    v.manifest_readable = true;
    match hash_file(export) {
        Ok((size, sha)) if size == manifest.export.size && sha == manifest.export.sha256 => {
            v.export_matches = true
        }
        Ok((size, _)) => v.problems.push(format!(
            "the export's bytes differ from the manifest's ({size} bytes, {} in the manifest)",
            manifest.export.size
        )),
        Err(e) => v.problems.push(format!("the export cannot be read: {e}")),
    }
    for s in &manifest.sources {
        let state = match hash_file(&s.path) {
            Ok((size, sha)) if size == s.size && sha == s.sha256 => "same",
            Ok(_) => "changed",
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "gone",
            Err(_) => "changed",
        };
        if state != "same" {
            v.problems
                .push(format!("source {} ({}) {state}", s.id, s.path.display()));
        }
        v.sources.push(SourceCheck {
            id: s.id.clone(),
            path: s.path.clone(),
            state,
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        assert_eq!(
            unhex(&hex(&[0, 1, 0xab, 0xff])),
            Some(vec![0, 1, 0xab, 0xff])
        );
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(
            manifest_path(Path::new("/x/a.mp4")),
            Path::new("/x/a.mp4.manifest.json")
        );
        assert_eq!(
            signature_path(Path::new("/x/a.mp4")),
            Path::new("/x/a.mp4.manifest.json.sig")
        );
    }
}
