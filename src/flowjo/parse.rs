//! Reading a `.wsp` (FlowJo 10 XML) into the [`Workspace`] model.
//!
//! roxmltree gives a read-only DOM that never panics on bad input. Elements
//! are matched by local name: FlowJo writes gates and transforms in the
//! Gating-ML 2.0 namespaces (`gating:`, `transforms:`, `data-type:`) and
//! everything else without a namespace, and some writers (FlowKit's exporter
//! among them) differ in which attributes carry a prefix, so attributes are
//! matched by local name too.
//!
//! Policy: a document that is not well-formed XML, or whose root is not a
//! `Workspace`, is an error. Inside a workspace, anything this reader cannot
//! use becomes a [`Warning`] naming the element and its line, and the part it
//! affects (one population, one transform) is marked unusable; the rest of the
//! workspace is still read.

use std::path::Path;

use roxmltree::{Document, Node};

use super::model::*;
use super::FlowJoError;
use crate::sample::Warning;

/// Reads and parses a workspace file.
pub fn read(path: impl AsRef<Path>) -> Result<Workspace, FlowJoError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| FlowJoError::Io {
        path: path.display().to_string(),
        source,
    })?;
    // FlowJo writes UTF-8; a stray Latin-1 byte in a keyword value should
    // not make the whole workspace unreadable.
    let text = String::from_utf8_lossy(&bytes);
    parse_str(&text, &path.display().to_string())
}

