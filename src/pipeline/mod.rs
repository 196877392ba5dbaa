//! Preset pipelines and the batch runner.
//!
//! A pipeline (`pipelines/*.json`, [`definition::Pipeline`]) names a marker
//! panel, a compensation source, the density axis of each marker and a tree
//! of gates — fixed ones and data-driven ones that adapt to each file — plus
//! the statistics and QC rules that make one results row per sample.
//!
//! Per file the data flow one way: read → scale → resolve the panel
//! ([`panel`]) → compensate → resolve each data-driven gate on its parent's
//! events ([`adaptive`], into fixed gates: [`resolved`]) → statistics
//! ([`stats`]) and QC flags. The runner pushes every sample's result, failed
//! or not, into output sinks (results.csv, populations.csv, gates/*.xml,
//! run.json).

pub mod adaptive;
pub mod definition;
pub mod density;
pub mod engine;
pub mod export;
pub mod extract;
pub mod imported;
pub mod panel;
pub mod resolved;
pub mod result;
pub mod runner;
pub mod samplesheet;
pub mod scale;
pub mod sink;
pub mod stats;
