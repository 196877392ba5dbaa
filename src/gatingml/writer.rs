//! [`GatingStrategy`] → Gating-ML 2.0.
//!
//! Numbers are written in Rust's shortest round-trip form, so reading the
//! output gives bit-identical limits, vertices and parameters. Order: spectrum
//! matrices, transforms, then gates in the order they were added.

use std::fmt::Write as _;
use std::path::Path;

use crate::compensation::Matrix;
use crate::gating::{
    Dimension, DimensionSource, Gate, GateKind, GatingStrategy, TransformDef, TransformKind,
};
use crate::transform::Transform;

use super::{GatingMlError, NS_DATATYPES, NS_GATING, NS_TRANSFORMS};

/// Writes a strategy to a file (atomically: a temporary file renamed into place).
pub fn write_path(strategy: &GatingStrategy, path: &Path) -> Result<(), GatingMlError> {
    let text = write_string(strategy)?;
    let io = |source| GatingMlError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// The strategy as a Gating-ML 2.0 document.
pub fn write_string(strategy: &GatingStrategy) -> Result<String, GatingMlError> {
    let mut w = String::new();
    w.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        w,
        "<gating:Gating-ML xmlns:gating=\"{NS_GATING}\" xmlns:transforms=\"{NS_TRANSFORMS}\" xmlns:data-type=\"{NS_DATATYPES}\">"
    );
    for (id, m) in strategy.matrices() {
        matrix(&mut w, id, m);
    }
    for (id, t) in strategy.transforms() {
        transform(&mut w, id, t)?;
    }
    for g in strategy.gates() {
        gate(&mut w, g);
    }
    w.push_str("</gating:Gating-ML>\n");
    Ok(w)
}

/// Shortest decimal that reads back to the same `f64`; XML Schema spellings
/// for infinities and NaN.
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "INF".into()
    } else if v == f64::NEG_INFINITY {
        "-INF".into()
    } else {
        format!("{v:?}")
    }
}

/// Escapes text for an attribute value or element content.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn fcs_dimension(w: &mut String, indent: &str, name: &str) {
    let _ = writeln!(
        w,
        "{indent}<data-type:fcs-dimension data-type:name=\"{}\" />",
        esc(name)
    );
}

fn matrix(w: &mut String, id: &str, m: &Matrix) {
    let _ = writeln!(
        w,
        "  <transforms:spectrumMatrix transforms:id=\"{}\" transforms:matrix-inverted-already=\"{}\">",
        esc(id),
        m.inverted_already()
    );
    for (tag, names) in [
        ("fluorochromes", m.fluorochromes()),
        ("detectors", m.detectors()),
    ] {
        let _ = writeln!(w, "    <transforms:{tag}>");
        for n in names {
            fcs_dimension(w, "      ", n);
        }
        let _ = writeln!(w, "    </transforms:{tag}>");
    }
    let nd = m.detectors().len().max(1);
    for row in m.values().chunks(nd) {
        w.push_str("    <transforms:spectrum>\n");
        for v in row {
            let _ = writeln!(
                w,
                "      <transforms:coefficient transforms:value=\"{}\" />",
                num(*v)
            );
        }
        w.push_str("    </transforms:spectrum>\n");
    }
    w.push_str("  </transforms:spectrumMatrix>\n");
}

fn transform(w: &mut String, id: &str, def: &TransformDef) -> Result<(), GatingMlError> {
    let mut open = format!("  <transforms:transformation transforms:id=\"{}\"", esc(id));
    if let Some(v) = def.bound_min {
        let _ = write!(open, " transforms:boundMin=\"{}\"", num(v));
    }
    if let Some(v) = def.bound_max {
        let _ = write!(open, " transforms:boundMax=\"{}\"", num(v));
    }
    let _ = writeln!(w, "{open}>");
    let params = |w: &mut String, tag: &str, ps: &[(&str, f64)]| {
        let attrs: Vec<String> = ps
            .iter()
            .map(|(k, v)| format!("transforms:{k}=\"{}\"", num(*v)))
            .collect();
        let _ = writeln!(w, "    <transforms:{tag} {} />", attrs.join(" "));
    };
    match &def.kind {
        TransformKind::Scale(t) => match t {
            Transform::Flin(f) => params(w, "flin", &[("T", f.t), ("A", f.a)]),
            Transform::Flog(f) => params(w, "flog", &[("T", f.t), ("M", f.m)]),
            Transform::Fasinh(f) => {
                let p = f.params();
                params(w, "fasinh", &[("T", p.t), ("M", p.m), ("A", p.a)]);
            }
            Transform::Logicle(l) => {
                let p = l.params();
                params(
                    w,
                    "logicle",
                    &[("T", p.t), ("W", p.w), ("M", p.m), ("A", p.a)],
                );
            }
            Transform::Hyperlog(h) => {
                let p = h.params();
                params(
                    w,
                    "hyperlog",
                    &[("T", p.t), ("W", p.w), ("M", p.m), ("A", p.a)],
                );
            }
            other => {
                return Err(GatingMlError::Unsupported {
                    id: id.to_string(),
                    what: format!("a {} transform", other.kind()),
                })
            }
        },
        TransformKind::Ratio { ratio, x, y } => {
            let _ = writeln!(
                w,
                "    <transforms:fratio transforms:A=\"{}\" transforms:B=\"{}\" transforms:C=\"{}\">",
                num(ratio.a),
                num(ratio.b),
                num(ratio.c)
            );
            fcs_dimension(w, "      ", x);
            fcs_dimension(w, "      ", y);
            w.push_str("    </transforms:fratio>\n");
        }
    }
    w.push_str("  </transforms:transformation>\n");
    Ok(())
}