/// Parses workspace XML; `source` names it in messages.
pub fn parse_str(text: &str, source: &str) -> Result<Workspace, FlowJoError> {
    let doc = Document::parse(text).map_err(|e| {
        let pos = e.pos();
        let (line, column, message) = match e {
            // roxmltree places this at the root's start; the fault is the end.
            roxmltree::Error::UnclosedRootNode => (
                text.lines().count().max(1) as u32,
                text.lines()
                    .last()
                    .map_or(1, |l| l.chars().count() as u32 + 1),
                "the file ends before the root element is closed (truncated?)".to_string(),
            ),
            _ => (pos.row, pos.col, e.to_string()),
        };
        FlowJoError::Xml {
            path: source.to_string(),
            line,
            column,
            message,
        }
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "Workspace" {
        return Err(FlowJoError::NotWorkspace {
            path: source.to_string(),
            found: root.tag_name().name().to_string(),
        });
    }
    let mut p = Parser {
        doc: &doc,
        warnings: Vec::new(),
    };
    let mut ws = Workspace {
        source: source.to_string(),
        flowjo_version: attr(root, "flowJoVersion").map(str::to_string),
        groups: Vec::new(),
        samples: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some(groups) = child(root, "Groups") {
        for g in elements(groups).filter(|n| n.tag_name().name() == "GroupNode") {
            ws.groups.push(p.group(g));
        }
    }
    match child(root, "SampleList") {
        Some(list) => {
            for s in elements(list) {
                if s.tag_name().name() == "Sample" {
                    if let Some(sample) = p.sample(s) {
                        ws.samples.push(sample);
                    }
                } else {
                    p.warn(
                        s,
                        format!("ignored <{}> in SampleList", s.tag_name().name()),
                    );
                }
            }
        }
        None => p.warn(
            root,
            "workspace has no SampleList: no samples to analyse".into(),
        ),
    }
    ws.warnings = p.warnings;
    Ok(ws)
}

struct Parser<'a, 'input> {
    doc: &'a Document<'input>,
    warnings: Vec<Warning>,
}

/// Why a gate element could not be used (becomes an `Unsupported` population
/// plus a warning).
struct Bad(String);

impl Parser<'_, '_> {
    fn line(&self, n: Node) -> u32 {
        self.doc.text_pos_at(n.range().start).row
    }

    fn warn(&mut self, n: Node, message: String) {
        let line = self.line(n);
        self.warnings.push(Warning {
            message: format!("line {line}: {message}"),
        });
    }

    fn group(&mut self, n: Node) -> Group {
        let name = attr(n, "name").unwrap_or("").to_string();
        let sample_ids = child(n, "Group")
            .and_then(|g| child(g, "SampleRefs"))
            .map(|refs| {
                elements(refs)
                    .filter(|r| r.tag_name().name() == "SampleRef")
                    .filter_map(|r| attr(r, "sampleID").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let template = child(n, "Subpopulations")
            .map(|s| self.subpopulations(s, false))
            .unwrap_or_default();
        Group {
            name,
            sample_ids,
            template,
        }
    }

    fn sample(&mut self, n: Node) -> Option<WspSample> {
        let Some(node) = child(n, "SampleNode") else {
            self.warn(n, "Sample without a SampleNode skipped".into());
            return None;
        };
        let dataset = child(n, "DataSet");
        let sample_id = attr(node, "sampleID")
            .or_else(|| dataset.and_then(|d| attr(d, "sampleID")))
            .unwrap_or("")
            .to_string();
        let name = attr(node, "name").unwrap_or("").to_string();
        let keywords = child(n, "Keywords")
            .map(|k| {
                elements(k)
                    .filter(|e| e.tag_name().name() == "Keyword")
                    .filter_map(|e| {
                        Some((
                            attr(e, "name")?.to_string(),
                            attr(e, "value").unwrap_or("").to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let compensation = match child(n, "spilloverMatrix") {
            Some(m) => self.spillover(m, &name),
            None => Compensation::None,
        };
        let transforms = child(n, "Transformations")
            .map(|t| self.transforms(t, &name))
            .unwrap_or_default();
        let populations = child(node, "Subpopulations")
            .map(|s| self.subpopulations(s, true))
            .unwrap_or_default();
        Some(WspSample {
            sample_id,
            name,
            uri: dataset.and_then(|d| attr(d, "uri")).map(str::to_string),
            keywords,
            compensation,
            transforms,
            count: count_attr(node),
            populations,
        })
    }

    fn spillover(&mut self, m: Node, sample: &str) -> Compensation {
        let name = attr(m, "name").unwrap_or("").to_string();
        let prefix = attr(m, "prefix").unwrap_or("Comp-").to_string();
        let suffix = attr(m, "suffix").unwrap_or("").to_string();
        if attr(m, "spectral") == Some("1") {
            // FlowJo's spectral (unmixing) matrices are not square and need
            // FlowJo's weighting choice; not supported yet.
            self.warn(
                m,
                format!("sample {sample:?}: spectral spilloverMatrix {name:?} is not supported; the sample is analysed uncompensated"),
            );
            return Compensation::None;
        }
        let detectors: Vec<String> = child(m, "parameters")
            .map(|ps| {
                elements(ps)
                    .filter(|p| p.tag_name().name() == "parameter")
                    .filter_map(|p| attr(p, "name").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let spills: Vec<Node> = elements(m)
            .filter(|e| e.tag_name().name() == "spillover")
            .collect();
        if spills.is_empty() {
            return Compensation::AcquisitionDefined { prefix, suffix };
        }
        // Rows and columns are each named; place every coefficient by name so
        // a writer that orders columns differently from `parameters` still
        // gives the right matrix.
        let k = detectors.len();
        let mut rows = vec![vec![f64::NAN; k]; k];
        for s in &spills {
            let Some(i) = attr(*s, "parameter").and_then(|r| detectors.iter().position(|d| d == r))
            else {
                self.warn(*s, format!("sample {sample:?}: spillover row names no listed detector; matrix {name:?} ignored"));
                return Compensation::None;
            };
            for (pos, c) in elements(*s)
                .filter(|e| e.tag_name().name() == "coefficient")
                .enumerate()
            {
                let j = attr(c, "parameter")
                    .and_then(|p| detectors.iter().position(|d| d == p))
                    .unwrap_or(pos);
                let v = attr(c, "value").and_then(parse_f64);
                match (rows.get_mut(i).and_then(|r| r.get_mut(j)), v) {
                    (Some(slot), Some(v)) => *slot = v,
                    _ => {
                        self.warn(c, format!("sample {sample:?}: bad spillover coefficient; matrix {name:?} ignored"));
                        return Compensation::None;
                    }
                }
            }
        }
        if rows.iter().flatten().any(|v| !v.is_finite()) {
            self.warn(m, format!("sample {sample:?}: spilloverMatrix {name:?} is incomplete ({k} detectors); it is ignored"));
            return Compensation::None;
        }
        Compensation::Matrix(SpilloverMatrix {
            name,
            id: attr(m, "id").map(str::to_string),
            prefix,
            suffix,
            detectors,
            rows,
        })
    }

    fn transforms(&mut self, t: Node, sample: &str) -> Vec<ChannelTransform> {
        let mut out = Vec::new();
        for x in elements(t) {
            let kind = x.tag_name().name();
            let Some(channel) = child(x, "parameter").and_then(|p| attr(p, "name")) else {
                self.warn(
                    x,
                    format!("sample {sample:?}: transform <{kind}> names no channel; ignored"),
                );
                continue;
            };
            let num = |k: &str| attr(x, k).and_then(parse_f64);
            let transform = match kind {
                "linear" => Some(WspTransform::Linear {
                    min_range: num("minRange").unwrap_or(0.0),
                    max_range: num("maxRange").unwrap_or(262144.0),
                    gain: num("gain").unwrap_or(1.0),
                }),
                "log" => match (num("offset"), num("decades")) {
                    (Some(offset), Some(decades)) if offset > 0.0 && decades > 0.0 => {
                        Some(WspTransform::Log { offset, decades })
                    }
                    _ => None,
                },
                "fasinh" => match (num("T"), num("M"), num("A")) {
                    (Some(t), Some(m), Some(a)) => Some(WspTransform::Fasinh { t, m, a }),
                    _ => None,
                },
                "logicle" | "hyperlog" => match (num("T"), num("W"), num("M"), num("A")) {
                    (Some(t), Some(w), Some(m), Some(a)) if kind == "logicle" => {
                        Some(WspTransform::Logicle { t, w, m, a })
                    }
                    (Some(t), Some(w), Some(m), Some(a)) => {
                        Some(WspTransform::Hyperlog { t, w, m, a })
                    }
                    _ => None,
                },
                "biex" => match (num("width"), num("neg"), num("pos"), num("maxRange")) {
                    (Some(width), Some(neg), Some(pos), Some(max_range)) => {
                        Some(WspTransform::Biex {
                            width,
                            neg,
                            pos,
                            max_range,
                        })
                    }
                    _ => None,
                },
                other => {
                    self.warn(
                        x,
                        format!("sample {sample:?}: unsupported transform <{other}> on channel {channel:?}; polygons and ellipses drawn on it cannot be evaluated"),
                    );
                    Some(WspTransform::Unsupported {
                        element: other.to_string(),
                    })
                }
            };
            match transform {
                Some(transform) => out.push(ChannelTransform {
                    channel: channel.to_string(),
                    transform,
                }),
                None => self.warn(
                    x,
                    format!("sample {sample:?}: transform <{kind}> on channel {channel:?} has missing or invalid parameters; ignored"),
                ),
            }
        }
        out
    }

    /// Children of a `Subpopulations` element. `counts` is false under a
    /// `GroupNode`, whose counts are stale template values.
    fn subpopulations(&mut self, s: Node, counts: bool) -> Vec<Population> {
        let mut out = Vec::new();
        for n in elements(s) {
            let kind = n.tag_name().name();
            let gate = match kind {
                "Population" => self.population_gate(n),
                "AndNode" | "OrNode" | "NotNode" => {
                    let op = match kind {
                        "AndNode" => BoolOp::And,
                        "OrNode" => BoolOp::Or,
                        _ => BoolOp::Not,
                    };
                    self.boolean(n, op)
                }
                // Statistics are FlowJo outputs, not populations.
                "Statistic" => continue,
                other => {
                    self.warn(
                        n,
                        format!("ignored unknown element <{other}> in Subpopulations"),
                    );
                    continue;
                }
            };
            let children = child(n, "Subpopulations")
                .map(|c| self.subpopulations(c, counts))
                .unwrap_or_default();
            out.push(Population {
                name: attr(n, "name").unwrap_or("").to_string(),
                owning_group: attr(n, "owningGroup").unwrap_or("").to_string(),
                gate,
                count: if counts { count_attr(n) } else { None },
                children,
                line: self.line(n),
            });
        }
        out
    }

    fn boolean(&mut self, n: Node, op: BoolOp) -> PopulationGate {
        let dependents: Vec<String> = child(n, "Dependents")
            .map(|d| {
                elements(d)
                    .filter(|e| e.tag_name().name() == "Dependent")
                    .filter_map(|e| attr(e, "name").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let ok = match op {
            BoolOp::Not => dependents.len() == 1,
            _ => !dependents.is_empty(),
        };
        if !ok {
            let what = format!("{op:?} node with {} operands", dependents.len());
            self.warn(
                n,
                format!("population {:?}: {what}", attr(n, "name").unwrap_or("")),
            );
            return PopulationGate::Unsupported { what };
        }
        PopulationGate::Boolean { op, dependents }
    }

    fn population_gate(&mut self, pop: Node) -> PopulationGate {
        let name = attr(pop, "name").unwrap_or("");
        let gate_el = child(pop, "Gate").and_then(|g| elements(g).next());
        let Some(g) = gate_el else {
            let what = "population without a gate".to_string();
            self.warn(pop, format!("population {name:?}: {what}"));
            return PopulationGate::Unsupported { what };
        };
        match self.gate(g) {
            Ok(gate) => PopulationGate::Gate(gate),
            Err(Bad(what)) => {
                self.warn(
                    g,
                    format!(
                        "population {name:?}: {what}; it and its subpopulations are not evaluated"
                    ),
                );
                PopulationGate::Unsupported { what }
            }
        }
    }

    fn gate(&mut self, g: Node) -> Result<WspGate, Bad> {
        let kind = g.tag_name().name();
        let dims: Vec<Node> = elements(g)
            .filter(|e| e.tag_name().name() == "dimension")
            .collect();
        let channel_of = |d: &Node| -> Result<String, Bad> {
            elements(*d)
                .find(|e| e.tag_name().name() == "fcs-dimension")
                .and_then(|e| attr(e, "name"))
                .map(str::to_string)
                .ok_or_else(|| Bad(format!("{kind} dimension without an fcs-dimension name")))
        };
        let shape = match kind {
            "RectangleGate" => {
                let mut out = Vec::new();
                for d in &dims {
                    let bound = |k: &str| -> Result<Option<f64>, Bad> {
                        match attr(*d, k) {
                            None => Ok(None),
                            Some(v) => parse_f64(v).map(Some).ok_or_else(|| {
                                Bad(format!("RectangleGate {k} {v:?} is not a number"))
                            }),
                        }
                    };
                    out.push(RangeDim {
                        channel: channel_of(d)?,
                        min: bound("min")?,
                        max: bound("max")?,
                    });
                }
                if out.is_empty() {
                    return Err(Bad("RectangleGate without dimensions".into()));
                }
                GateShape::Rectangle { dims: out }
            }
            "PolygonGate" => {
                let channels = two_channels(&dims, kind, channel_of)?;
                let vertices = elements(g)
                    .filter(|e| e.tag_name().name() == "vertex")
                    .map(|v| vertex(v, kind))
                    .collect::<Result<Vec<_>, _>>()?;
                if vertices.len() < 3 {
                    return Err(Bad(format!("PolygonGate with {} vertices", vertices.len())));
                }
                GateShape::Polygon { channels, vertices }
            }
            "EllipsoidGate" => {
                let channels = two_channels(&dims, kind, channel_of)?;
                let pts = |tag: &str| -> Result<Vec<[f64; 2]>, Bad> {
                    elements(g)
                        .find(|e| e.tag_name().name() == tag)
                        .map(|f| {
                            elements(f)
                                .filter(|e| e.tag_name().name() == "vertex")
                                .map(|v| vertex(v, kind))
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .unwrap_or_else(|| Ok(Vec::new()))
                };
                let foci = pts("foci")?;
                let edges = pts("edge")?;
                let (Some(&f0), Some(&f1)) = (foci.first(), foci.get(1)) else {
                    return Err(Bad(format!(
                        "EllipsoidGate with {} foci (FlowJo writes 2)",
                        foci.len()
                    )));
                };
                if edges.len() < 4 {
                    return Err(Bad(format!(
                        "EllipsoidGate with {} edge points (FlowJo writes 4)",
                        edges.len()
                    )));
                }
                GateShape::Ellipse {
                    channels,
                    foci: [f0, f1],
                    edges,
                }
            }
            other => return Err(Bad(format!("unsupported gate type <{other}>"))),
        };
        Ok(WspGate {
            id: attr(g, "id").map(str::to_string),
            events_inside: attr(g, "eventsInside").map(str::trim) != Some("0"),
            shape,
        })
    }
}

fn two_channels(
    dims: &[Node],
    kind: &str,
    channel_of: impl Fn(&Node) -> Result<String, Bad>,
) -> Result<[String; 2], Bad> {
    match dims {
        [a, b] => Ok([channel_of(a)?, channel_of(b)?]),
        _ => Err(Bad(format!(
            "{kind} with {} dimensions (2 supported)",
            dims.len()
        ))),
    }
}

fn vertex(v: Node, kind: &str) -> Result<[f64; 2], Bad> {
    let coords: Vec<f64> = elements(v)
        .filter(|e| e.tag_name().name() == "coordinate")
        .map(|c| {
            attr(c, "value").and_then(parse_f64).ok_or_else(|| {
                Bad(format!(
                    "{kind} coordinate {:?} is not a number",
                    attr(c, "value").unwrap_or("")
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    match coords[..] {
        [x, y] => Ok([x, y]),
        _ => Err(Bad(format!(
            "{kind} vertex with {} coordinates",
            coords.len()
        ))),
    }
}

/// A finite number, parsed exactly (FlowJo writes Java `Double.toString`).
fn parse_f64(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `count` attribute; FlowJo writes -1 (or nothing) when it never computed it.
fn count_attr(n: Node) -> Option<u64> {
    attr(n, "count").and_then(|c| c.trim().parse::<u64>().ok())
}

/// An attribute by local name, whatever its namespace.
fn attr<'a>(n: Node<'a, '_>, local: &str) -> Option<&'a str> {
    n.attributes()
        .find(|a| a.name() == local)
        .map(|a| a.value())
}

/// Element children.
fn elements<'a, 'input>(n: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    n.children().filter(|c| c.is_element())
}

/// The first element child with this local name.
fn child<'a, 'input>(n: Node<'a, 'input>, local: &str) -> Option<Node<'a, 'input>> {
    elements(n).find(|c| c.tag_name().name() == local)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WSP: &str = r#"<?xml version="1.0"?>
<Workspace flowJoVersion="10.7.1" xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
  xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
  xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
 <Groups><GroupNode name="All Samples"><Group name="All Samples"><SampleRefs><SampleRef sampleID="7"/></SampleRefs></Group>
  <Subpopulations><Population name="P" owningGroup="All Samples" count="5"><Gate><gating:RectangleGate>
   <gating:dimension gating:min="1"><data-type:fcs-dimension data-type:name="A"/></gating:dimension>
  </gating:RectangleGate></Gate></Population></Subpopulations></GroupNode></Groups>
 <SampleList><Sample>
  <DataSet uri="file:/x/s1.fcs" sampleID="7"/>
  <transforms:spilloverMatrix name="M" prefix="Comp-" suffix="" id="abc">
   <data-type:parameters><data-type:parameter data-type:name="FL1"/><data-type:parameter data-type:name="FL2"/></data-type:parameters>
   <transforms:spillover data-type:parameter="FL1"><transforms:coefficient data-type:parameter="FL1" transforms:value="1"/><transforms:coefficient data-type:parameter="FL2" transforms:value="0.2"/></transforms:spillover>
   <transforms:spillover data-type:parameter="FL2"><transforms:coefficient data-type:parameter="FL1" transforms:value="0.05"/><transforms:coefficient data-type:parameter="FL2" transforms:value="1"/></transforms:spillover>
  </transforms:spilloverMatrix>
  <Transformations>
   <transforms:biex transforms:length="256" transforms:maxRange="262144" transforms:neg="0" transforms:width="-10" transforms:pos="4.4"><data-type:parameter data-type:name="Comp-FL1"/></transforms:biex>
   <transforms:miltenyi><data-type:parameter data-type:name="FL3"/></transforms:miltenyi>
  </Transformations>
  <Keywords><Keyword name="$FIL" value="s1.fcs"/></Keywords>
  <SampleNode name="s1.fcs" sampleID="7" count="100"><Subpopulations>
   <Population name="R" owningGroup="" count="40"><Gate gating:id="ID1"><gating:RectangleGate eventsInside="0" gating:id="ID1">
     <gating:dimension gating:max="2.5"><data-type:fcs-dimension data-type:name="Comp-FL1"/></gating:dimension>
   </gating:RectangleGate></Gate>
    <Subpopulations>
     <Population name="E" count="10"><Gate><gating:EllipsoidGate>
      <gating:dimension><data-type:fcs-dimension data-type:name="Comp-FL1"/></gating:dimension>
      <gating:dimension><data-type:fcs-dimension data-type:name="FL2"/></gating:dimension>
      <gating:foci><gating:vertex><gating:coordinate data-type:value="10"/><gating:coordinate data-type:value="10"/></gating:vertex>
        <gating:vertex><gating:coordinate data-type:value="20"/><gating:coordinate data-type:value="10"/></gating:vertex></gating:foci>
      <gating:edge><gating:vertex><gating:coordinate data-type:value="5"/><gating:coordinate data-type:value="10"/></gating:vertex>
        <gating:vertex><gating:coordinate data-type:value="25"/><gating:coordinate data-type:value="10"/></gating:vertex>
        <gating:vertex><gating:coordinate data-type:value="15"/><gating:coordinate data-type:value="14"/></gating:vertex>
        <gating:vertex><gating:coordinate data-type:value="15"/><gating:coordinate data-type:value="6"/></gating:vertex></gating:edge>
     </gating:EllipsoidGate></Gate></Population>
     <Population name="Curly" count="3"><Gate><gating:CurlyQuadGate/></Gate></Population>
    </Subpopulations>
   </Population>
   <OrNode name="Either" owningGroup="" count="-1"><Dependents><Dependent name="R"/><Dependent name="R/E"/></Dependents></OrNode>
  </Subpopulations></SampleNode>
 </Sample></SampleList>
</Workspace>"#;

    #[test]
    fn reads_structure_and_keeps_going_past_unknowns() {
        let ws = parse_str(WSP, "t.wsp").unwrap();
        assert_eq!(ws.flowjo_version.as_deref(), Some("10.7.1"));
        assert_eq!(ws.groups[0].sample_ids, vec!["7"]);
        // Group template counts are not kept.
        assert_eq!(ws.groups[0].template[0].count, None);
        let s = &ws.samples[0];
        assert_eq!(s.sample_id, "7");
        assert_eq!(s.uri.as_deref(), Some("file:/x/s1.fcs"));
        assert_eq!(s.keyword("$fil"), Some("s1.fcs"));
        assert_eq!(s.count, Some(100));
        let Compensation::Matrix(m) = &s.compensation else {
            panic!("matrix expected")
        };
        assert_eq!(m.detectors, vec!["FL1", "FL2"]);
        assert_eq!(m.rows, vec![vec![1.0, 0.2], vec![0.05, 1.0]]);
        assert_eq!(s.transforms.len(), 2);
        assert_eq!(
            s.transform_for("FL3"),
            Some(&WspTransform::Unsupported {
                element: "miltenyi".into()
            })
        );
        assert!(matches!(
            s.transform_for("Comp-FL1"),
            Some(WspTransform::Biex { width, .. }) if *width == -10.0
        ));
        let r = &s.populations[0];
        assert_eq!(r.count, Some(40));
        let PopulationGate::Gate(g) = &r.gate else {
            panic!()
        };
        assert!(!g.events_inside);
        assert_eq!(
            g.shape,
            GateShape::Rectangle {
                dims: vec![RangeDim {
                    channel: "Comp-FL1".into(),
                    min: None,
                    max: Some(2.5)
                }]
            }
        );
        assert!(matches!(
            r.children[0].gate,
            PopulationGate::Gate(WspGate {
                shape: GateShape::Ellipse { .. },
                ..
            })
        ));
        assert!(matches!(
            r.children[1].gate,
            PopulationGate::Unsupported { .. }
        ));
        let either = &s.populations[1];
        assert_eq!(either.count, None);
        assert_eq!(
            either.gate,
            PopulationGate::Boolean {
                op: BoolOp::Or,
                dependents: vec!["R".into(), "R/E".into()]
            }
        );
        let w: Vec<String> = ws.warnings.iter().map(|w| w.message.clone()).collect();
        assert!(
            w.iter()
                .any(|m| m.contains("<miltenyi>") && m.contains("FL3")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|m| m.contains("CurlyQuadGate") && m.contains("\"Curly\"")),
            "{w:?}"
        );
    }

    #[test]
    fn malformed_xml_names_the_position() {
        let err = parse_str("<Workspace><SampleList></Workspace>", "bad.wsp").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bad.wsp") && msg.contains("line 1"), "{msg}");
        let err = parse_str("<Workspace>\n<SampleList>\n<Sample>", "cut.wsp").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 3") && msg.contains("truncated"), "{msg}");
        let err = parse_str("<Gating/>", "g.xml").unwrap_err();
        assert!(err.to_string().contains("Gating"), "{err}");
    }
}
