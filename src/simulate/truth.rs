//! What the simulator knows: truth.json, the samplesheet and the per-event
//! label files.
//!
//! Truth is computed from the events actually drawn (not from the design's
//! expected concentrations), so it is exactly what a perfect gating of the
//! file would report: `nk_per_ul` = NK events / bead events × beads per tube /
//! blood volume, phenotype percentages = flagged NK events / NK events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::design::{Arm, SampleSpec};
use super::population::{flags, Population};

/// The truth of one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileTruth {
    /// True NK events / true bead events × beads_per_tube / blood_volume_ul.
    pub nk_per_ul: f64,
    /// Percent of NK cells (0–100); `null` when the file has no NK events.
    pub pct_nkg2c: Option<f64>,
    pub pct_kir: Option<f64>,
    pub pct_nkg2c_kir: Option<f64>,
    /// CD56bright CD16−/low as a percent of NK cells.
    pub pct_cd56bright: Option<f64>,
    pub pct_nkg2a: Option<f64>,
    pub pct_cd57: Option<f64>,
    pub pct_ki67: Option<f64>,
    /// NK events (CD56bright + CD56dim singlets, alive).
    pub nk_events: u64,
    pub bead_events: u64,
    /// All events in the file (= the sum of `counts`).
    pub events: u64,
    pub beads_per_tube: f64,
    pub blood_volume_ul: f64,
    /// True events per population (keys as in the label files).
    pub counts: BTreeMap<String, u64>,
    /// Marker → `$PnN` of its channel in this file.
    pub markers: BTreeMap<String, String>,
    /// The lab style the file was written in.
    pub panel_style: String,
    /// `$PnR` of the parameters.
    pub range: f64,
    pub datatype: String,
    pub byte_order: String,
    /// A clog interval in acquisition time, if the file has one.
    pub time_anomaly: Option<TimeAnomaly>,
    /// With the HLA channel (`--hla`): donor-origin NK events / NK events
    /// × 100. Absent otherwise (truth.json unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pct_donor_nk_by_hla: Option<f64>,
    /// With the HLA channel: the probability that a cell is of donor origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hla_donor_fraction: Option<f64>,
}

/// A clog interval: flow slowed and signals dimmed between these times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeAnomaly {
    /// Seconds from the start of acquisition.
    pub start_s: f64,
    pub end_s: f64,
    /// Events recorded inside the interval.
    pub events: u64,
}

/// truth.json: `{"generator", "seed", "files": {"<name>.fcs": FileTruth}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub generator: String,
    pub seed: u64,
    pub files: BTreeMap<String, FileTruth>,
}

/// Percent of `part` in `whole`, `None` when `whole` is 0.
fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

/// Counts and percentages from per-event labels (population, flags).
/// `nk_per_ul` is 0 when there are no beads (it cannot be measured).
pub fn from_labels(
    labels: &[(Population, u8)],
    beads_per_tube: f64,
    blood_volume_ul: f64,
) -> Tallies {
    let mut counts = [0u64; 12];
    let (mut nk, mut bright, mut c, mut k, mut ck, mut a, mut s57, mut ki) =
        (0, 0, 0, 0, 0, 0, 0, 0);
    for &(p, f) in labels {
        counts[p as usize] += 1;
        if p.is_nk() {
            nk += 1;
            bright += u64::from(p == Population::NkBright);
            let has = |b: u8| u64::from(f & b != 0);
            c += has(flags::NKG2C);
            k += has(flags::KIR);
            ck += u64::from(f & flags::NKG2C != 0 && f & flags::KIR != 0);
            a += has(flags::NKG2A);
            s57 += has(flags::CD57);
            ki += has(flags::KI67);
        }
    }
    let beads = counts[Population::Bead as usize];
    let nk_per_ul = if beads > 0 && blood_volume_ul > 0.0 {
        nk as f64 / beads as f64 * beads_per_tube / blood_volume_ul
    } else {
        0.0
    };
    Tallies {
        counts,
        nk,
        beads,
        nk_per_ul,
        pct_nkg2c: pct(c, nk),
        pct_kir: pct(k, nk),
        pct_nkg2c_kir: pct(ck, nk),
        pct_cd56bright: pct(bright, nk),
        pct_nkg2a: pct(a, nk),
        pct_cd57: pct(s57, nk),
        pct_ki67: pct(ki, nk),
    }
}

