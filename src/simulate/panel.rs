//! The antibody panel and the ways labs export it.
//!
//! One tube, ten fluorescent markers on a three-laser instrument (violet, blue,
//! yellow-green/red), plus FSC-A, FSC-H, SSC-A and Time: fourteen parameters.
//! Every dye has one primary detector; [`SPILL`] says how much of it the other
//! detectors see. What differs between labs is only how the same measurement
//! is *written down*: parameter names, `$PnS` label spellings, parameter order,
//! `$SPILLOVER` order, range, data type and byte order — the [`Style`]s.

/// The fluorescent markers, in dye (= primary detector) order.
///
/// The index of a marker is the row of [`SPILL`] and the position of its value
/// in every per-event dye vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Marker {
    Cd3,
    Viability,
    Ki67,
    Nkg2a,
    Cd57,
    Cd45,
    Nkg2c,
    Cd56,
    Kir,
    Cd16,
}

/// Number of fluorescent markers (= dyes = fluorescence detectors).
pub const N_DYES: usize = 10;

impl Marker {
    /// All markers in dye order.
    pub const ALL: [Marker; N_DYES] = [
        Marker::Cd3,
        Marker::Viability,
        Marker::Ki67,
        Marker::Nkg2a,
        Marker::Cd57,
        Marker::Cd45,
        Marker::Nkg2c,
        Marker::Cd56,
        Marker::Kir,
        Marker::Cd16,
    ];

    /// Position in the dye vector.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The canonical marker name used in truth.json (what a pipeline panel
    /// resolves to a channel).
    pub fn canonical(self) -> &'static str {
        match self {
            Marker::Cd3 => "CD3",
            Marker::Viability => "viability",
            Marker::Ki67 => "Ki-67",
            Marker::Nkg2a => "NKG2A",
            Marker::Cd57 => "CD57",
            Marker::Cd45 => "CD45",
            Marker::Nkg2c => "NKG2C",
            Marker::Cd56 => "CD56",
            Marker::Kir => "KIR",
            Marker::Cd16 => "CD16",
        }
    }

    /// The fluorochrome conjugated to this marker in the panel.
    pub fn fluorochrome(self) -> &'static str {
        match self {
            Marker::Cd3 => "BV421",
            Marker::Viability => "Aqua",
            Marker::Ki67 => "BV605",
            Marker::Nkg2a => "BV711",
            Marker::Cd57 => "FITC",
            Marker::Cd45 => "PerCP-Cy5.5",
            Marker::Nkg2c => "PE",
            Marker::Cd56 => "PE-Cy7",
            Marker::Kir => "APC",
            Marker::Cd16 => "APC-H7",
        }
    }
}

/// Spillover of each dye (row, [`Marker`] order) into each detector (column,
/// same order) at reference detector gains, as fractions of the dye's signal
/// in its own detector. Values follow the usual shape of a violet/blue/
/// yellow-green/red panel: the big ones are BV421→BV510, FITC→PE,
/// PerCP-Cy5.5→PE-Cy7 and APC→APC-H7. PerCP-Cy5.5→PE-Cy7 matters most for NK
/// gating: uncompensated, bright CD45 on B and T cells reads as CD56-dim.
pub const SPILL: [[f64; N_DYES]; N_DYES] = [
    // CD3 BV421 → BV421, BV510, BV605, BV711, FITC, PerCP, PE, PE-Cy7, APC, APC-H7
    [1.0, 0.18, 0.02, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    // Viability Aqua (BV510 detector)
    [0.02, 1.0, 0.09, 0.03, 0.06, 0.01, 0.0, 0.0, 0.0, 0.0],
    // Ki-67 BV605
    [0.0, 0.01, 1.0, 0.12, 0.0, 0.04, 0.03, 0.01, 0.0, 0.0],
    // NKG2A BV711
    [0.0, 0.0, 0.01, 1.0, 0.0, 0.06, 0.0, 0.02, 0.01, 0.0],
    // CD57 FITC
    [0.0, 0.02, 0.0, 0.0, 1.0, 0.04, 0.22, 0.005, 0.0, 0.0],
    // CD45 PerCP-Cy5.5
    [0.0, 0.0, 0.0, 0.08, 0.0, 1.0, 0.01, 0.12, 0.03, 0.02],
    // NKG2C PE
    [0.0, 0.0, 0.04, 0.0, 0.01, 0.08, 1.0, 0.04, 0.0, 0.0],
    // CD56 PE-Cy7
    [0.0, 0.0, 0.0, 0.01, 0.0, 0.03, 0.02, 1.0, 0.0, 0.06],
    // KIR APC
    [0.0, 0.0, 0.0, 0.03, 0.0, 0.02, 0.0, 0.0, 1.0, 0.10],
    // CD16 APC-H7
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.03, 1.0],
];

