//! Nested boxes whose sizes are patched when they close, with holes of
//! known length for the per-sample tables that are streamed in later.

/// A per-sample table whose entries are streamed into a hole of the `moov`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Stts,
    Ctts,
    Stss,
    Stsz,
    Stco,
    Co64,
}

/// A piece of a `moov` being written: bytes, or a table of the track with
/// this index (in [`Movie::tracks`]) to stream in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Bytes(Vec<u8>),
    Table {
        track: usize,
        table: Table,
        len: u64,
    },
}

/// A byte buffer of nested boxes whose sizes are patched on close; it may
/// hold holes of known length ([`BoxBuf::hole`]) filled later.
#[derive(Default)]
pub struct BoxBuf {
    buf: Vec<u8>,
    parts: Vec<Part>,
    done_len: u64,
    /// Open boxes: (part index their header is in, offset there, logical start).
    open: Vec<(usize, usize, u64)>,
}

impl BoxBuf {
    pub(super) fn len(&self) -> u64 {
        self.done_len + self.buf.len() as u64
    }
    pub fn open(&mut self, kind: &[u8; 4]) -> &mut Self {
        self.open
            .push((self.parts.len(), self.buf.len(), self.len()));
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(kind);
        self
    }
    pub fn open_full(&mut self, kind: &[u8; 4], version: u8, flags: u32) -> &mut Self {
        self.open(kind);
        self.u32(((version as u32) << 24) | (flags & 0x00ff_ffff))
    }
    pub fn close(&mut self) -> &mut Self {
        if let Some((part, at, start)) = self.open.pop() {
            let size = ((self.len() - start).min(u32::MAX as u64) as u32).to_be_bytes();
            let target = if part == self.parts.len() {
                Some(&mut self.buf)
            } else {
                match self.parts.get_mut(part) {
                    Some(Part::Bytes(b)) => Some(b),
                    _ => None,
                }
            };
            if let Some(b) = target {
                b[at..at + 4].copy_from_slice(&size);
            }
        }
        self
    }
    /// Leaves `len` bytes for `table` of track `track`.
    pub fn hole(&mut self, track: usize, table: Table, len: u64) -> &mut Self {
        let bytes = std::mem::take(&mut self.buf);
        self.done_len += bytes.len() as u64 + len;
        self.parts.push(Part::Bytes(bytes));
        self.parts.push(Part::Table { track, table, len });
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.buf.resize(self.buf.len() + n, 0);
        self
    }
    /// The bytes, when there is no hole.
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }
    pub(super) fn into_parts(mut self) -> Moov {
        let len = self.len();
        let last = std::mem::take(&mut self.buf);
        self.parts.push(Part::Bytes(last));
        Moov {
            parts: self.parts,
            len,
        }
    }
}

/// A `moov` ready to be written by [`write_moov`].
#[derive(Debug, Clone, PartialEq, Eq)]

pub struct Moov {
    pub parts: Vec<Part>,
    /// Its length in bytes.
    pub len: u64,
}