/// What [`from_labels`] counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Tallies {
    /// Events per population, [`Population::ALL`] order.
    pub counts: [u64; 12],
    pub nk: u64,
    pub beads: u64,
    pub nk_per_ul: f64,
    pub pct_nkg2c: Option<f64>,
    pub pct_kir: Option<f64>,
    pub pct_nkg2c_kir: Option<f64>,
    pub pct_cd56bright: Option<f64>,
    pub pct_nkg2a: Option<f64>,
    pub pct_cd57: Option<f64>,
    pub pct_ki67: Option<f64>,
}

impl Tallies {
    /// `counts` keyed by population name.
    pub fn count_map(&self) -> BTreeMap<String, u64> {
        Population::ALL
            .iter()
            .map(|p| (p.key().to_string(), self.counts[*p as usize]))
            .collect()
    }
}

/// The samplesheet header. `nk_donor_chimerism_pct` is empty where the
/// chimerism lab has not reported.
pub const SAMPLESHEET_COLUMNS: [&str; 8] = [
    "file",
    "patient_id",
    "cohort",
    "dose_cells_per_kg",
    "day",
    "beads_per_tube",
    "blood_volume_ul",
    "nk_donor_chimerism_pct",
];

/// One samplesheet row for a spec, in [`SAMPLESHEET_COLUMNS`] order.
pub fn samplesheet_row(spec: &SampleSpec) -> Vec<String> {
    vec![
        spec.file_name.clone(),
        spec.patient_id.clone(),
        spec.arm.cohort(),
        match spec.arm {
            Arm::Dose(d) => format!("{d:e}"),
            Arm::Control => String::new(),
        },
        spec.day.map(|d| d.to_string()).unwrap_or_default(),
        format!("{}", spec.beads_per_tube),
        format!("{}", spec.blood_volume_ul),
        spec.nk_donor_chimerism_pct
            .map(|c| format!("{c}"))
            .unwrap_or_default(),
    ]
}

/// The label file header: one row per event, in file order.
pub const LABEL_COLUMNS: &str = "population,nkg2c,kir,nkg2a,cd57,ki67";

/// Writes per-event labels as CSV text (header + one row per event).
pub fn labels_csv(labels: &[(Population, u8)]) -> String {
    let mut s = String::with_capacity(labels.len() * 24 + 64);
    s.push_str(LABEL_COLUMNS);
    s.push('\n');
    for &(p, f) in labels {
        s.push_str(p.key());
        for bit in [
            flags::NKG2C,
            flags::KIR,
            flags::NKG2A,
            flags::CD57,
            flags::KI67,
        ] {
            s.push_str(if f & bit != 0 { ",1" } else { ",0" });
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_count_nk_phenotypes() {
        let l = vec![
            (Population::NkDim, flags::NKG2C | flags::KIR),
            (Population::NkDim, flags::KIR),
            (Population::NkBright, flags::NKG2A),
            (Population::TCell, flags::NKG2C),
            (Population::Bead, 0),
            (Population::Bead, 0),
        ];
        let t = from_labels(&l, 50_000.0, 50.0);
        assert_eq!(t.nk, 3);
        assert_eq!(t.beads, 2);
        assert_eq!(t.nk_per_ul, 3.0 / 2.0 * 1000.0);
        assert_eq!(t.pct_nkg2c, Some(100.0 / 3.0));
        assert_eq!(t.pct_kir, Some(200.0 / 3.0));
        assert_eq!(t.pct_nkg2c_kir, Some(100.0 / 3.0));
        assert_eq!(t.pct_cd56bright, Some(100.0 / 3.0));
        assert_eq!(t.count_map().values().sum::<u64>(), 6);
        let csv = labels_csv(&l);
        assert!(csv.starts_with("population,nkg2c,kir,nkg2a,cd57,ki67\nnk_cd56dim,1,1,0,0,0\n"));
    }
}
