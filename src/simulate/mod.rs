//! A cohort simulator that knows the truth.
//!
//! No public data set gives day +30 NK counts with known truth, so the preset
//! pipeline can only be proven on data whose truth is known by construction —
//! and only if that data is as hard as real exports. This module makes such
//! cohorts: lysed whole blood with counting beads, stained with a one-tube NK
//! panel, acquired on instruments of different labs.
//!
//! The layers, each in its own file:
//! - [`panel`]: markers, fluorochromes, the spillover between detectors, and
//!   the lab [`Style`]s (names, labels, order, range, data type, byte order);
//! - [`population`]: the biology of each event kind (debris, doublets, dead
//!   cells, granulocytes, monocytes, T, NKT-like, B, NK CD56bright/dim,
//!   beads) and the NK phenotype correlations;
//! - [`design`]: patients, dose cohorts, days, NK-poor control, and what each
//!   tube holds;
//! - [`instrument`]: spillover, gains, shot and electronic noise, the ADC;
//! - [`acquire`]: one acquisition in time order (flow rate, optional clog);
//! - [`truth`]: truth.json, samplesheet.csv and the `--labels` files.
//!
//! Determinism: the design is drawn from the master seed's stream 0 and file
//! `i` from stream `i + 1` of the same ChaCha8 key, so every file depends only
//! on (seed, settings, i) — whatever the number of threads.
//!
//! ```no_run
//! use nkflow::simulate::{write_cohort, Settings};
//! let settings = Settings { samples: 4, events: Some(20_000), ..Settings::default() };
//! let summary = write_cohort(&settings, std::path::Path::new("cohort")).unwrap();
//! println!("{} files", summary.files.len());
//! ```

pub mod acquire;
pub mod design;
pub mod hla;
pub mod instrument;
pub mod panel;
pub mod population;
pub mod truth;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub use acquire::{AcquireOptions, SimulatedFile};
pub use design::{DesignOptions, SampleSpec};
pub use panel::{ByteOrder, DataType, Marker, Range, Style};
pub use population::Population;
pub use truth::{FileTruth, TimeAnomaly, Truth};

/// Errors from planning or writing a cohort.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// A setting that cannot make a cohort.
    #[error("simulate: {0}")]
    Settings(String),
    /// The output directory holds files already.
    #[error(
        "{}: the output directory is not empty (it holds {found}); choose a new or empty \
         directory, or pass --force to replace the cohort files in it",
        path.display()
    )]
    NotEmpty { path: PathBuf, found: String },
    /// Reading or writing a path failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The FCS writer refused a simulated sample (boxed: FCS errors carry
    /// much context and would make every `Result` here large).
    #[error("{file}: writing the FCS file failed: {source}")]
    Fcs {
        file: String,
        #[source]
        source: Box<crate::fcs::FcsError>,
    },
    /// truth.json could not be serialised.
    #[error("truth.json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Everything that shapes a cohort.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Master seed: same seed and settings → byte-identical files.
    pub seed: u64,
    /// Number of FCS files (controls included).
    pub samples: usize,
    /// Events per file; `None` draws 50,000–250,000 per file.
    pub events: Option<usize>,
    /// One lab style for every file, or `None` to cycle through the labs.
    pub style: Option<Style>,
    /// Overrides of the style's instrument range, data type and byte order.
    pub range: Option<Range>,
    pub datatype: Option<DataType>,
    pub byte_order: Option<ByteOrder>,
    /// Fraction of files whose acquisition has a clog interval.
    pub clog_fraction: f64,
    /// Log-sd of day-to-day detector gain variation.
    pub gain_spread: f64,
    /// Write per-event labels to `DIR/labels/<stem>.labels.csv`.
    pub labels: bool,
    /// Replace cohort files (`*.fcs`, samplesheet.csv, truth.json, labels/)
    /// already in the output directory.
    pub force: bool,
    /// Add a donor-specific HLA antibody channel ([`hla`]); off by default,
    /// and off leaves every file byte-identical.
    pub hla: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seed: 1,
            samples: 12,
            events: None,
            style: None,
            range: None,
            datatype: None,
            byte_order: None,
            clog_fraction: 0.0,
            gain_spread: 0.15,
            labels: false,
            force: false,
            hla: false,
        }
    }
}

