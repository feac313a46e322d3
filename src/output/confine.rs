//! One rule for every path the engine opens, lists or deletes.
//!
//! Paths come from places that are not trusted to point only where they
//! should: catalogue rows (a recording's path, an export's `video_path`
//! and `thumb_path`, an export id that becomes a file name), the listing of
//! a folder someone else can write to (the exports folder, the cached
//! preview frames), a request (a thumbnail image). The rule:
//!
//! * A path is used only if its real path (every symlink resolved) lies
//!   under one of the folders it may come from ([`Roots`]); otherwise it is
//!   refused, and the refusal names where it leads. A symlink inside a root
//!   that points inside the same roots is fine.
//! * Media and images are opened only when they are regular files, checked
//!   without blocking ([`open_regular`]): a FIFO in place of a segment would
//!   block `open(2)` until a writer appears, for ever.
//! * A name read from the catalogue is validated by the same rules as the
//!   command line's before a path is built from it (`output::validate_component`).
//! * Files the engine creates (lock files, staged outputs, thumbnails) are
//!   created exclusively (`O_EXCL`: an existing name, a symlink included,
//!   is never followed or truncated) and lock files are opened with
//!   `O_NOFOLLOW` (see `export::owner`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// [`Roots::check_all`]'s answer for one path.
pub struct Checked {
    /// What [`Roots::check`] answers.
    pub verdict: Result<Option<PathBuf>, String>,
    /// The path's metadata when it is not a symlink.
    pub meta: Option<std::fs::Metadata>,
}

/// Folders a path may lie in, by their real paths.
#[derive(Debug, Default)]
pub struct Roots {
    /// What the roots are, for refusals ("the media folder").
    what: &'static str,
    real: Vec<PathBuf>,
    /// Real paths of the folders seen so far: an hour of recordings is 360
    /// files in one or two folders, and resolving every component of every
    /// file took 3 ms of an hour's export.
    folders: std::collections::HashMap<PathBuf, Option<PathBuf>>,
}

impl Roots {
    /// The folders `roots`, called `what` in refusals (a root that does
    /// not exist holds nothing).
    pub fn new<'a>(what: &'static str, roots: impl IntoIterator<Item = &'a Path>) -> Roots {
        Roots {
            what,
            real: roots
                .into_iter()
                .filter_map(|r| std::fs::canonicalize(r).ok())
                .collect(),
            folders: Default::default(),
        }
    }

    /// `Ok(Some(real path))` when `path` lies under a root, `Ok(None)` when
    /// it does not exist (for the caller to report as missing), `Err` with
    /// the reason otherwise.
    pub fn check(&mut self, path: &Path) -> Result<Option<PathBuf>, String> {
        self.resolve_folder(path);
        self.check_resolved(path).verdict
    }

    /// Resolves `path`'s folder into `folders`, once per folder.
    fn resolve_folder(&mut self, path: &Path) {
        if let Some(parent) = path.parent() {
            if !self.folders.contains_key(parent) {
                let real = std::fs::canonicalize(parent).ok();
                self.folders.insert(parent.to_path_buf(), real);
            }
        }
    }

    /// [`Roots::check`] of every path, in order, the files' own `lstat`s
    /// side by side (rayon): their folders are resolved first, once each
    /// (an hour is 360 files in a folder or two), so the files need only
    /// their own metadata, which comes back with each answer where the
    /// path is not a symlink (its `lstat` is then its `stat`). Serially an
    /// hour's check took ~1 ms.
    pub fn check_all(&mut self, paths: &[PathBuf]) -> Vec<Checked> {
        use rayon::prelude::*;
        for path in paths {
            self.resolve_folder(path);
        }
        let this = &*self;
        paths
            .par_iter()
            .with_min_len(32)
            .map(|path| this.check_resolved(path))
            .collect()
    }

    /// [`Roots::check`] once `path`'s folder is in `folders`.
    fn check_resolved(&self, path: &Path) -> Checked {
        let (real, meta) = self.real_path_resolved(path);
        let verdict = match real {
            None => Self::missing_or_dangling(path),
            Some(real) => self.inside(real),
        };
        Checked { verdict, meta }
    }

    fn missing_or_dangling(path: &Path) -> Result<Option<PathBuf>, String> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => Err(format!(
                "a symlink that leads nowhere ({})",
                std::fs::read_link(path)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default()
            )),
            _ => Ok(None),
        }
    }

    fn inside(&self, real: PathBuf) -> Result<Option<PathBuf>, String> {
        if self.real.iter().any(|root| real.starts_with(root)) {
            Ok(Some(real))
        } else {
            Err(format!("outside {} ({})", self.what, real.display()))
        }
    }

    /// What `std::fs::canonicalize(path)` gives (`None` where it fails),
    /// from the folder already resolved where it is (else as
    /// `canonicalize` gives it), and the path's own metadata when it is
    /// not a symlink.
    fn real_path_resolved(&self, path: &Path) -> (Option<PathBuf>, Option<std::fs::Metadata>) {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return (std::fs::canonicalize(path).ok(), None);
        };
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return (None, None);
        };
        if meta.file_type().is_symlink() || name == ".." || name == "." {
            return (std::fs::canonicalize(path).ok(), None);
        }
        let real = match self.folders.get(parent) {
            Some(real_parent) => real_parent.as_ref().map(|p| p.join(name)),
            None => std::fs::canonicalize(path).ok(),
        };
        (real, Some(meta))
    }
}

