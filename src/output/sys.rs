//! The libc calls the output needs (free space, advisory lock, in-kernel
//! copy, rename without replacing), in one small unsafe module.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Bytes available to an unprivileged writer on the filesystem holding `dir`.
pub fn available_bytes(dir: &Path) -> io::Result<u64> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: `st` is a plain C struct fully written by statvfs on success;
    // `c` is a valid NUL-terminated path for the duration of the call.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
}

/// Takes an exclusive advisory lock on `file` without blocking. The lock is
/// released when the file is closed or the process dies, which is what lets
/// crash recovery tell a live export from an abandoned one.
pub fn lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: flock on a valid, owned descriptor.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Switches `file` back to blocking I/O (it was opened `O_NONBLOCK` so
/// that a FIFO could not block the open).
pub fn set_blocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl F_GETFL/F_SETFL on a valid, owned descriptor.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes a FIFO at `path` (tests plant them where files are expected).
pub fn mkfifo(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Copies up to `len` bytes from `src` at `*src_offset` to `dst` at
/// `*dst_offset` in the kernel (`copy_file_range(2)`), advancing both
/// offsets and returning the bytes copied (0 at the end of `src`). Explicit
/// offsets leave `dst`'s file position alone: another thread may write
/// elsewhere in `dst` meanwhile. `Err` with `EXDEV`, `ENOSYS`, `EINVAL` or
/// `EOPNOTSUPP` means "not supported here": use read/write.
pub fn copy_file_range(
    src: &File,
    src_offset: &mut i64,
    dst: &File,
    dst_offset: &mut i64,
    len: usize,
) -> io::Result<usize> {
    let mut off: libc::loff_t = *src_offset;
    let mut out: libc::loff_t = *dst_offset;
    // SAFETY: both descriptors are valid and owned for the call; `off` and
    // `out` are valid pointers to offsets the kernel reads and advances.
    let r = unsafe {
        libc::copy_file_range(src.as_raw_fd(), &mut off, dst.as_raw_fd(), &mut out, len, 0)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    *src_offset = off;
    *dst_offset = out;
    Ok(r as usize)
}

/// Shares `len` bytes of `src` at `src_offset` into `dst` at `dst_offset`
/// (`ioctl(FICLONERANGE)`): offsets and `len` must be multiples of the
/// filesystem's block size. Unlike `copy_file_range` it never falls back
/// to copying: `Err` (`EOPNOTSUPP`, `EINVAL`, `EXDEV`) says the filesystem
/// cannot share these blocks (XFS made with `reflink=0`, ZFS without block
/// cloning enabled, two filesystems).
pub fn clone_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: u64,
) -> io::Result<()> {
    let range = libc::file_clone_range {
        src_fd: src.as_raw_fd() as i64,
        src_offset,
        src_length: len,
        dest_offset: dst_offset,
    };
    // SAFETY: both descriptors are valid for the call; `range` is a fully
    // initialised `struct file_clone_range` the kernel only reads.
    let r = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONERANGE, &range) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Renames `from` to `to` unless `to` exists (`renameat2(RENAME_NOREPLACE)`;
/// where the filesystem does not support it, `link` + `unlink`, which fails
/// the same way on an existing name). `Err` with `EEXIST` when it exists.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
    };
    let (cf, ct) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths for the duration of the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cf.as_ptr(),
            libc::AT_FDCWD,
            ct.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
        return Err(e);
    }
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

/// Opens the entry `name` of the open folder `dir` (`openat`) read-write,
/// never through a symlink (`O_NOFOLLOW`) and never blocking on a FIFO;
/// with `create`, creates it exclusively (`O_EXCL`: an existing name, a
/// dangling symlink included, is an error, never followed).
pub fn open_in(dir: &File, name: &Path, create: bool) -> io::Result<File> {
    use std::os::unix::io::FromRawFd;
    let c = CString::new(name.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut flags = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    if create {
        flags |= libc::O_CREAT | libc::O_EXCL;
    }
    // SAFETY: a valid open directory descriptor and a NUL-terminated name;
    // on success the new descriptor is owned by the returned File.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    set_blocking(&file)?;
    Ok(file)
}

/// Removes the entry `name` of the open folder `dir` (`unlinkat`), wherever
/// that folder is now.
pub fn unlink_in(dir: &File, name: &Path) -> io::Result<()> {
    let c = CString::new(name.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: a valid open directory descriptor and a NUL-terminated name.
    let r = unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks the kernel to start reading `len` bytes of `file` from `offset`
/// into the page cache, without waiting (`posix_fadvise(WILLNEED)`).
/// Advisory: a failure only means no read ahead.
pub fn will_need(file: &File, offset: u64, len: u64) -> io::Result<()> {
    // SAFETY: fadvise on a valid, owned descriptor; it reads no memory of ours.
    let r = unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            offset as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_WILLNEED,
        )
    };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// Whether the byte of `file` at `offset` is in the page cache: a one-byte
/// read that may not wait for the disk (`preadv2(RWF_NOWAIT)`). `false`
/// when it is not, or when the kernel cannot say (before Linux 4.14, or a
/// filesystem without it).
pub fn in_page_cache(file: &File, offset: u64) -> bool {
    let mut byte = [0u8; 1];
    let iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: one iovec over a live one-byte buffer of ours, on a valid,
    // owned descriptor; the kernel writes at most that byte.
    let r = unsafe {
        libc::preadv2(
            file.as_raw_fd(),
            &iov,
            1,
            offset as libc::off_t,
            libc::RWF_NOWAIT,
        )
    };
    r == 1
}

/// Starts writeback of `len` bytes of `file` from `offset` without waiting
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`): a writer that streams a
/// large file calls it as it goes, so the final `fsync` has little left.
/// Advisory: errors are ignored by callers (the fsync reports them).
pub fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    // SAFETY: a valid owned descriptor; plain integers.
    let r = unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The block size to align copies to when the filesystem holding `dir`
/// may share extents between files (XFS with reflink, btrfs, bcachefs, and
/// ZFS, which clones whole records with block cloning, OpenZFS 2.2+ with
/// `zfs_bclone_enabled`; its `f_bsize` is the dataset's record size):
/// `copy_file_range` then shares block-aligned ranges instead of copying
/// them (or copies them, where sharing is off: no worse than unaligned).
/// `None` elsewhere (ext4, tmpfs, network mounts). Whether aligning pays
/// for an export is `remux::fast::sharing_pays`.
pub fn extent_sharing_block(dir: &Path) -> Option<u64> {
    const XFS: i64 = 0x5846_5342;
    const BTRFS: i64 = 0x9123_683e;
    const BCACHEFS: i64 = 0xca45_1a4e;
    const ZFS: i64 = 0x2fc1_2fc1;
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `st` is a plain C struct fully written by statfs on success;
    // `c` is a valid NUL-terminated path for the call.
    let st = unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        st
    };
    let kind = st.f_type as i64;
    ([XFS, BTRFS, BCACHEFS, ZFS].contains(&kind) && st.f_bsize > 0).then_some(st.f_bsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_just_written_is_in_the_page_cache_and_one_past_the_end_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 8192]).unwrap();
        let f = File::open(&path).unwrap();
        assert!(in_page_cache(&f, 0));
        assert!(in_page_cache(&f, 8191));
        assert!(!in_page_cache(&f, 8192), "past the end: nothing read");
    }
}