/// Opening attributes and content of a `dimension`/`divider`.
fn dimension_attrs(d: &Dimension) -> String {
    let mut a = format!(
        " gating:compensation-ref=\"{}\"",
        esc(d.compensation.as_str())
    );
    if let Some(t) = &d.transform {
        let _ = write!(a, " gating:transformation-ref=\"{}\"", esc(t));
    }
    a
}

fn dimension_body(w: &mut String, indent: &str, d: &Dimension) {
    match &d.source {
        DimensionSource::Channel(c) => fcs_dimension(w, indent, c),
        DimensionSource::Ratio(t) => {
            let _ = writeln!(
                w,
                "{indent}<data-type:new-dimension data-type:transformation-ref=\"{}\" />",
                esc(t)
            );
        }
    }
}

fn plain_dimension(w: &mut String, d: &Dimension) {
    let _ = writeln!(w, "    <gating:dimension{}>", dimension_attrs(d));
    dimension_body(w, "      ", d);
    w.push_str("    </gating:dimension>\n");
}

fn coordinates(w: &mut String, indent: &str, tag: &str, vs: &[f64]) {
    for v in vs {
        let _ = writeln!(
            w,
            "{indent}<gating:{tag} data-type:value=\"{}\" />",
            num(*v)
        );
    }
}

fn gate(w: &mut String, g: &Gate) {
    let ty = g.type_name();
    let mut open = format!("  <gating:{ty} gating:id=\"{}\"", esc(&g.id));
    if let Some(p) = &g.parent {
        let _ = write!(open, " gating:parent_id=\"{}\"", esc(p));
    }
    let _ = writeln!(w, "{open}>");
    match &g.kind {
        GateKind::Rectangle { dimensions } => {
            for r in dimensions {
                let mut a = dimension_attrs(&r.dimension);
                if let Some(v) = r.min {
                    let _ = write!(a, " gating:min=\"{}\"", num(v));
                }
                if let Some(v) = r.max {
                    let _ = write!(a, " gating:max=\"{}\"", num(v));
                }
                let _ = writeln!(w, "    <gating:dimension{a}>");
                dimension_body(w, "      ", &r.dimension);
                w.push_str("    </gating:dimension>\n");
            }
        }
        GateKind::Polygon {
            dimensions,
            vertices,
        } => {
            dimensions.iter().for_each(|d| plain_dimension(w, d));
            for (x, y) in vertices {
                w.push_str("    <gating:vertex>\n");
                coordinates(w, "      ", "coordinate", &[*x, *y]);
                w.push_str("    </gating:vertex>\n");
            }
        }
        GateKind::Ellipsoid {
            dimensions,
            mean,
            covariance,
            distance_square,
        } => {
            dimensions.iter().for_each(|d| plain_dimension(w, d));
            w.push_str("    <gating:mean>\n");
            coordinates(w, "      ", "coordinate", mean);
            w.push_str("    </gating:mean>\n    <gating:covarianceMatrix>\n");
            for row in covariance {
                w.push_str("      <gating:row>\n");
                coordinates(w, "        ", "entry", row);
                w.push_str("      </gating:row>\n");
            }
            w.push_str("    </gating:covarianceMatrix>\n");
            let _ = writeln!(
                w,
                "    <gating:distanceSquare data-type:value=\"{}\" />",
                num(*distance_square)
            );
        }
        GateKind::Quadrant {
            dividers,
            quadrants,
        } => {
            for d in dividers {
                let _ = writeln!(
                    w,
                    "    <gating:divider gating:id=\"{}\"{}>",
                    esc(&d.id),
                    dimension_attrs(&d.dimension)
                );
                dimension_body(w, "      ", &d.dimension);
                for v in &d.values {
                    let _ = writeln!(w, "      <gating:value>{}</gating:value>", num(*v));
                }
                w.push_str("    </gating:divider>\n");
            }
            for q in quadrants {
                let _ = writeln!(w, "    <gating:Quadrant gating:id=\"{}\">", esc(&q.id));
                for (div, loc) in &q.positions {
                    let _ = writeln!(
                        w,
                        "      <gating:position gating:divider_ref=\"{}\" gating:location=\"{}\" />",
                        esc(div),
                        num(*loc)
                    );
                }
                w.push_str("    </gating:Quadrant>\n");
            }
        }
        GateKind::Boolean { op, operands } => {
            let _ = writeln!(w, "    <gating:{}>", op.as_str());
            for o in operands {
                let c = if o.complement {
                    " gating:use-as-complement=\"true\""
                } else {
                    ""
                };
                let _ = writeln!(
                    w,
                    "      <gating:gateReference gating:ref=\"{}\"{c} />",
                    esc(&o.gate)
                );
            }
            let _ = writeln!(w, "    </gating:{}>", op.as_str());
        }
    }
    let _ = writeln!(w, "  </gating:{ty}>");
}
