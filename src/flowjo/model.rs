//! The workspace model: what a FlowJo 10 `.wsp` says, before anything is
//! evaluated. Values are kept as FlowJo wrote them (data units for rectangle
//! and polygon limits, 256×256 display units for ellipses, FlowJo channel
//! names with the compensation prefix); [`super::strategy`] turns them into a
//! [`crate::gating::GatingStrategy`].

use crate::sample::Warning;

/// A parsed FlowJo workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    /// Where it was read from (for messages).
    pub source: String,
    /// `flowJoVersion` of the root element, e.g. "10.6.2".
    pub flowjo_version: Option<String>,
    /// Sample groups (`Groups/GroupNode`), in file order.
    pub groups: Vec<Group>,
    /// Samples (`SampleList/Sample`), in file order.
    pub samples: Vec<WspSample>,
    /// Elements that were ignored or could not be used, each named.
    pub warnings: Vec<Warning>,
}

impl Workspace {
    /// The group with this name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The sample with this FlowJo `sampleID`.
    pub fn sample_by_id(&self, id: &str) -> Option<&WspSample> {
        self.samples.iter().find(|s| s.sample_id == id)
    }
}

/// One `GroupNode`: a named set of samples and the group's gate template.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Group name ("All Samples", "Compensation", …).
    pub name: String,
    /// `sampleID`s listed in `Group/SampleRefs`.
    pub sample_ids: Vec<String>,
    /// The template gate tree under the `GroupNode`. Its `count`s are stale
    /// leftovers and are not kept (see the module docs).
    pub template: Vec<Population>,
}

/// One `SampleList/Sample`.
#[derive(Debug, Clone, PartialEq)]
pub struct WspSample {
    /// FlowJo's `sampleID` (links `SampleRef`s to samples).
    pub sample_id: String,
    /// `SampleNode/@name`, usually the FCS file name.
    pub name: String,
    /// `DataSet/@uri`, e.g. `file:/V:/data/x.fcs` or a relative name.
    pub uri: Option<String>,
    /// `Keywords/Keyword` pairs as FlowJo saved them (includes `$FIL` when
    /// the file had one).
    pub keywords: Vec<(String, String)>,
    /// How FlowJo compensated this sample.
    pub compensation: Compensation,
    /// Per-channel display transforms (`Transformations/*`).
    pub transforms: Vec<ChannelTransform>,
    /// `SampleNode/@count`: the number of events FlowJo saw (when saved).
    pub count: Option<u64>,
    /// The populations directly under the sample (root's children).
    pub populations: Vec<Population>,
}

impl WspSample {
    /// A saved keyword, by case-insensitive name.
    pub fn keyword(&self, name: &str) -> Option<&str> {
        self.keywords
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The transform FlowJo uses to display this channel (FlowJo name,
    /// possibly with the compensation prefix).
    pub fn transform_for(&self, channel: &str) -> Option<&WspTransform> {
        self.transforms
            .iter()
            .find(|t| t.channel == channel)
            .map(|t| &t.transform)
    }
}

/// A sample's compensation as FlowJo recorded it.
#[derive(Debug, Clone, PartialEq)]
pub enum Compensation {
    /// No `spilloverMatrix`: the sample is analysed uncompensated (or the
    /// gates name compensated channels and the FCS file's own spillover is
    /// meant, which the strategy builder resolves).
    None,
    /// A `transforms:spilloverMatrix` with its coefficients.
    Matrix(SpilloverMatrix),
    /// A `spilloverMatrix` that names the acquisition-defined matrix but
    /// carries no coefficients: use the FCS file's `$SPILLOVER`/`SPILL`.
    AcquisitionDefined {
        /// Channel-name prefix of compensated channels ("Comp-").
        prefix: String,
        /// Channel-name suffix of compensated channels (usually empty).
        suffix: String,
    },
}

/// A FlowJo spillover matrix (`transforms:spilloverMatrix`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpilloverMatrix {
    /// `name` attribute ("Acquisition-defined", a user matrix name…).
    pub name: String,
    /// `id` attribute, when present.
    pub id: Option<String>,
    /// Prefix FlowJo puts before compensated channel names ("Comp-").
    pub prefix: String,
    /// Suffix FlowJo puts after compensated channel names.
    pub suffix: String,
    /// Detector names (FlowJo names, without prefix), in matrix order.
    pub detectors: Vec<String>,
    /// `rows[i][j]`: spillover of detector `i`'s dye into detector `j`
    /// (the `$SPILLOVER` orientation; 1 on the diagonal).
    pub rows: Vec<Vec<f64>>,
}

/// A transform bound to one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelTransform {
    /// FlowJo channel name (as in gate dimensions).
    pub channel: String,
    /// The transform.
    pub transform: WspTransform,
}

