//! Reading and writing FCS files (FCS 2.0, 3.0, 3.1, 3.2).
//!
//! Real cytometer exports bend the standard in many ways: blank or stale
//! offsets, DATA ending one byte late, odd delimiters, non-UTF-8 TEXT, 10-bit
//! values in 16-bit words, flag bits above `$PnR`, several data sets. The
//! reader repairs what it can by general rules (never by file name or
//! instrument) and reports each repair as a warning on the [`Sample`]; what it
//! cannot repair is an [`FcsError`] naming the file, segment, byte offset and
//! keyword.
//!
//! One module per concept: [`header`] (HEADER), [`text`] (TEXT tokenizer),
//! [`layout`] (keywords → value encoding and channels), [`decode`] (DATA →
//! event matrix), [`reader`] (segments, offsets, data sets), [`writer`].
//!
//! ```no_run
//! # fn main() -> Result<(), nkflow::fcs::FcsError> {
//! let mut sample = nkflow::fcs::read(std::path::Path::new("sample.fcs"))?;
//! sample.apply_scale(); // raw → FCS scale ($PnE, $PnG, $TIMESTEP)
//! # Ok(()) }
//! ```

mod alloc;
pub mod decode;
pub mod error;
pub mod header;
pub mod layout;
pub mod reader;
pub mod text;
pub mod writer;

use std::path::Path;

pub use error::{FcsError, Segment};
pub use reader::Reader;
pub use writer::{write, write_to, write_to_with, write_with, Endian, ValueType, WriteOptions};

use crate::sample::Sample;

/// Reads data set 0 of an FCS file; events are raw (see [`Sample::apply_scale`]).
pub fn read(path: &Path) -> Result<Sample, FcsError> {
    Reader::new().read(path, 0)
}

/// Reads data set `k` (0-based, following `$NEXTDATA`) of an FCS file.
pub fn read_dataset(path: &Path, k: usize) -> Result<Sample, FcsError> {
    Reader::new().read(path, k)
}

/// Reads data set `k` from bytes in memory; `name` appears in messages.
/// For tests and fuzzing, and for files that arrive over the network.
pub fn read_bytes(name: &str, bytes: &[u8], k: usize) -> Result<Sample, FcsError> {
    let mut sample = reader::empty_sample();
    Reader::new().read_bytes_into(name, bytes, k, &mut sample)?;
    Ok(sample)
}

/// A sample with no channels or events, for [`Reader::read_into`].
pub fn empty_sample() -> Sample {
    reader::empty_sample()
}
