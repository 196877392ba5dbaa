//! DATA segment → column-major `f64` event matrix.
//!
//! Events are stored row by row; the matrix is column by column, so decoding
//! is a transpose. It runs over blocks of events small enough that the block's
//! bytes stay in the L2 cache while each column's slice is written: every byte
//! is then read from memory once and every `f64` written once, which keeps
//! the decode near memory speed. Blocks are independent, so rayon spreads
//! them over threads; each value's decoding does not depend on the split, so
//! the result is byte-identical whatever the thread count.
//!
//! A file is read block by block with positioned reads (`pread`) into a
//! per-thread buffer that is reused across blocks and files, rather than into
//! one buffer the size of DATA: the bytes cross memory once instead of twice
//! and no file-sized allocation is needed. (A memory map would save the copy
//! but kills the process if the file shrinks underneath it.)

use std::cell::RefCell;
use std::io;

use rayon::prelude::*;

use super::layout::{ByteOrder, Kind, Layout, ParamLayout};

/// Target bytes of DATA per block (one positioned read, one rayon task):
/// large enough that syscalls and task overhead vanish, small enough to
/// stay in L2 and to balance threads.
const BLOCK_BYTES: usize = 256 * 1024;

/// Bytes per tile within a block: the column passes over a tile hit L1.
const TILE_BYTES: usize = 16 * 1024;

/// Where DATA bytes come from: a file (positioned reads) or memory.
pub trait ByteSource: Sync {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// True for an empty source.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` with the bytes at `offset`, or fails (short file).
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// The bytes at `offset..offset+len` without copying, for in-memory sources.
    fn slice(&self, offset: u64, len: usize) -> Option<&[u8]>;
    /// True when `slice` works (no copy needed).
    fn in_memory(&self) -> bool;
}

impl ByteSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let src = ByteSource::slice(self, offset, buf.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn slice(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?;
        self.get(start..start.checked_add(len)?)
    }

    fn in_memory(&self) -> bool {
        true
    }
}

/// A file read with positioned reads (safe to share between threads).
pub struct FileSource {
    pub file: std::fs::File,
    pub len: u64,
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    #[cfg(unix)]
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }

    #[cfg(windows)]
    fn read_exact_at(&self, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            let n = self.file.seek_read(buf, offset)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file ended early",
                ));
            }
            buf = &mut buf[n..];
            offset += n as u64;
        }
        Ok(())
    }

    fn slice(&self, _offset: u64, _len: usize) -> Option<&[u8]> {
        None
    }

    fn in_memory(&self) -> bool {
        false
    }
}

thread_local! {
    /// Per-thread block buffer, reused across blocks and files.
    static BLOCK: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Decodes `n_events` events starting at absolute byte `start` of `src` into
/// `out` (column-major, `n_events × layout.params.len()`, already sized).
/// The caller has checked that the bytes lie inside the source.
pub fn decode_data(
    src: &(impl ByteSource + ?Sized),
    start: u64,
    layout: &Layout,
    n_events: usize,
    out: &mut [f64],
) -> io::Result<()> {
    let w = layout.event_width;
    let p = layout.params.len();
    if n_events == 0 || p == 0 || w == 0 || out.len() != n_events * p {
        return Ok(());
    }
    let block_events = (BLOCK_BYTES / w).max(1);
    let n_blocks = n_events.div_ceil(block_events);
    // Hand each block its slice of every column (disjoint borrows, no unsafe).
    let mut blocks: Vec<Vec<&mut [f64]>> = (0..n_blocks).map(|_| Vec::with_capacity(p)).collect();
    for col in out.chunks_mut(n_events) {
        for (piece, cols) in col.chunks_mut(block_events).zip(blocks.iter_mut()) {
            cols.push(piece);
        }
    }
    let run = |(b, mut cols): (usize, Vec<&mut [f64]>)| -> io::Result<()> {
        let m = cols.first().map_or(0, |c| c.len());
        let offset = start + (b * block_events * w) as u64;
        let len = m * w;
        if src.in_memory() {
            let bytes = src
                .slice(offset, len)
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "DATA ends early"))?;
            decode_block(bytes, layout, &mut cols);
            Ok(())
        } else {
            BLOCK.with(|cell| {
                let mut buf = cell.borrow_mut();
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                let bytes = &mut buf[..len];
                src.read_exact_at(offset, bytes)?;
                decode_block(bytes, layout, &mut cols);
                Ok(())
            })
        }
    };
    if n_blocks == 1 {
        blocks.into_iter().enumerate().try_for_each(run)
    } else {
        blocks.into_par_iter().enumerate().try_for_each(run)
    }
}

/// Decodes one block of whole events into each column's slice, a tile at a
/// time: one pass per column reads a whole cache line per event, so the
/// tile's bytes must stay in L1 across the passes (a block-sized pass over L2
/// costs several times more).
fn decode_block(bytes: &[u8], layout: &Layout, cols: &mut [&mut [f64]]) {
    let w = layout.event_width;
    let tile = (TILE_BYTES / w).max(1);
    for (t, tile_bytes) in bytes.chunks(tile * w).enumerate() {
        let first = t * tile;
        let m = tile_bytes.len() / w;
        for (p, col) in layout.params.iter().zip(cols.iter_mut()) {
            if let Some(out) = col.get_mut(first..first + m) {
                decode_param(tile_bytes, w, p, &layout.order, out);
            }
        }
    }
}

