//! Resolved gates → the gating engine's [`GatingStrategy`] (and from there
//! Gating-ML 2.0 via [`crate::gatingml`]).
//!
//! Every gate of one file becomes an ordinary Gating-ML gate in FCS-scale data
//! units: rectangles and polygons read their channels through
//! `compensation-ref="FCS"` (the file's own `$SPILLOVER`) or `uncompensated`,
//! with no transformation; a flow-rate filter's kept intervals become
//! rectangles joined by an `or`; a `not` gate is a Boolean `not` of its
//! sibling; a gate imported from Gating-ML keeps its own compensation and
//! transforms, which the strategy then holds too. The pipeline's populations are then evaluated *by the gating
//! engine from this strategy*, so gates/<file>.xml re-applied by `nkflow
//! gate` or FlowKit gives the same counts by construction.

use crate::gating::{
    BoolOp, CompensationRef, Dimension, Gate, GateKind, GatingError, GatingStrategy, Operand,
    RangeDimension,
};

use super::definition::ROOT;
use super::resolved::{Dim, ResolvedGate};
use super::result::AppliedGate;

fn dimension(d: &Dim) -> Dimension {
    Dimension::channel(d.channel.clone()).compensated(if d.compensated {
        CompensationRef::Fcs
    } else {
        CompensationRef::Uncompensated
    })
}

fn shape(id: &str, g: &ResolvedGate) -> GateKind {
    match g {
        ResolvedGate::Rectangle { intervals } => GateKind::Rectangle {
            dimensions: intervals
                .iter()
                .map(|iv| RangeDimension {
                    dimension: dimension(&iv.dim),
                    min: iv.min,
                    max: iv.max,
                })
                .collect(),
        },
        ResolvedGate::Polygon { x, y, vertices } => GateKind::Polygon {
            dimensions: vec![dimension(x), dimension(y)],
            vertices: vertices.clone(),
        },
        ResolvedGate::AnyOf { parts } => GateKind::Boolean {
            op: BoolOp::Or,
            operands: (0..parts.len())
                .map(|k| Operand {
                    gate: part_id(id, k),
                    complement: false,
                })
                .collect(),
        },
        ResolvedGate::Not { of } => GateKind::Boolean {
            op: BoolOp::Not,
            operands: vec![Operand {
                gate: of.clone(),
                complement: false,
            }],
        },
        ResolvedGate::Gatingml(ig) => ig.kind.clone(),
    }
}

/// Id of the k-th part of an `or` gate (a helper population in the XML).
pub fn part_id(id: &str, k: usize) -> String {
    format!("{id}__part{}", k + 1)
}

/// Builds the gating strategy of one file's applied gates (tree order).
pub fn to_strategy(gates: &[AppliedGate]) -> Result<GatingStrategy, GatingError> {
    let mut s = GatingStrategy::new();
    for g in gates {
        let parent = g.parent.as_deref().filter(|p| *p != ROOT);
        if let ResolvedGate::Gatingml(ig) = &g.gate {
            // With its own transforms and matrices.
            ig.add_to(&mut s, &g.id, parent)?;
            continue;
        }
        if let ResolvedGate::AnyOf { parts } = &g.gate {
            for (k, p) in parts.iter().enumerate() {
                s.add_gate(Gate::new(part_id(&g.id, k), shape(&g.id, p)))?;
            }
        }
        let mut gate = Gate::new(g.id.clone(), shape(&g.id, &g.gate));
        if let Some(parent) = parent {
            gate = gate.with_parent(parent);
        }
        s.add_gate(gate)?;
    }
    Ok(s)
}
