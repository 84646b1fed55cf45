//! The byte buffer a [`File`](super::File) moves between itself and the
//! blocking pool: filled by a blocking read, or holding the bytes of one write.

use std::io::{self, Read, Write};

/// Default and largest number of bytes one blocking read or write moves.
pub(crate) const DEFAULT_MAX_BUF: usize = 64 * 1024;

/// Bytes `data[pos..]` are pending: unread data from the file, or data a
/// blocking job is about to write.
#[derive(Debug, Default)]
pub(crate) struct Buf {
    data: Vec<u8>,
    pos: usize,
}

impl Buf {
    /// Number of pending bytes.
    pub(crate) fn len(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the pending bytes, keeping the allocation.
    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.pos = 0;
    }

    /// Moves as many pending bytes as fit into `dst`; returns how many.
    pub(crate) fn copy_to(&mut self, dst: &mut [u8]) -> usize {
        let n = self.len().min(dst.len());
        dst[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.data.len() {
            self.clear();
        }
        n
    }

    /// Replaces the contents with at most `max` bytes of `src`; returns how many.
    pub(crate) fn copy_from(&mut self, src: &[u8], max: usize) -> usize {
        let n = src.len().min(max);
        self.clear();
        self.data.extend_from_slice(&src[..n]);
        n
    }

    /// One `read` of at most `len` bytes from `rd` into the buffer (retried on
    /// `Interrupted`); the buffer then holds exactly the bytes read.
    pub(crate) fn read_from<R: Read>(&mut self, rd: &mut R, len: usize) -> io::Result<usize> {
        self.clear();
        self.data.resize(len, 0);
        loop {
            match rd.read(&mut self.data) {
                Ok(n) => {
                    self.data.truncate(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.clear();
                    return Err(e);
                }
            }
        }
    }

    /// Writes every pending byte to `wr`, then empties the buffer (also on error).
    pub(crate) fn write_to<W: Write>(&mut self, wr: &mut W) -> io::Result<()> {
        let res = wr.write_all(&self.data[self.pos..]);
        self.clear();
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_in_and_out() {
        let mut buf = Buf::default();
        assert_eq!(buf.copy_from(b"abcdef", 4), 4);
        let mut out = [0u8; 3];
        assert_eq!(buf.copy_to(&mut out), 3);
        assert_eq!(&out, b"abc");
        assert_eq!(buf.len(), 1);
        assert_eq!(buf.copy_to(&mut out), 1);
        assert_eq!(out[0], b'd');
        assert!(buf.is_empty());

        let mut src: &[u8] = b"0123456789";
        assert_eq!(buf.read_from(&mut src, 4).unwrap(), 4);
        assert_eq!(buf.len(), 4);
        let mut sink = Vec::new();
        buf.write_to(&mut sink).unwrap();
        assert_eq!(sink, b"0123");
        assert!(buf.is_empty());
    }
}