/// FlowJo's per-channel display transforms. Parameters as FlowJo names them.
#[derive(Debug, Clone, PartialEq)]
pub enum WspTransform {
    /// `transforms:linear` (minRange, maxRange, gain).
    Linear {
        min_range: f64,
        max_range: f64,
        gain: f64,
    },
    /// `transforms:log` (offset = lowest displayed value, decades).
    Log { offset: f64, decades: f64 },
    /// `transforms:fasinh` (Gating-ML fasinh with T, M, A; FlowJo also
    /// writes W, length and maxRange, which do not change the mapping).
    Fasinh { t: f64, m: f64, a: f64 },
    /// `transforms:logicle` (Gating-ML logicle parameters).
    Logicle { t: f64, w: f64, m: f64, a: f64 },
    /// `transforms:hyperlog` (Gating-ML hyperlog parameters).
    Hyperlog { t: f64, w: f64, m: f64, a: f64 },
    /// `transforms:biex`: FlowJo's own biexponential (width basis, extra
    /// negative decades, positive decades, top of scale).
    Biex {
        width: f64,
        neg: f64,
        pos: f64,
        max_range: f64,
    },
    /// A transform element this reader does not know (e.g. FlowJo's
    /// `miltenyi`); kept so that gates needing the channel's display scale
    /// fail with its name instead of silently using a linear axis.
    Unsupported { element: String },
}

/// One node of the population hierarchy.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    /// `name` attribute (a path component; may contain spaces, '+', ',').
    pub name: String,
    /// `owningGroup`: empty for a sample-specific gate.
    pub owning_group: String,
    /// What selects this population from its parent.
    pub gate: PopulationGate,
    /// `count` FlowJo saved (only meaningful under a `SampleNode`; `None`
    /// when absent or negative, which FlowJo writes for "not computed").
    pub count: Option<u64>,
    /// Child populations (`Subpopulations`).
    pub children: Vec<Population>,
    /// 1-based line of the element in the workspace (for messages).
    pub line: u32,
}

/// The selection rule of a population.
#[derive(Debug, Clone, PartialEq)]
pub enum PopulationGate {
    /// A geometric gate (`Population/Gate/gating:*`).
    Gate(WspGate),
    /// `AndNode`/`OrNode`/`NotNode` over other populations, referenced by
    /// their '/'-separated path from the root (without "root").
    Boolean { op: BoolOp, dependents: Vec<String> },
    /// A gate this reader cannot evaluate (unknown element or invalid
    /// geometry). The population and its descendants get no count.
    Unsupported {
        /// What it is, e.g. "gating:CurlyQuadGate" or "PolygonGate with 1 vertex".
        what: String,
    },
}

/// Boolean operators of FlowJo's Boolean nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolOp {
    And,
    Or,
    Not,
}

/// A geometric FlowJo gate, in FlowJo's own coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct WspGate {
    /// `gating:id` (FlowJo's numeric-ish id such as "ID1727162765").
    pub id: Option<String>,
    /// False when `eventsInside="0"`: the population is the complement.
    pub events_inside: bool,
    /// The geometry.
    pub shape: GateShape,
}

/// Gate geometry. Channel names are FlowJo names (with compensation prefix).
#[derive(Debug, Clone, PartialEq)]
pub enum GateShape {
    /// `gating:RectangleGate`: limits in data units, either side may be
    /// open (FlowJo quadrants are saved as four of these).
    Rectangle { dims: Vec<RangeDim> },
    /// `gating:PolygonGate`: vertices in data units, drawn (and evaluated)
    /// on the channels' display transforms.
    Polygon {
        channels: [String; 2],
        vertices: Vec<[f64; 2]>,
    },
    /// `gating:EllipsoidGate`: two foci and four edge points in the
    /// 256×256 display space.
    Ellipse {
        channels: [String; 2],
        foci: [[f64; 2]; 2],
        edges: Vec<[f64; 2]>,
    },
}

/// One rectangle dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeDim {
    pub channel: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Population {
    /// Calls `f` on this population and every descendant, depth first, with
    /// the path of the node ("A/B/C").
    pub fn walk<'a>(&'a self, prefix: &str, f: &mut impl FnMut(&str, &'a Population)) {
        let path = if prefix.is_empty() {
            self.name.clone()
        } else {
            format!("{prefix}/{}", self.name)
        };
        f(&path, self);
        for c in &self.children {
            c.walk(&path, f);
        }
    }
}
