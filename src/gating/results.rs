//! What evaluating a gating strategy on one sample gives: per population its
//! full membership (parents included), count and percentages.

use std::collections::HashMap;

use super::bitset::Bitset;

/// One population's result.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationResult {
    /// Population id (gate id, or quadrant id).
    pub id: String,
    /// The gate that defines it (the quadrant gate for a quadrant).
    pub gate_id: String,
    /// Gating-ML gate type, e.g. `RectangleGate`.
    pub gate_type: &'static str,
    /// Parent population id.
    pub parent: Option<String>,
    /// 0 for a root population.
    pub depth: usize,
    /// Events in the population.
    pub count: usize,
    /// Events in the parent population (all events for a root).
    pub parent_count: usize,
    /// Full membership, one bit per event.
    pub membership: Bitset,
}

impl PopulationResult {
    /// Count as a percentage of the parent's count (0 when the parent is empty).
    pub fn pct_parent(&self) -> f64 {
        percent(self.count, self.parent_count)
    }
}

/// Results of one sample, populations in tree order (depth first, children in
/// the order the gates were added).
#[derive(Debug, Clone, PartialEq)]
pub struct GatingResults {
    n_events: usize,
    populations: Vec<PopulationResult>,
    index: HashMap<String, usize>,
}

fn percent(count: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * count as f64 / of as f64
    }
}

impl GatingResults {
    pub(crate) fn new(n_events: usize, populations: Vec<PopulationResult>) -> Self {
        let index = populations
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        GatingResults {
            n_events,
            populations,
            index,
        }
    }

    /// Events in the sample.
    pub fn n_events(&self) -> usize {
        self.n_events
    }

    /// One population's result.
    pub fn get(&self, id: &str) -> Option<&PopulationResult> {
        self.index.get(id).and_then(|&i| self.populations.get(i))
    }

    /// Events in a population.
    pub fn count(&self, id: &str) -> Option<usize> {
        self.get(id).map(|p| p.count)
    }

    /// A population's full membership (parents included).
    pub fn membership(&self, id: &str) -> Option<&Bitset> {
        self.get(id).map(|p| &p.membership)
    }

    /// Count as a percentage of the parent's count.
    pub fn pct_parent(&self, id: &str) -> Option<f64> {
        self.get(id).map(PopulationResult::pct_parent)
    }

    /// Count as a percentage of all events.
    pub fn pct_total(&self, id: &str) -> Option<f64> {
        self.get(id).map(|p| percent(p.count, self.n_events))
    }

    /// Populations in tree order.
    pub fn iter(&self) -> impl Iterator<Item = &PopulationResult> {
        self.populations.iter()
    }

    /// Population ids in tree order.
    pub fn ids(&self) -> Vec<&str> {
        self.populations.iter().map(|p| p.id.as_str()).collect()
    }
}
