//! The instrument: what the detectors report for a particle.
//!
//! True dye signals → spillover into every detector → detector gain → photon
//! (shot) noise and electronic noise → the ADC's range (saturation at the top;
//! integer instruments also clip at zero and round). Because noise is added to
//! each detector *after* spillover, compensated data shows what real data
//! shows: spreading of negative populations and values below zero.
//!
//! The `$SPILLOVER` written to the file is the spillover at this file's gains,
//! so compensating with it undoes the mixing exactly (up to noise).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::design::SampleSpec;
use super::panel::{DataType, Marker, N_DYES, SPILL};
use super::population::{autofluorescence, Particle};

/// Reference units per photoelectron at gain 1: a signal of 12,000 reference
/// units is 1,000 photoelectrons (CV ≈ 3 %).
const UNITS_PER_PHOTOELECTRON: f64 = 12.0;
/// Electronic noise sd (reference units).
const ELECTRONIC_NOISE: f64 = 25.0;

/// One file's instrument settings.
#[derive(Debug, Clone)]
pub struct Instrument {
    /// `$PnR` of every parameter.
    pub range: f64,
    /// Reference-to-scale multiplier of each fluorescence detector
    /// (range factor × lab gain × day-to-day variation), [`Marker`] order.
    pub gain: [f64; N_DYES],
    pub fsc_gain: f64,
    pub ssc_gain: f64,
    /// Spillover at these gains, rounded to 6 decimals exactly as written to
    /// `$SPILLOVER` (rows dyes, columns detectors, [`Marker`] order).
    pub spill: [[f64; N_DYES]; N_DYES],
    /// Range factor (for noise).
    pub range_factor: f64,
    pub datatype: DataType,
    /// `$PnG` of the scatter parameters (raw = scale × gain), if written.
    pub scatter_amp: Option<f64>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

impl Instrument {
    /// Sets up the instrument for one file: the lab's gains with a little
    /// day-to-day variation (`gain_spread`, log-sd) drawn from the file's stream.
    pub fn new(spec: &SampleSpec, rng: &mut ChaCha8Rng, gain_spread: f64) -> Instrument {
        let rf = spec.range.factor();
        let mut gain = [0.0; N_DYES];
        for m in Marker::ALL {
            gain[m.index()] = rf * spec.style.lab_gain(m) * (gain_spread * normal(rng)).exp();
        }
        let fsc_gain = rf * (0.5 * gain_spread * normal(rng)).exp();
        let ssc_gain = rf * (0.5 * gain_spread * normal(rng)).exp();
        let mut spill = [[0.0; N_DYES]; N_DYES];
        for f in 0..N_DYES {
            for d in 0..N_DYES {
                let v = SPILL[f][d] * gain[d] / gain[f];
                spill[f][d] = if f == d { 1.0 } else { (v * 1e6).round() / 1e6 };
            }
        }
        Instrument {
            range: spec.range.value(),
            gain,
            fsc_gain,
            ssc_gain,
            spill,
            range_factor: rf,
            datatype: spec.datatype,
            scatter_amp: spec.style.scatter_gain(),
        }
    }

    /// Detector readings (scale units) of the fluorescence detectors, before
    /// the ADC. `dim` scales the light (a partial clog slows and dims cells).
    pub fn fluorescence(&self, p: &Particle, dim: f64, rng: &mut ChaCha8Rng) -> [f64; N_DYES] {
        let mut obs = [0.0; N_DYES];
        if p.bead {
            // Beads: brightness given per detector.
            for (d, o) in obs.iter_mut().enumerate() {
                *o = p.dyes[d] * self.gain[d] * dim;
            }
        } else {
            let mut u = [0.0; N_DYES];
            for (f, uf) in u.iter_mut().enumerate() {
                *uf = p.dyes[f] * self.gain[f] * dim;
            }
            for (d, o) in obs.iter_mut().enumerate() {
                let mut s = autofluorescence(p, d) * self.gain[d] * dim;
                for (f, uf) in u.iter().enumerate() {
                    s += uf * self.spill[f][d];
                }
                *o = s;
            }
        }
        let e_sd = ELECTRONIC_NOISE * self.range_factor;
        for (d, o) in obs.iter_mut().enumerate() {
            let var = UNITS_PER_PHOTOELECTRON * self.gain[d] * o.max(0.0) + e_sd * e_sd;
            *o += var.sqrt() * normal(rng);
        }
        obs
    }

    /// FSC-A, FSC-H, SSC-A readings (scale units): scatter light is plentiful,
    /// so the noise is a small multiplicative jitter plus electronic noise.
    pub fn scatter(&self, p: &Particle, dim: f64, rng: &mut ChaCha8Rng) -> [f64; 3] {
        let e = 30.0 * self.range_factor;
        let fa = p.fsc_a * self.fsc_gain * dim * (1.0 + 0.01 * normal(rng)) + e * normal(rng);
        let fh = p.fsc_h * self.fsc_gain * dim * (1.0 + 0.01 * normal(rng)) + e * normal(rng);
        let sa = p.ssc_a * self.ssc_gain * dim * (1.0 + 0.02 * normal(rng)) + e * normal(rng);
        [fa, fh, sa]
    }

    /// What the ADC stores for a scale value: amplifier gain applied (`$PnG`),
    /// saturated at the top of the range; integer data rounded and clipped at
    /// zero; float data keeps small negative values (baseline restoration
    /// leaves them, as on BD instruments).
    pub fn store(&self, scale_value: f64, amp: Option<f64>) -> f64 {
        adc(scale_value * amp.unwrap_or(1.0), self.range, self.datatype)
    }

    /// `$PnV`-like detector voltage for a gain (PMT gain grows roughly with
    /// the seventh power of the voltage).
    pub fn voltage(&self, d: usize) -> f64 {
        (500.0 * (self.gain[d] / self.range_factor).powf(1.0 / 7.0)).round()
    }
}

/// What an ADC of this range and data type stores for a value: saturated
/// at the top of the range; integers rounded and clipped at zero; floats keep
/// small negative values (see [`Instrument::store`]).
pub fn adc(v: f64, range: f64, datatype: DataType) -> f64 {
    let top = range - 1.0;
    match datatype {
        DataType::Float => v.clamp(-0.0005 * range, top),
        DataType::Int => v.round().clamp(0.0, top),
    }
}

/// A draw from the exponential distribution with mean 1.
pub fn exp1(rng: &mut ChaCha8Rng) -> f64 {
    -(1.0 - rng.gen::<f64>()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_saturate_and_ints_round() {
        let mut inst = Instrument {
            range: 1024.0,
            gain: [1.0; N_DYES],
            fsc_gain: 1.0,
            ssc_gain: 1.0,
            spill: SPILL,
            range_factor: 1.0,
            datatype: DataType::Int,
            scatter_amp: None,
        };
        assert_eq!(inst.store(5000.0, None), 1023.0);
        assert_eq!(inst.store(-3.0, None), 0.0);
        assert_eq!(inst.store(2.6, Some(2.0)), 5.0);
        inst.datatype = DataType::Float;
        assert_eq!(inst.store(-3.0, None), -0.0005 * 1024.0);
        assert_eq!(inst.store(-0.2, None), -0.2);
    }
}
