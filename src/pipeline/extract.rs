//! One population's events, for downstream tools (`nkflow convert
//! --pipeline P.json --population NAME`).
//!
//! The file goes through the same per-file pipeline as `nkflow run` (scale,
//! panel, compensation, data-driven gates resolved on this file), so the
//! events exported for a population are exactly the ones counted for it in
//! populations.csv. The values are the ones every gate and median of the
//! pipeline reads: **FCS scale** (`$PnE` log amplification, `$PnG` gain and
//! `$TIMESTEP` applied) and **compensated** with the pipeline's compensation
//! source (the file's spillover keyword for `"compensation": "file"`).
//! Channels not in the spillover matrix (scatter, time) are FCS scale only.
//!
//! The result is a [`Sample`] on the FCS scale whose keywords say what was
//! done: the spillover keywords are removed (the values are compensated
//! already; a downstream reader must not compensate again), `$TIMESTEP` is 1
//! (time is in seconds already), and `NKFLOW_POPULATION`,
//! `NKFLOW_PIPELINE`, `NKFLOW_COMPENSATION` and `NKFLOW_SOURCE` record the
//! origin.

use std::collections::BTreeMap;

use super::definition::{Pipeline, ROOT};
use super::engine::{self, EngineError};
use crate::sample::{Sample, Scale};

/// Why a population's events could not be extracted.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The population is not a gate of the pipeline.
    #[error("population {population:?} is not a gate of pipeline {pipeline:?}; populations: {available}")]
    UnknownPopulation {
        population: String,
        pipeline: String,
        available: String,
    },
    /// The population's gate was skipped for this file (an optional
    /// marker it needs is absent).
    #[error("{file}: population {population:?} was not gated in this file: {reason}")]
    NotGated {
        file: String,
        population: String,
        reason: String,
    },
    /// Gating the file failed.
    #[error("{file}: {source}")]
    Engine {
        file: String,
        // Boxed: engine errors carry much context, and every `Result` of
        // this module would otherwise be large.
        #[source]
        source: Box<EngineError>,
    },
}

/// Checks that `population` names the root or a gate of `pipeline`, before
/// any file is read.
pub fn check_population(pipeline: &Pipeline, population: &str) -> Result<(), ExtractError> {
    if population == ROOT || pipeline.gate(population).is_some() {
        return Ok(());
    }
    let mut ids = vec![ROOT];
    ids.extend(pipeline.gates.iter().map(|g| g.id.as_str()));
    Err(ExtractError::UnknownPopulation {
        population: population.to_string(),
        pipeline: pipeline.name.clone(),
        available: ids.join(", "),
    })
}

/// Gates `sample` with `pipeline` and returns the events of `population`
/// (FCS scale, compensated; see the module docs), in file order.
pub fn population_events(
    pipeline: &Pipeline,
    sample: Sample,
    overrides: &BTreeMap<String, String>,
    population: &str,
) -> Result<Sample, ExtractError> {
    check_population(pipeline, population)?;
    let file = sample.source.clone();
    let mut keywords = sample.keywords.clone();
    let (fcs_version, dataset) = (sample.fcs_version.clone(), sample.dataset);
    let gated = engine::gate_sample(pipeline, sample, overrides).map_err(|source| {
        ExtractError::Engine {
            file: file.clone(),
            source: Box::new(source),
        }
    })?;
    let pop = gated
        .population(population)
        .ok_or_else(|| ExtractError::NotGated {
            file: file.clone(),
            population: population.to_string(),
            reason: gated
                .skipped
                .iter()
                .find(|(id, _)| id == population)
                .map(|(_, why)| why.clone())
                .unwrap_or_else(|| "its gate is not in the results".into()),
        })?;
    let events = gated.compensated.select_events(&pop.members);
    for k in ["$SPILLOVER", "SPILL", "$SPILL", "$COMP"] {
        keywords.remove(k);
    }
    keywords.insert("$TIMESTEP", "1");
    keywords.insert("$TOT", events.n_events().to_string());
    keywords.insert("NKFLOW_POPULATION", population);
    keywords.insert("NKFLOW_PIPELINE", pipeline.name.as_str());
    keywords.insert("NKFLOW_SOURCE", file.as_str());
    keywords.insert(
        "NKFLOW_COMPENSATION",
        match &gated.compensation {
            Some(c) => format!("applied ({})", c.keyword),
            None => "none".to_string(),
        },
    );
    Ok(Sample {
        source: file,
        fcs_version,
        dataset,
        n_datasets: 1,
        keywords,
        analysis: Default::default(),
        channels: gated.channels,
        events,
        scale: Scale::Fcs,
        warnings: Vec::new(),
    })
}