/// Applies `f` to the `N` bytes of one parameter in every event.
#[inline(always)]
fn column<const N: usize>(
    bytes: &[u8],
    w: usize,
    off: usize,
    out: &mut [f64],
    f: impl Fn([u8; N]) -> f64,
) {
    for (ev, o) in bytes.chunks_exact(w).zip(out.iter_mut()) {
        if let Some(b) = ev
            .get(off..off + N)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
        {
            *o = f(b);
        }
    }
}

fn decode_param(bytes: &[u8], w: usize, p: &ParamLayout, order: &ByteOrder, out: &mut [f64]) {
    let off = p.offset;
    let m = p.mask;
    // Monomorphised fast paths for the encodings real files use; everything
    // else (3/5/6/7-byte integers, permuted byte orders) goes byte by byte.
    match (p.kind, p.width, order) {
        (Kind::F32, 4, ByteOrder::Little) => {
            column(bytes, w, off, out, |b| f32::from_le_bytes(b) as f64)
        }
        (Kind::F32, 4, ByteOrder::Big) => {
            column(bytes, w, off, out, |b| f32::from_be_bytes(b) as f64)
        }
        (Kind::F64, 8, ByteOrder::Little) => column(bytes, w, off, out, f64::from_le_bytes),
        (Kind::F64, 8, ByteOrder::Big) => column(bytes, w, off, out, f64::from_be_bytes),
        (Kind::Uint, 1, _) => column(bytes, w, off, out, |b: [u8; 1]| (b[0] as u64 & m) as f64),
        (Kind::Uint, 2, ByteOrder::Little) => column(bytes, w, off, out, |b| {
            (u16::from_le_bytes(b) as u64 & m) as f64
        }),
        (Kind::Uint, 2, ByteOrder::Big) => column(bytes, w, off, out, |b| {
            (u16::from_be_bytes(b) as u64 & m) as f64
        }),
        (Kind::Uint, 4, ByteOrder::Little) => column(bytes, w, off, out, |b| {
            (u32::from_le_bytes(b) as u64 & m) as f64
        }),
        (Kind::Uint, 4, ByteOrder::Big) => column(bytes, w, off, out, |b| {
            (u32::from_be_bytes(b) as u64 & m) as f64
        }),
        (Kind::Uint, 8, ByteOrder::Little) => {
            column(bytes, w, off, out, |b| (u64::from_le_bytes(b) & m) as f64)
        }
        (Kind::Uint, 8, ByteOrder::Big) => {
            column(bytes, w, off, out, |b| (u64::from_be_bytes(b) & m) as f64)
        }
        _ => {
            let width = p.width;
            for (ev, o) in bytes.chunks_exact(w).zip(out.iter_mut()) {
                if let Some(b) = ev.get(off..off + width) {
                    let u = read_uint(b, order);
                    *o = match p.kind {
                        Kind::Uint => (u & m) as f64,
                        Kind::F32 => f32::from_bits(u as u32) as f64,
                        Kind::F64 => f64::from_bits(u),
                    };
                }
            }
        }
    }
}

/// An unsigned integer of 1–8 bytes in any byte order.
fn read_uint(b: &[u8], order: &ByteOrder) -> u64 {
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64);
    let be = |b: &[u8]| b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64);
    match order {
        ByteOrder::Little => le(b),
        ByteOrder::Big => be(b),
        ByteOrder::Permuted(perm) if perm.len() == b.len() => b
            .iter()
            .zip(perm)
            .fold(0u64, |acc, (&x, &s)| acc | (x as u64) << (8 * s as u32)),
        // A permutation written for another width (FCS 2.0 writers give the
        // 32-bit order for 16-bit data): its direction is what it means.
        ByteOrder::Permuted(perm) => {
            if perm.first() < perm.last() {
                le(b)
            } else {
                be(b)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permuted_and_odd_widths() {
        // 0x0A0B0C0D stored as 3,4,1,2: bytes of significance 2,3,0,1.
        let perm = ByteOrder::Permuted(vec![2, 3, 0, 1]);
        assert_eq!(read_uint(&[0x0B, 0x0A, 0x0D, 0x0C], &perm), 0x0A0B0C0D);
        assert_eq!(read_uint(&[0x01, 0x02, 0x03], &ByteOrder::Big), 0x010203);
        assert_eq!(read_uint(&[0x01, 0x02, 0x03], &ByteOrder::Little), 0x030201);
    }

    #[test]
    fn blocks_cover_all_events_in_order() {
        // Two params, u16 BE and f32 LE, many events so several blocks run.
        let n = 100_000usize;
        let mut bytes = Vec::new();
        for i in 0..n {
            bytes.extend_from_slice(&((i % 65536) as u16).to_be_bytes());
            bytes.extend_from_slice(&(i as f32 * 0.5).to_le_bytes());
        }
        let layout = Layout {
            params: vec![
                ParamLayout {
                    kind: Kind::Uint,
                    width: 2,
                    offset: 0,
                    mask: 0xFFFF,
                },
                ParamLayout {
                    kind: Kind::F32,
                    width: 4,
                    offset: 2,
                    mask: u64::MAX,
                },
            ],
            event_width: 6,
            order: ByteOrder::Little,
            n_events: Some(n as u64),
            datatype: "I".into(),
        };
        // Mixed order in one layout is not FCS; test each column separately.
        let mut out = vec![0.0; 2 * n];
        decode_data(&bytes[..], 0, &layout, n, &mut out).unwrap();
        assert_eq!(out[n + 12345], 12345.0 * 0.5);
        let be = Layout {
            order: ByteOrder::Big,
            ..layout
        };
        decode_data(&bytes[..], 0, &be, n, &mut out).unwrap();
        assert_eq!(out[70000], (70000 % 65536) as f64);
    }
}