/// Autofluorescence of a resting lymphocyte in each detector (reference
/// 18-bit units): highest in the violet and blue detectors, as in real cells.
/// Populations scale it (granulocytes, eosinophils most).
pub const AUTOFLUORESCENCE: [f64; N_DYES] = [
    120.0, 250.0, 60.0, 40.0, 150.0, 60.0, 80.0, 20.0, 15.0, 10.0,
];

/// One parameter of the exported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    FscA,
    FscH,
    SscA,
    /// The primary detector of this dye.
    Fluor(Marker),
    Time,
}

/// How the data values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// `$DATATYPE F`, 32-bit floats; negative values kept.
    Float,
    /// `$DATATYPE I`; values rounded, negatives clipped to 0 as on instruments
    /// that store integers.
    Int,
}

/// Byte order of the DATA segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    /// `$BYTEORD 4,3,2,1`.
    Big,
    /// `$BYTEORD 1,2,3,4`.
    Little,
}

/// Instrument range (`$PnR`) of every parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Range {
    /// 65,536 (int data stored in 16 bits).
    Bits16,
    /// 262,144 (BD FACSDiva).
    Bits18,
    /// 1,048,576.
    Bits20,
    /// 16,777,216 (Accuri-like).
    Bits24,
}

impl Range {
    /// `$PnR`.
    pub fn value(self) -> f64 {
        match self {
            Range::Bits16 => 65_536.0,
            Range::Bits18 => 262_144.0,
            Range::Bits20 => 1_048_576.0,
            Range::Bits24 => 16_777_216.0,
        }
    }

    /// Multiplier from the model's reference (18-bit) units to this range:
    /// an instrument with four times the range reports four times the number
    /// for the same light.
    pub fn factor(self) -> f64 {
        self.value() / 262_144.0
    }

    /// `$PnB` for integer data: the smallest byte-aligned width that holds it.
    pub fn int_bits(self) -> u32 {
        match self {
            Range::Bits16 => 16,
            _ => 32,
        }
    }

    /// Parses a command-line spelling (`16bit`, `18bit`, `20bit`, `24bit`).
    pub fn parse(s: &str) -> Option<Range> {
        match s.trim().to_ascii_lowercase().as_str() {
            "16bit" | "16" | "65536" => Some(Range::Bits16),
            "18bit" | "18" | "262144" => Some(Range::Bits18),
            "20bit" | "20" | "1048576" => Some(Range::Bits20),
            "24bit" | "24" | "16777216" => Some(Range::Bits24),
            _ => None,
        }
    }

    /// Name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Range::Bits16 => "16bit",
            Range::Bits18 => "18bit",
            Range::Bits20 => "20bit",
            Range::Bits24 => "24bit",
        }
    }
}

/// A lab's export conventions. The same cells and the same physics; only the
/// way the file is written differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Style {
    /// BD FACSDiva-like: `$PnN` by fluorochrome (`PE-Cy7-A`), short marker
    /// labels (`CD56`, `pan-KIR`), 18-bit float big-endian, `$SPILLOVER` in
    /// parameter order.
    Diva,
    /// CytExpert-like: Time first, detector names (`PC7-A`), labels with the
    /// fluorochrome (`CD56 PE-Cy7`, `CD158 APC`), 20-bit float little-endian,
    /// `$SPILLOVER` sorted by name.
    Cytoflex,
    /// Navios/Kaluza-like: `FL1-A`…`FL10-A`, gene-style labels (`NCAM1`,
    /// `CD159c`, `KIR2DL1/S1/S3/S5`), 20-bit integers little-endian, scatter
    /// amplifier gain `$PnG 2`, `$SPILLOVER` in reverse order.
    Navios,
}

impl Style {
    /// All styles (the order `mixed` cycles through).
    pub const ALL: [Style; 3] = [Style::Diva, Style::Cytoflex, Style::Navios];