/// Opens `path` for reading if it is a regular file, without ever blocking:
/// opened non-blocking (a FIFO returns at once), checked on the open file,
/// then switched back to blocking reads. Anything else is an error of kind
/// `InvalidInput` saying what it is.
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_regular_meta(path).map(|(file, _)| file)
}

/// [`open_regular`], with the open file's metadata (its size, identity
/// and modification time: what was opened, not what the path names now).
pub fn open_regular_meta(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(not_regular(&kind));
    }
    // `O_NONBLOCK` stays: a regular file ignores it (open(2)), and clearing
    // it cost two `fcntl`s an open (720 for an hour's headers).
    Ok((file, meta))
}

/// Whether `path` is a regular file (symlinks followed), asked without
/// opening it: for files handed to libav by name.
pub fn require_regular(path: &Path) -> io::Result<()> {
    let kind = std::fs::metadata(path)?.file_type();
    if kind.is_file() {
        Ok(())
    } else {
        Err(not_regular(&kind))
    }
}

fn not_regular(kind: &std::fs::FileType) -> io::Error {
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file: not opened"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_open_and_a_fifo_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        super::super::sys::mkfifo(&fifo).unwrap();
        let e = open_regular(&fifo).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        assert!(require_regular(&fifo).is_err());
        assert!(open_regular(dir.path()).is_err());
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let mut f = open_regular(&file).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).unwrap();
        assert_eq!(s, "x");
    }

    #[test]
    fn paths_out_of_the_roots_and_dangling_links_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let out = dir.path().join("out");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(root.join("in"), b"").unwrap();
        std::fs::write(out.join("secret"), b"").unwrap();
        std::os::unix::fs::symlink(out.join("secret"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(root.join("in"), root.join("inner")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), root.join("dangling")).unwrap();
        let mut roots = Roots::new("the root", [root.as_path()]);
        assert!(roots.check(&root.join("in")).unwrap().is_some());
        assert!(roots.check(&root.join("inner")).unwrap().is_some());
        assert_eq!(roots.check(&root.join("missing")), Ok(None));
        let e = roots.check(&root.join("link")).unwrap_err();
        assert!(e.contains("outside") && e.contains("secret"), "{e}");
        let e = roots.check(&root.join("dangling")).unwrap_err();
        assert!(e.contains("leads nowhere"), "{e}");
        assert!(roots.check(&root.join("../out/secret")).is_err());
    }
}
