//! Gating-ML 2.0 → [`GatingStrategy`].
//!
//! Elements are matched by namespace and local name (prefixes vary between
//! producers); attributes by local name, since producers differ in whether
//! they qualify them. Gates, transforms and matrices are collected wherever
//! they sit under the root (a file may wrap them in foreign elements), except
//! inside `custom_info`, whose content is free-form and never interpreted.

use std::path::Path;

use roxmltree::{Document, Node};

use crate::compensation::Matrix;
use crate::gating::{
    BoolOp, CompensationRef, Dimension, DimensionSource, Divider, Gate, GateKind, GatingStrategy,
    Operand, Quadrant, RangeDimension, TransformDef, TransformKind,
};
use crate::transform::{Fasinh, Flin, Flog, Hyperlog, Logicle, Ratio, Transform, TransformError};

use super::{GatingMlError, Owner, NS_DATATYPES, NS_GATING, NS_TRANSFORMS};

/// Reads a Gating-ML file; errors name the file.
pub fn read_path(path: &Path) -> Result<GatingStrategy, GatingMlError> {
    let text = std::fs::read_to_string(path).map_err(|source| GatingMlError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_str(&text).map_err(|e| GatingMlError::InFile {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// Reads a Gating-ML document from text.
pub fn read_str(text: &str) -> Result<GatingStrategy, GatingMlError> {
    let doc = Document::parse(text)?;
    let root = doc.root_element();
    if !is(root, NS_GATING, "Gating-ML") {
        return Err(GatingMlError::NotGatingMl {
            found: root.tag_name().name().to_string(),
        });
    }
    let mut found = Found::default();
    collect(root, &mut found);
    let reader = Reader { doc: &doc };
    let mut strategy = GatingStrategy::new();
    for node in found.matrices {
        let (id, m) = reader.spectrum_matrix(node)?;
        strategy.add_matrix(id, m)?;
    }
    for node in found.transforms {
        let (id, t) = reader.transformation(node)?;
        strategy.add_transform(id, t)?;
    }
    for node in found.gates {
        strategy.add_gate(reader.gate(node)?)?;
    }
    strategy.validate()?;
    Ok(strategy)
}

#[derive(Default)]
struct Found<'a, 'i> {
    gates: Vec<Node<'a, 'i>>,
    transforms: Vec<Node<'a, 'i>>,
    matrices: Vec<Node<'a, 'i>>,
}

const GATE_TYPES: [&str; 5] = [
    "RectangleGate",
    "PolygonGate",
    "EllipsoidGate",
    "QuadrantGate",
    "BooleanGate",
];

fn collect<'a, 'i>(node: Node<'a, 'i>, found: &mut Found<'a, 'i>) {
    for child in node.children().filter(Node::is_element) {
        let ns = child.tag_name().namespace();
        let name = child.tag_name().name();
        if name == "custom_info" {
            continue;
        }
        if ns == Some(NS_GATING) && GATE_TYPES.contains(&name) {
            found.gates.push(child);
        } else if ns == Some(NS_TRANSFORMS) && name == "transformation" {
            found.transforms.push(child);
        } else if ns == Some(NS_TRANSFORMS) && name == "spectrumMatrix" {
            found.matrices.push(child);
        } else {
            collect(child, found);
        }
    }
}

fn is(node: Node, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

fn children<'a, 'i: 'a>(
    node: Node<'a, 'i>,
    ns: &'static str,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| is(*c, ns, name))
}

/// An attribute by local name, in any (or no) namespace.
fn attr<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attributes()
        .find(|a| a.name() == name)
        .map(|a| a.value())
}

struct Reader<'a, 'i> {
    doc: &'a Document<'i>,
}

impl<'a, 'i> Reader<'a, 'i> {
    fn line(&self, node: Node) -> u32 {
        self.doc.text_pos_at(node.range().start).row
    }

    fn required(
        &self,
        owner: &Owner,
        node: Node<'a, 'i>,
        name: &'static str,
    ) -> Result<&'a str, GatingMlError> {
        attr(node, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| GatingMlError::MissingAttribute {
                owner: owner.clone(),
                line: self.line(node),
                element: node.tag_name().name().to_string(),
                attribute: name,
            })
    }

    fn number(
        &self,
        owner: &Owner,
        node: Node,
        attribute: &str,
        value: &str,
    ) -> Result<f64, GatingMlError> {
        parse_f64(value).ok_or_else(|| GatingMlError::BadNumber {
            owner: owner.clone(),
            line: self.line(node),
            element: node.tag_name().name().to_string(),
            attribute: attribute.to_string(),
            value: value.to_string(),
        })
    }

    fn required_number(
        &self,
        owner: &Owner,
        node: Node<'a, 'i>,
        name: &'static str,
    ) -> Result<f64, GatingMlError> {
        let v = self.required(owner, node, name)?;
        self.number(owner, node, name, v)
    }

    fn optional_number(
        &self,
        owner: &Owner,
        node: Node<'a, 'i>,
        name: &'static str,
    ) -> Result<Option<f64>, GatingMlError> {
        attr(node, name)
            .map(|v| self.number(owner, node, name, v))
            .transpose()
    }

    fn malformed(&self, owner: &Owner, node: Node, reason: impl Into<String>) -> GatingMlError {
        GatingMlError::Malformed {
            owner: owner.clone(),
            line: self.line(node),
            reason: reason.into(),
        }
    }

    /// `value` attributes of the `child` elements of `node`, in order.
    fn values(
        &self,
        owner: &Owner,
        node: Node<'a, 'i>,
        ns: &'static str,
        child: &'static str,
    ) -> Result<Vec<f64>, GatingMlError> {
        children(node, ns, child)
            .map(|c| self.required_number(owner, c, "value"))
            .collect()
    }

    // ---- compensation ----------------------------------------------------

    fn names(&self, owner: &Owner, node: Node<'a, 'i>) -> Result<Vec<String>, GatingMlError> {
        children(node, NS_DATATYPES, "fcs-dimension")
            .map(|d| self.required(owner, d, "name").map(str::to_string))
            .collect()
    }

    fn spectrum_matrix(&self, node: Node<'a, 'i>) -> Result<(String, Matrix), GatingMlError> {
        let id = self.required(&Owner::Document, node, "id")?.to_string();
        let owner = Owner::Matrix(id.clone());
        let list = |name: &'static str| -> Result<Vec<String>, GatingMlError> {
            let el = children(node, NS_TRANSFORMS, name)
                .next()
                .ok_or_else(|| self.malformed(&owner, node, format!("no <{name}> element")))?;
            self.names(&owner, el)
        };
        let fluorochromes = list("fluorochromes")?;
        let detectors = list("detectors")?;
        let mut values = Vec::new();
        for (r, row) in children(node, NS_TRANSFORMS, "spectrum").enumerate() {
            let coefficients = self.values(&owner, row, NS_TRANSFORMS, "coefficient")?;
            if coefficients.len() != detectors.len() {
                return Err(self.malformed(
                    &owner,
                    row,
                    format!(
                        "spectrum {} has {} coefficients for {} detectors",
                        r + 1,
                        coefficients.len(),
                        detectors.len()
                    ),
                ));
            }
            values.extend(coefficients);
        }
        let inverted = match attr(node, "matrix-inverted-already").map(str::trim) {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(self.malformed(
                    &owner,
                    node,
                    format!("matrix-inverted-already={other:?} is not a boolean"),
                ))
            }
        };
        let line = self.line(node);
        let m = Matrix::new(fluorochromes, detectors, values, inverted).map_err(|source| {
            GatingMlError::Matrix {
                id: id.clone(),
                line,
                source,
            }
        })?;
        Ok((id, m))
    }

    // ---- transforms ------------------------------------------------------

    fn transformation(&self, node: Node<'a, 'i>) -> Result<(String, TransformDef), GatingMlError> {
        let id = self.required(&Owner::Document, node, "id")?.to_string();
        let owner = Owner::Transform(id.clone());
        let bound_min = self.optional_number(&owner, node, "boundMin")?;
        let bound_max = self.optional_number(&owner, node, "boundMax")?;
        let mut kinds = node
            .children()
            .filter(|c| c.is_element() && c.tag_name().namespace() == Some(NS_TRANSFORMS));
        let (Some(t), None) = (kinds.next(), kinds.next()) else {
            return Err(self.malformed(
                &owner,
                node,
                "a transformation needs exactly one of flin, flog, fasinh, logicle, hyperlog, fratio",
            ));
        };
        let p = |name: &'static str| self.required_number(&owner, t, name);
        let line = self.line(t);
        let checked = |r: Result<Transform, TransformError>| {
            r.map(TransformKind::Scale)
                .map_err(|source| GatingMlError::Transform {
                    id: id.clone(),
                    line,
                    source,
                })
        };
        let kind = match t.tag_name().name() {
            "flin" => checked(Flin::new(p("T")?, p("A")?).map(Transform::Flin))?,
            "flog" => checked(Flog::new(p("T")?, p("M")?).map(Transform::Flog))?,
            "fasinh" => checked(Fasinh::new(p("T")?, p("M")?, p("A")?).map(Transform::Fasinh))?,
            "logicle" => {
                checked(Logicle::new(p("T")?, p("W")?, p("M")?, p("A")?).map(Transform::Logicle))?
            }
            "hyperlog" => {
                checked(Hyperlog::new(p("T")?, p("W")?, p("M")?, p("A")?).map(Transform::Hyperlog))?
            }
            "fratio" => {
                let ratio = Ratio::new(p("A")?, p("B")?, p("C")?).map_err(|source| {
                    GatingMlError::Transform {
                        id: id.clone(),
                        line,
                        source,
                    }
                })?;
                let names = self.names(&owner, t)?;
                let [x, y] = <[String; 2]>::try_from(names).map_err(|n| {
                    self.malformed(
                        &owner,
                        t,
                        format!("fratio needs 2 fcs-dimension inputs, found {}", n.len()),
                    )
                })?;
                TransformKind::Ratio { ratio, x, y }
            }
            other => {
                return Err(self.malformed(&owner, t, format!("unknown transform <{other}>")));
            }
        };
        Ok((
            id,
            TransformDef {
                kind,
                bound_min,
                bound_max,
            },
        ))
    }

    // ---- gates -----------------------------------------------------------

    fn gate(&self, node: Node<'a, 'i>) -> Result<Gate, GatingMlError> {
        let id = self.required(&Owner::Document, node, "id")?.to_string();
        let owner = Owner::Gate(id.clone());
        let parent = attr(node, "parent_id")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let kind = match node.tag_name().name() {
            "RectangleGate" => self.rectangle(&owner, node)?,
            "PolygonGate" => self.polygon(&owner, node)?,
            "EllipsoidGate" => self.ellipsoid(&owner, node)?,
            "QuadrantGate" => self.quadrant(&owner, node)?,
            _ => self.boolean(&owner, node)?,
        };
        Ok(Gate { id, parent, kind })
    }

    /// A `dimension` or `divider`: compensation, transform and the
    /// fcs-dimension or new-dimension inside it.
    fn dimension(&self, owner: &Owner, node: Node<'a, 'i>) -> Result<Dimension, GatingMlError> {
        // compensation-ref is required by the schema; files that omit it
        // mean the data as they are.
        let compensation = attr(node, "compensation-ref")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map_or(CompensationRef::Uncompensated, CompensationRef::parse);
        let transform = attr(node, "transformation-ref")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let source = if let Some(f) = children(node, NS_DATATYPES, "fcs-dimension").next() {
            DimensionSource::Channel(self.required(owner, f, "name")?.to_string())
        } else if let Some(n) = children(node, NS_DATATYPES, "new-dimension").next() {
            DimensionSource::Ratio(self.required(owner, n, "transformation-ref")?.to_string())
        } else {
            return Err(self.malformed(
                owner,
                node,
                format!(
                    "<{}> names no channel (no fcs-dimension or new-dimension)",
                    node.tag_name().name()
                ),
            ));
        };
        Ok(Dimension {
            source,
            compensation,
            transform,
        })
    }

    fn dimensions(
        &self,
        owner: &Owner,
        node: Node<'a, 'i>,
    ) -> Result<Vec<Dimension>, GatingMlError> {
        children(node, NS_GATING, "dimension")
            .map(|d| self.dimension(owner, d))
            .collect()
    }

    fn rectangle(&self, owner: &Owner, node: Node<'a, 'i>) -> Result<GateKind, GatingMlError> {
        let dimensions = children(node, NS_GATING, "dimension")
            .map(|d| {
                Ok(RangeDimension {
                    dimension: self.dimension(owner, d)?,
                    min: self.optional_number(owner, d, "min")?,
                    max: self.optional_number(owner, d, "max")?,
                })
            })
            .collect::<Result<Vec<_>, GatingMlError>>()?;
        Ok(GateKind::Rectangle { dimensions })
    }

    fn polygon(&self, owner: &Owner, node: Node<'a, 'i>) -> Result<GateKind, GatingMlError> {
        let dimensions = self.dimensions(owner, node)?;
        let mut vertices = Vec::new();
        for (k, v) in children(node, NS_GATING, "vertex").enumerate() {
            let c = self.values(owner, v, NS_GATING, "coordinate")?;
            match c.as_slice() {
                [x, y] => vertices.push((*x, *y)),
                _ => {
                    return Err(self.malformed(
                        owner,
                        v,
                        format!("vertex {} has {} coordinates, expected 2", k + 1, c.len()),
                    ))
                }
            }
        }
        Ok(GateKind::Polygon {
            dimensions,
            vertices,
        })
    }

    fn ellipsoid(&self, owner: &Owner, node: Node<'a, 'i>) -> Result<GateKind, GatingMlError> {
        let dimensions = self.dimensions(owner, node)?;
        let one = |name: &'static str| {
            children(node, NS_GATING, name)
                .next()
                .ok_or_else(|| self.malformed(owner, node, format!("no <{name}> element")))
        };
        let mean = self.values(owner, one("mean")?, NS_GATING, "coordinate")?;
        let covariance = children(one("covarianceMatrix")?, NS_GATING, "row")
            .map(|r| self.values(owner, r, NS_GATING, "entry"))
            .collect::<Result<Vec<_>, _>>()?;
        let distance_square = self.required_number(owner, one("distanceSquare")?, "value")?;
        Ok(GateKind::Ellipsoid {
            dimensions,
            mean,
            covariance,
            distance_square,
        })
    }

    fn quadrant(&self, owner: &Owner, node: Node<'a, 'i>) -> Result<GateKind, GatingMlError> {
        let mut dividers = Vec::new();
        for d in children(node, NS_GATING, "divider") {
            let id = self.required(owner, d, "id")?.to_string();
            let dimension = self.dimension(owner, d)?;
            let values = children(d, NS_GATING, "value")
                .map(|v| {
                    let text = v.text().unwrap_or("").trim();
                    self.number(owner, v, "value", text)
                })
                .collect::<Result<Vec<_>, _>>()?;
            dividers.push(Divider {
                id,
                dimension,
                values,
            });
        }
        let mut quadrants = Vec::new();
        for q in children(node, NS_GATING, "Quadrant") {
            let id = self.required(owner, q, "id")?.to_string();
            let positions = children(q, NS_GATING, "position")
                .map(|p| {
                    Ok((
                        self.required(owner, p, "divider_ref")?.to_string(),
                        self.required_number(owner, p, "location")?,
                    ))
                })
                .collect::<Result<Vec<_>, GatingMlError>>()?;
            quadrants.push(Quadrant { id, positions });
        }
        Ok(GateKind::Quadrant {
            dividers,
            quadrants,
        })
    }

    fn boolean(&self, owner: &Owner, node: Node<'a, 'i>) -> Result<GateKind, GatingMlError> {
        let mut ops = node.children().filter(|c| {
            c.is_element()
                && c.tag_name().namespace() == Some(NS_GATING)
                && matches!(c.tag_name().name(), "and" | "or" | "not")
        });
        let (Some(op_node), None) = (ops.next(), ops.next()) else {
            return Err(self.malformed(
                owner,
                node,
                "a BooleanGate needs exactly one of <and>, <or>, <not>",
            ));
        };
        let op = match op_node.tag_name().name() {
            "and" => BoolOp::And,
            "or" => BoolOp::Or,
            _ => BoolOp::Not,
        };
        let operands = children(op_node, NS_GATING, "gateReference")
            .map(|r| {
                let gate = self.required(owner, r, "ref")?.to_string();
                let complement = match attr(r, "use-as-complement").map(str::trim) {
                    None | Some("false") | Some("0") => false,
                    Some("true") | Some("1") => true,
                    Some(other) => {
                        return Err(self.malformed(
                            owner,
                            r,
                            format!("use-as-complement={other:?} is not a boolean"),
                        ))
                    }
                };
                Ok(Operand { gate, complement })
            })
            .collect::<Result<Vec<_>, GatingMlError>>()?;
        Ok(GateKind::Boolean { op, operands })
    }
}

/// Parses an XML Schema `double`: decimal or scientific, `INF`, `-INF`, `NaN`.
fn parse_f64(s: &str) -> Option<f64> {
    match s.trim() {
        "INF" | "+INF" => Some(f64::INFINITY),
        "-INF" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t => t.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}