    /// Name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Style::Diva => "diva",
            Style::Cytoflex => "cytoflex",
            Style::Navios => "navios",
        }
    }

    /// Parses a command-line spelling.
    pub fn parse(s: &str) -> Option<Style> {
        Style::ALL
            .into_iter()
            .find(|st| st.name().eq_ignore_ascii_case(s.trim()))
    }

    /// `$CYT` (marked as simulated: these files never came off an instrument).
    pub fn cytometer(self) -> &'static str {
        match self {
            Style::Diva => "LSRFortessa (simulated)",
            Style::Cytoflex => "CytoFLEX S (simulated)",
            Style::Navios => "Navios EX (simulated)",
        }
    }

    /// Default range, data type and byte order.
    pub fn defaults(self) -> (Range, DataType, ByteOrder) {
        match self {
            Style::Diva => (Range::Bits18, DataType::Float, ByteOrder::Big),
            Style::Cytoflex => (Range::Bits20, DataType::Float, ByteOrder::Little),
            Style::Navios => (Range::Bits20, DataType::Int, ByteOrder::Little),
        }
    }

    /// `$TIMESTEP` in seconds.
    pub fn timestep(self) -> f64 {
        match self {
            Style::Diva => 0.01,
            Style::Cytoflex => 0.001,
            Style::Navios => 0.01,
        }
    }

    /// `$PnG` written for the scatter parameters (raw = scale × gain).
    pub fn scatter_gain(self) -> Option<f64> {
        match self {
            Style::Navios => Some(2.0),
            _ => None,
        }
    }

    /// `$PnN` of a marker's detector.
    pub fn detector_name(self, m: Marker) -> &'static str {
        match self {
            Style::Diva => match m {
                Marker::Cd3 => "BV421-A",
                Marker::Viability => "BV510-A",
                Marker::Ki67 => "BV605-A",
                Marker::Nkg2a => "BV711-A",
                Marker::Cd57 => "FITC-A",
                Marker::Cd45 => "PerCP-Cy5-5-A",
                Marker::Nkg2c => "PE-A",
                Marker::Cd56 => "PE-Cy7-A",
                Marker::Kir => "APC-A",
                Marker::Cd16 => "APC-H7-A",
            },
            Style::Cytoflex => match m {
                Marker::Cd3 => "PB450-A",
                Marker::Viability => "KO525-A",
                Marker::Ki67 => "V610-A",
                Marker::Nkg2a => "V710-A",
                Marker::Cd57 => "FITC-A",
                Marker::Cd45 => "PC5.5-A",
                Marker::Nkg2c => "PE-A",
                Marker::Cd56 => "PC7-A",
                Marker::Kir => "APC-A",
                Marker::Cd16 => "APC-A750-A",
            },
            Style::Navios => match m {
                Marker::Cd57 => "FL1-A",
                Marker::Nkg2c => "FL2-A",
                Marker::Cd45 => "FL3-A",
                Marker::Cd56 => "FL4-A",
                Marker::Kir => "FL5-A",
                Marker::Cd16 => "FL6-A",
                Marker::Cd3 => "FL7-A",
                Marker::Viability => "FL8-A",
                Marker::Ki67 => "FL9-A",
                Marker::Nkg2a => "FL10-A",
            },
        }
    }

    /// `$PnS` of a marker's detector: the label spellings labs really use.
    pub fn label(self, m: Marker) -> &'static str {
        match self {
            Style::Diva => match m {
                Marker::Cd3 => "CD3",
                Marker::Viability => "LIVE/DEAD Aqua",
                Marker::Ki67 => "Ki-67",
                Marker::Nkg2a => "NKG2A",
                Marker::Cd57 => "CD57",
                Marker::Cd45 => "CD45",
                Marker::Nkg2c => "NKG2C",
                Marker::Cd56 => "CD56",
                Marker::Kir => "pan-KIR",
                Marker::Cd16 => "CD16",
            },
            Style::Cytoflex => match m {
                Marker::Cd3 => "CD3 BV421",
                Marker::Viability => "Zombie Aqua",
                Marker::Ki67 => "Ki67 BV605",
                Marker::Nkg2a => "CD159a BV711",
                Marker::Cd57 => "CD57 FITC",
                Marker::Cd45 => "CD45 PerCP-Cy5.5",
                Marker::Nkg2c => "NKG2C PE",
                Marker::Cd56 => "CD56 PE-Cy7",
                Marker::Kir => "CD158 APC",
                Marker::Cd16 => "CD16 APC-H7",
            },
            Style::Navios => match m {
                Marker::Cd3 => "CD3",
                Marker::Viability => "L/D Aqua",
                Marker::Ki67 => "Ki67",
                Marker::Nkg2a => "NKG2A",
                Marker::Cd57 => "CD57",
                Marker::Cd45 => "CD45",
                Marker::Nkg2c => "CD159c",
                Marker::Cd56 => "NCAM1",
                Marker::Kir => "KIR2DL1/S1/S3/S5",
                Marker::Cd16 => "CD16",
            },
        }
    }

    /// The parameters in the order this lab's files list them.
    pub fn params(self) -> Vec<Param> {
        use Marker::*;
        let fluor = |ms: &[Marker]| ms.iter().map(|&m| Param::Fluor(m)).collect::<Vec<_>>();
        let scatter = [Param::FscA, Param::FscH, Param::SscA];
        let mut out = Vec::with_capacity(14);
        match self {
            // Diva lists detectors laser by laser: blue, yellow-green, red, violet.
            Style::Diva => {
                out.extend(scatter);
                out.extend(fluor(&[
                    Cd57, Cd45, Nkg2c, Cd56, Kir, Cd16, Cd3, Viability, Ki67, Nkg2a,
                ]));
                out.push(Param::Time);
            }
            Style::Cytoflex => {
                out.push(Param::Time);
                out.extend(scatter);
                out.extend(fluor(&[
                    Cd3, Viability, Ki67, Nkg2a, Cd57, Cd45, Nkg2c, Cd56, Kir, Cd16,
                ]));
            }
            // FL1…FL10, then time; scatter after the fluorescence.
            Style::Navios => {
                out.extend(fluor(&[
                    Cd57, Nkg2c, Cd45, Cd56, Kir, Cd16, Cd3, Viability, Ki67, Nkg2a,
                ]));
                out.extend(scatter);
                out.push(Param::Time);
            }
        }
        out
    }

    /// The markers in the order `$SPILLOVER` lists them: parameter order,
    /// sorted by detector name, or reversed — all seen in real exports, and
    /// readers must map by name, not by position.
    pub fn spillover_order(self) -> Vec<Marker> {
        let in_params: Vec<Marker> = self
            .params()
            .into_iter()
            .filter_map(|p| match p {
                Param::Fluor(m) => Some(m),
                _ => None,
            })
            .collect();
        match self {
            Style::Diva => in_params,
            Style::Cytoflex => {
                let mut v = in_params;
                v.sort_by_key(|&m| self.detector_name(m));
                v
            }
            Style::Navios => in_params.into_iter().rev().collect(),
        }
    }

    /// This lab's detector gains (relative to the reference), fixed per lab:
    /// different PMT voltages make the same cell read brighter or dimmer.
    pub fn lab_gain(self, m: Marker) -> f64 {
        let i = m.index();
        match self {
            Style::Diva => 1.0,
            Style::Cytoflex => [1.4, 1.2, 1.6, 1.3, 0.9, 1.1, 1.5, 0.8, 1.2, 1.3][i],
            Style::Navios => [0.7, 0.8, 0.9, 0.75, 1.1, 0.9, 0.7, 1.2, 0.8, 0.85][i],
        }
    }
}

/// The name of a parameter in a style.
pub fn param_name(style: Style, p: Param) -> &'static str {
    match p {
        Param::FscA => "FSC-A",
        Param::FscH => "FSC-H",
        Param::SscA => "SSC-A",
        Param::Fluor(m) => style.detector_name(m),
        Param::Time => match style {
            Style::Navios => "TIME",
            _ => "Time",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_style_lists_each_parameter_once() {
        for st in Style::ALL {
            let ps = st.params();
            assert_eq!(ps.len(), 14, "{}", st.name());
            for (i, a) in ps.iter().enumerate() {
                for b in &ps[i + 1..] {
                    assert_ne!(param_name(st, *a), param_name(st, *b));
                }
            }
            let order = st.spillover_order();
            assert_eq!(order.len(), N_DYES);
        }
    }

    #[test]
    fn spill_diagonal_is_one() {
        for (i, row) in SPILL.iter().enumerate() {
            assert_eq!(row[i], 1.0);
        }
    }
}
