//! Run-time CPU dispatch for the loops that dominate a file's cost.
//!
//! The binary targets baseline x86-64 (SSE2), so that one build runs on every
//! machine of a lab or a cluster: a binary built on a login node with
//! `-C target-cpu=native` dies with "illegal instruction" on an older compute
//! node. The hot loops — sorting, densities, medians, membership tests — are
//! therefore compiled three times by [`multiversion!`]: portable, AVX2
//! (x86-64-v3) and AVX-512 (x86-64-v4), and the widest tier the CPU supports
//! is picked once per process. Hand-written kernels (the SOM step,
//! compensation blocks, the median bracket pass, compaction) dispatch on the
//! same [`tier`], so one setting governs them all.
//!
//! Every tier performs the same IEEE operations in the same order: Rust never
//! contracts `a * b + c` into a fused multiply-add nor reorders a sum unless
//! the code says so, so wider vectors change the speed, never a bit of the
//! results. `NKFLOW_SIMD=portable|avx2|avx512` caps the tier (never above what
//! the CPU has), which is how the tests check that claim on one machine.

use std::sync::OnceLock;

/// An instruction-set tier, widest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Baseline x86-64 (SSE2), or any other architecture.
    Portable,
    /// x86-64-v3: AVX2, FMA, BMI1/2, LZCNT, POPCNT.
    Avx2,
    /// x86-64-v4: the v3 set plus AVX-512 F/BW/DQ/VL (compilers ≥ 1.89).
    Avx512,
}

impl Tier {
    /// The name `NKFLOW_SIMD` takes and run.json reports.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Portable => "portable",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
        }
    }
}

/// The tier the hot loops run at: the widest the CPU supports, capped by
/// `NKFLOW_SIMD` when set. Detected once per process.
pub fn tier() -> Tier {
    static TIER: OnceLock<Tier> = OnceLock::new();
    *TIER.get_or_init(|| {
        // Any other value (or none) leaves the CPU's own tier.
        let cap = match std::env::var("NKFLOW_SIMD")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            Ok("portable") => Tier::Portable,
            Ok("avx2") => Tier::Avx2,
            _ => Tier::Avx512,
        };
        detected().min(cap)
    })
}

#[cfg(target_arch = "x86_64")]
fn detected() -> Tier {
    use std::arch::is_x86_feature_detected as has;
    let v3 = has!("avx2") && has!("fma") && has!("bmi1") && has!("bmi2") && has!("lzcnt");
    let v3 = v3 && has!("popcnt");
    match (v3, avx512_detected()) {
        (true, true) => Tier::Avx512,
        (true, false) => Tier::Avx2,
        _ => Tier::Portable,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detected() -> Tier {
    Tier::Portable
}

/// AVX-512 code needs `#[target_feature(enable = "avx512…")]`, stable since
/// Rust 1.89; older compilers never select that tier.
#[cfg(target_arch = "x86_64")]
#[rustversion::since(1.89)]
#[clippy::msrv = "1.89"]
fn avx512_detected() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl")
}

#[cfg(target_arch = "x86_64")]
#[rustversion::before(1.89)]
fn avx512_detected() -> bool {
    false
}

/// Defines a function whose body is compiled for each [`Tier`] and run at
/// the widest one [`tier`] allows.
///
/// The body is an `#[inline(always)]` function, so the loops in it (and the
/// `#[inline]` helpers it calls) are vectorised for each tier's instruction
/// set; functions it calls that are not inlined run at the baseline. Takes a
/// plain `fn` with identifier arguments, no generics.
macro_rules! multiversion {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                portable($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[rustversion::since(1.89)]
            #[target_feature(
                enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi1,bmi2,lzcnt,popcnt"
            )]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                portable($($arg),*)
            }

            // Never selected: `tier()` reports no AVX-512 before Rust 1.89.
            #[cfg(target_arch = "x86_64")]
            #[rustversion::before(1.89)]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                portable($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            match $crate::simd::tier() {
                // SAFETY: `tier()` reports a tier only when the CPU has
                // every feature the function was compiled for.
                $crate::simd::Tier::Avx512 => return unsafe { avx512($($arg),*) },
                // SAFETY: as above.
                $crate::simd::Tier::Avx2 => return unsafe { avx2($($arg),*) },
                $crate::simd::Tier::Portable => {}
            }
            portable($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    multiversion! {
        /// Sums in index order: every tier must give the same bits.
        fn ordered_sum(v: &[f64]) -> f64 {
            let mut s = 0.0;
            for x in v {
                s += x * 1.000_000_1 + 0.5;
            }
            s
        }
    }

    #[test]
    fn every_tier_gives_the_portable_bits() {
        let v: Vec<f64> = (0..10_000).map(|i| (i as f64).sin() * 1e3).collect();
        let mut s = 0.0;
        for x in &v {
            s += x * 1.000_000_1 + 0.5;
        }
        assert_eq!(ordered_sum(&v).to_bits(), s.to_bits());
        assert!(tier() >= Tier::Portable);
    }
}