/// A planned cohort: the design is fixed, files are made on demand.
#[derive(Debug, Clone)]
pub struct Cohort {
    pub settings: Settings,
    pub specs: Vec<SampleSpec>,
}

impl Cohort {
    /// Validates the settings and draws the design.
    pub fn plan(settings: &Settings) -> Result<Cohort, SimulateError> {
        if settings.samples == 0 {
            return Err(SimulateError::Settings(
                "--samples must be at least 1".into(),
            ));
        }
        if settings.events == Some(0) {
            return Err(SimulateError::Settings(
                "--events must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&settings.clog_fraction) {
            return Err(SimulateError::Settings(format!(
                "--clog-fraction must be between 0 and 1, got {}",
                settings.clog_fraction
            )));
        }
        if !(0.0..=1.0).contains(&settings.gain_spread) {
            return Err(SimulateError::Settings(format!(
                "--gain-spread must be between 0 and 1 (a log-sd), got {}",
                settings.gain_spread
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let specs = design::plan(
            &mut rng,
            &DesignOptions {
                samples: settings.samples,
                events: settings.events,
                style: settings.style,
                range: settings.range,
                datatype: settings.datatype,
                byte_order: settings.byte_order,
                clog_fraction: settings.clog_fraction,
            },
        );
        Ok(Cohort {
            settings: settings.clone(),
            specs,
        })
    }

    /// Simulates file `i` (its own RNG stream: independent of the others).
    pub fn simulate(&self, i: usize) -> Option<SimulatedFile> {
        let spec = self.specs.get(i)?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.settings.seed);
        rng.set_stream(1 + i as u64);
        let mut file = acquire::acquire(
            spec,
            &AcquireOptions {
                gain_spread: self.settings.gain_spread,
            },
            &mut rng,
        );
        if self.settings.hla {
            hla::add_channel(
                &mut file,
                spec,
                self.settings.seed,
                self.settings.gain_spread,
            );
        }
        Some(file)
    }

    /// samplesheet.csv text.
    pub fn samplesheet_csv(&self) -> Result<String, SimulateError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| SimulateError::Io {
            path: PathBuf::from("samplesheet.csv"),
            source: std::io::Error::other(e),
        };
        w.write_record(truth::SAMPLESHEET_COLUMNS).map_err(io)?;
        for spec in &self.specs {
            w.write_record(truth::samplesheet_row(spec)).map_err(io)?;
        }
        let bytes = w.into_inner().map_err(|e| SimulateError::Io {
            path: PathBuf::from("samplesheet.csv"),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// What [`write_cohort`] wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    /// FCS files written, in cohort order.
    pub files: Vec<PathBuf>,
    pub samplesheet: PathBuf,
    pub truth: PathBuf,
    /// Events written in all.
    pub events: u64,
}

/// The generator string recorded in truth.json.
pub fn generator() -> String {
    format!("nkflow {} simulate", env!("CARGO_PKG_VERSION"))
}

/// Plans and writes a cohort into `dir`: N FCS files, samplesheet.csv,
/// truth.json and (with `labels`) `labels/<stem>.labels.csv`. Files are made
/// in parallel (one per rayon task); every output is written to a temporary
/// file and renamed into place.
pub fn write_cohort(settings: &Settings, dir: &Path) -> Result<Summary, SimulateError> {
    let cohort = Cohort::plan(settings)?;
    prepare_dir(dir, settings.force)?;
    let labels_dir = dir.join("labels");
    if settings.labels {
        std::fs::create_dir_all(&labels_dir).map_err(|e| SimulateError::Io {
            path: labels_dir.clone(),
            source: e,
        })?;
    }
    let results: Vec<Result<(PathBuf, String, FileTruth), SimulateError>> = (0..cohort.specs.len())
        .into_par_iter()
        .map(|i| {
            let sim = cohort
                .simulate(i)
                .ok_or_else(|| SimulateError::Settings(format!("no sample {i} in the design")))?;
            let name = cohort.specs[i].file_name.clone();
            let path = dir.join(&name);
            crate::fcs::write_with(&path, &sim.sample, &write_options(&cohort.specs[i])).map_err(
                |e| SimulateError::Fcs {
                    file: name.clone(),
                    source: Box::new(e),
                },
            )?;
            make_readable(&path)?;
            if settings.labels {
                let stem = name.trim_end_matches(".fcs");
                let lp = labels_dir.join(format!("{stem}.labels.csv"));
                write_atomic(&lp, truth::labels_csv(&sim.labels).as_bytes())?;
            }
            Ok((path, name, sim.truth))
        })
        .collect();
    let mut files = Vec::with_capacity(results.len());
    let mut truths = BTreeMap::new();
    let mut events = 0;
    for r in results {
        let (path, name, t) = r?;
        events += t.events;
        files.push(path);
        truths.insert(name, t);
    }
    let truth = Truth {
        generator: generator(),
        seed: settings.seed,
        files: truths,
    };
    let samplesheet = dir.join("samplesheet.csv");
    write_atomic(&samplesheet, cohort.samplesheet_csv()?.as_bytes())?;
    let truth_path = dir.join("truth.json");
    let mut json = serde_json::to_string_pretty(&truth)?;
    json.push('\n');
    write_atomic(&truth_path, json.as_bytes())?;
    Ok(Summary {
        files,
        samplesheet,
        truth: truth_path,
        events,
    })
}

/// The FCS encoding a spec asks for.
pub fn write_options(spec: &SampleSpec) -> crate::fcs::WriteOptions {
    crate::fcs::WriteOptions {
        value_type: match spec.datatype {
            DataType::Float => crate::fcs::ValueType::Float32,
            DataType::Int => crate::fcs::ValueType::Int,
        },
        endian: match spec.byte_order {
            ByteOrder::Big => crate::fcs::Endian::Big,
            ByteOrder::Little => crate::fcs::Endian::Little,
        },
    }
}

/// Makes sure `dir` exists and holds no cohort yet; with `force`, removes the
/// cohort files a previous run left (and only those).
fn prepare_dir(dir: &Path, force: bool) -> Result<(), SimulateError> {
    let io = |e| SimulateError::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        found.push(entry.file_name().to_string_lossy().into_owned());
    }
    found.sort();
    if found.is_empty() {
        return Ok(());
    }
    let is_ours = |n: &str| {
        n.ends_with(".fcs") || n == "samplesheet.csv" || n == "truth.json" || n == "labels"
    };
    if !force {
        let shown: Vec<&str> = found.iter().take(3).map(String::as_str).collect();
        let more = if found.len() > 3 {
            format!(" and {} more", found.len() - 3)
        } else {
            String::new()
        };
        return Err(SimulateError::NotEmpty {
            path: dir.to_path_buf(),
            found: format!("{}{more}", shown.join(", ")),
        });
    }
    for name in found.iter().filter(|n| is_ours(n)) {
        let p = dir.join(name);
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.map_err(|e| SimulateError::Io { path: p, source: e })?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// renamed into place, so a reader never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SimulateError> {
    let io = |e| SimulateError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let parent = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    make_readable(path)
}

/// Temporary files are created private (0600); a cohort is data to share, so
/// its files get the usual 0644.
fn make_readable(path: &Path) -> Result<(), SimulateError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(|e| {
            SimulateError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        })?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> Settings {
        Settings {
            seed,
            samples: 6,
            events: Some(3_000),
            ..Settings::default()
        }
    }

    #[test]
    fn same_seed_same_events() {
        let a = Cohort::plan(&small(5)).unwrap();
        let b = Cohort::plan(&small(5)).unwrap();
        let fa = a.simulate(2).unwrap();
        let fb = b.simulate(2).unwrap();
        assert_eq!(fa.sample.events, fb.sample.events);
        assert_eq!(fa.truth, fb.truth);
        let c = Cohort::plan(&small(6)).unwrap();
        assert_ne!(c.simulate(2).unwrap().sample.events, fa.sample.events);
    }

    #[test]
    fn truth_counts_add_up() {
        let c = Cohort::plan(&small(9)).unwrap();
        for i in 0..c.specs.len() {
            let f = c.simulate(i).unwrap();
            assert_eq!(f.truth.counts.values().sum::<u64>(), f.truth.events);
            assert_eq!(f.sample.n_events() as u64, f.truth.events);
            assert_eq!(
                f.truth.nk_events,
                f.truth.counts["nk_cd56bright"] + f.truth.counts["nk_cd56dim"]
            );
        }
    }

    #[test]
    fn rejects_zero_samples() {
        let s = Settings {
            samples: 0,
            ..Settings::default()
        };
        assert!(matches!(Cohort::plan(&s), Err(SimulateError::Settings(_))));
    }
}
