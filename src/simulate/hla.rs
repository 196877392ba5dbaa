//! An optional donor-specific HLA antibody channel (`--hla`).
//!
//! After haploidentical HSCT, donor and recipient differ in HLA alleles; an
//! antibody against an allele the donor carries and the recipient lacks
//! (e.g. HLA-A2 when the donor is A2+ and the recipient A2−) stains every
//! donor-derived leukocyte and no recipient cell, so one gate splits NK cells
//! by origin. This layer adds that channel to a simulated file:
//!
//! - every cell (debris, dead cells and doublets included) is of donor origin
//!   with probability `f`, the file's donor fraction: the samplesheet's
//!   `nk_donor_chimerism_pct` when the chimerism lab reported one, else a
//!   draw between 55 % and 98 %;
//! - donor cells carry the dye (log-normal, median 9,000 reference units,
//!   log-sd 0.3; debris a fifth of it), recipient cells none; beads are
//!   bright as in every detector;
//! - the detector adds autofluorescence, photon and electronic noise and the
//!   ADC as the other detectors do (same range and data type), with its own
//!   day-to-day gain. It sits on a UV laser with no spillover to or from the
//!   panel, so it is not part of `$SPILLOVER` (it needs no compensation).
//!
//! **Byte-identity.** Everything here is drawn from a separate stream of the
//! cohort's key ([`HLA_STREAM_BASE`] + file index), after the file is made,
//! and the channel is appended as the last parameter; without `--hla`
//! nothing changes, so existing cohorts (and `fcs-samples/`) stay
//! byte-identical. Truth: `pct_donor_nk_by_hla` = donor NK events / NK
//! events × 100 and `markers["HLA-donor"]` = the channel, only when on.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::acquire::SimulatedFile;
use super::design::SampleSpec;
use super::instrument;
use super::panel::Style;
use super::population::Population;
use crate::sample::Channel;

/// First RNG stream of the HLA layer (file `i` uses this + `i`): far above
/// the design's stream 0 and the files' streams 1…N.
pub const HLA_STREAM_BASE: u64 = 1 << 40;

/// Median donor HLA signal on a cell, reference units.
const DONOR_MEDIAN: f64 = 9_000.0;
const DONOR_LOG_SD: f64 = 0.3;
/// Counting beads in this detector, reference units.
const BEAD_LEVEL: f64 = 60_000.0;
/// Autofluorescence of a cell in this detector, reference units.
const AUTOFLUORESCENCE: f64 = 40.0;
/// Same photon statistics and electronic noise as the panel's detectors.
const UNITS_PER_PHOTOELECTRON: f64 = 12.0;
const ELECTRONIC_NOISE: f64 = 25.0;

/// `$PnN` of the HLA detector in a lab style.
pub fn detector_name(style: Style) -> &'static str {
    match style {
        Style::Diva => "BUV395-A",
        Style::Cytoflex => "NUV450-A",
        Style::Navios => "FL11-A",
    }
}

/// `$PnS` of the HLA detector: allele-named, as labs write it.
pub fn label(style: Style) -> &'static str {
    match style {
        Style::Diva => "HLA-A2",
        Style::Cytoflex => "HLA-A2 BUV395",
        Style::Navios => "HLA-A*02",
    }
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Adds the HLA channel to a simulated file (see the module docs).
pub fn add_channel(file: &mut SimulatedFile, spec: &SampleSpec, seed: u64, gain_spread: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(HLA_STREAM_BASE + spec.index as u64);
    let donor_fraction = match spec.nk_donor_chimerism_pct {
        Some(p) => (p / 100.0).clamp(0.0, 1.0),
        None => 0.55 + 0.43 * rng.gen::<f64>(),
    };
    let rf = spec.range.factor();
    let gain = rf * (gain_spread * normal(&mut rng)).exp();
    let range = spec.range.value();
    let (mut nk, mut donor_nk) = (0u64, 0u64);
    let mut column = Vec::with_capacity(file.labels.len());
    for &(pop, _) in &file.labels {
        let donor = rng.gen::<f64>() < donor_fraction;
        let signal = match pop {
            Population::Bead => BEAD_LEVEL,
            _ if donor => {
                let level = DONOR_MEDIAN * (DONOR_LOG_SD * normal(&mut rng)).exp();
                if pop == Population::Debris {
                    0.2 * level
                } else {
                    level
                }
            }
            _ => 0.0,
        };
        if pop.is_nk() {
            nk += 1;
            donor_nk += u64::from(donor);
        }
        let af = if pop == Population::Bead {
            0.0
        } else {
            AUTOFLUORESCENCE
        };
        let o = (signal + af) * gain;
        let e_sd = ELECTRONIC_NOISE * rf;
        let var = UNITS_PER_PHOTOELECTRON * gain * o.max(0.0) + e_sd * e_sd;
        let v = o + var.sqrt() * normal(&mut rng);
        column.push(instrument::adc(v, range, spec.datatype));
    }
    let sample = &mut file.sample;
    let template = sample.channels.first().cloned();
    let name = detector_name(spec.style).to_string();
    sample.channels.push(Channel {
        number: sample.channels.len() + 1,
        name: name.clone(),
        label: Some(label(spec.style).to_string()),
        range,
        bits: template.as_ref().map_or(32, |c| c.bits),
        gain: None,
        log: None,
    });
    // The matrix with one more column (copied by zip: no length can panic).
    let mut names = sample.events.names().to_vec();
    names.push(name.clone());
    let n = sample.events.n_events();
    let mut events = crate::EventMatrix::zeros(names, n);
    for j in 0..sample.events.n_channels() {
        for (d, s) in events.column_mut(j).iter_mut().zip(sample.events.column(j)) {
            *d = *s;
        }
    }
    let last = events.n_channels() - 1;
    for (d, s) in events.column_mut(last).iter_mut().zip(&column) {
        *d = *s;
    }
    sample.events = events;
    file.truth.pct_donor_nk_by_hla = (nk > 0).then(|| 100.0 * donor_nk as f64 / nk as f64);
    file.truth.hla_donor_fraction = Some(donor_fraction);
    file.truth.markers.insert("HLA-donor".to_string(), name);
}
