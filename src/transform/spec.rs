//! Transform specifications as users write them on the command line and in
//! pipeline files: `CHANNELS=KIND(PARAMS)`.
//!
//! - CHANNELS: a comma list of `$PnN` names or `$PnS` labels, or the word
//!   `fluorescence` (the spillover matrix's detectors; without a matrix,
//!   every channel that is neither scatter nor time).
//! - KIND: `linear`, `log`, `arcsinh`, `logicle`, `hyperlog`, `biex`, `flin`,
//!   `flog`, `fasinh`; PARAMS `name=value` pairs, names case-insensitive
//!   (`T=262144,W=0.5,M=4.5,A=0`; `cofactor=150`; biex `width,neg,pos,max_range`).
//! - `logicle` without W is an *estimated* logicle (flowCore's
//!   `estimateLogicle`), per channel, from that channel's data; T defaults to
//!   the channel's top of scale, M to 4.5, A to 0, and `q` (the quantile of
//!   the negatives) to 0.05.
//!
//! ```
//! use nkflow::transform::{Channels, TransformSpec};
//! let s: TransformSpec = "fluorescence=logicle(T=262144,W=0.5,M=4.5,A=0)".parse().unwrap();
//! assert_eq!(s.channels, Channels::Fluorescence);
//! let s: TransformSpec = "PE-A,CD3=arcsinh(cofactor=150)".parse().unwrap();
//! assert_eq!(s.channels, Channels::Named(vec!["PE-A".into(), "CD3".into()]));
//! ```

use std::str::FromStr;

use super::{Transform, TransformError};

/// Which channels a spec applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Channels {
    /// The spillover matrix's detectors, else all non-scatter, non-time.
    Fluorescence,
    /// `$PnN` names or `$PnS` labels.
    Named(Vec<String>),
}

/// The transform of a spec: fixed, or estimated per channel from the data.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecTransform {
    Fixed(Transform),
    /// flowCore `estimateLogicle`; `t: None` = the channel's top of scale.
    EstimatedLogicle {
        t: Option<f64>,
        m: f64,
        a: f64,
        q: f64,
    },
}

/// One `CHANNELS=KIND(PARAMS)` specification.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformSpec {
    pub channels: Channels,
    pub transform: SpecTransform,
}

fn spec_error(spec: &str, reason: impl Into<String>) -> TransformError {
    TransformError::Spec {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

impl FromStr for TransformSpec {
    type Err = TransformError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (chan_part, kind_part) = spec
            .split_once('=')
            .filter(|(c, _)| !c.contains('('))
            .ok_or_else(|| {
                spec_error(
                    spec,
                    "expected CHANNELS=KIND(PARAMS), e.g. PE-A=arcsinh(cofactor=150)",
                )
            })?;
        let names: Vec<String> = chan_part.split(',').map(|s| s.trim().to_string()).collect();
        if names.iter().any(String::is_empty) {
            return Err(spec_error(
                spec,
                "an empty channel name in the channel list",
            ));
        }
        let channels = if names.len() == 1 && names[0].eq_ignore_ascii_case("fluorescence") {
            Channels::Fluorescence
        } else {
            Channels::Named(names)
        };
        let kind_part = kind_part.trim();
        let (kind, params) = match kind_part.split_once('(') {
            None => (kind_part, ""),
            Some((k, rest)) => {
                let inner = rest
                    .strip_suffix(')')
                    .ok_or_else(|| spec_error(spec, "missing ')' after the parameters"))?;
                (k.trim(), inner)
            }
        };
        let kind = kind.to_ascii_lowercase();
        let mut map = serde_json::Map::new();
        for pair in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| spec_error(spec, format!("parameter {pair:?} is not name=value")))?;
            let key = match k.trim().to_ascii_lowercase().as_str() {
                "maxrange" | "max" => "max_range".to_string(),
                other => other.to_string(),
            };
            let value: f64 = v.trim().parse().map_err(|_| {
                spec_error(
                    spec,
                    format!("parameter {key} = {:?} is not a number", v.trim()),
                )
            })?;
            let number = serde_json::Number::from_f64(value).ok_or_else(|| {
                spec_error(spec, format!("parameter {key} = {value} is not finite"))
            })?;
            if map.insert(key.clone(), number.into()).is_some() {
                return Err(spec_error(spec, format!("parameter {key} is given twice")));
            }
        }
        let transform = if kind == "logicle" && !map.contains_key("w") {
            let take = |map: &mut serde_json::Map<String, serde_json::Value>, k: &str| {
                map.remove(k).and_then(|v| v.as_f64())
            };
            let t = take(&mut map, "t");
            let m = take(&mut map, "m").unwrap_or(4.5);
            let a = take(&mut map, "a").unwrap_or(0.0);
            let q = take(&mut map, "q").unwrap_or(0.05);
            if let Some(k) = map.keys().next() {
                return Err(spec_error(
                    spec,
                    format!("estimated logicle takes T, M, A and q, not {k}"),
                ));
            }
            SpecTransform::EstimatedLogicle { t, m, a, q }
        } else {
            map.insert("kind".into(), kind.clone().into());
            let t: Transform = serde_json::from_value(serde_json::Value::Object(map))
                .map_err(|e| spec_error(spec, format!("{kind}: {e}")))?;
            SpecTransform::Fixed(t)
        };
        Ok(TransformSpec {
            channels,
            transform,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{Arcsinh, Linear, Logicle};

    #[test]
    fn parses_the_issue_examples() {
        let s: TransformSpec = "fluorescence=logicle(T=262144,W=0.5,M=4.5,A=0)"
            .parse()
            .unwrap();
        assert_eq!(
            s.transform,
            SpecTransform::Fixed(Transform::Logicle(
                Logicle::new(262144.0, 0.5, 4.5, 0.0).unwrap()
            ))
        );
        let s: TransformSpec = "FSC-A=linear".parse().unwrap();
        assert_eq!(s.channels, Channels::Named(vec!["FSC-A".into()]));
        assert_eq!(
            s.transform,
            SpecTransform::Fixed(Transform::Linear(Linear::identity()))
        );
        let s: TransformSpec = "PE-A=arcsinh(cofactor=150)".parse().unwrap();
        assert_eq!(
            s.transform,
            SpecTransform::Fixed(Transform::Arcsinh(Arcsinh::new(150.0).unwrap()))
        );
    }

    #[test]
    fn logicle_without_width_is_estimated() {
        let s: TransformSpec = "fluorescence=logicle".parse().unwrap();
        assert_eq!(
            s.transform,
            SpecTransform::EstimatedLogicle {
                t: None,
                m: 4.5,
                a: 0.0,
                q: 0.05
            }
        );
        let s: TransformSpec = "A,B=logicle(M=4,T=1000)".parse().unwrap();
        assert_eq!(
            s.transform,
            SpecTransform::EstimatedLogicle {
                t: Some(1000.0),
                m: 4.0,
                a: 0.0,
                q: 0.05
            }
        );
    }

    #[test]
    fn errors_name_the_spec_and_problem() {
        for (spec, needle) in [
            ("PE-A", "CHANNELS=KIND"),
            ("PE-A=logicle(T=262144,W=3,M=4.5,A=0)", "W must be ≤ M/2"),
            ("PE-A=arcsinh(cofactor=x)", "not a number"),
            ("PE-A=sqrt", "unknown variant"),
            ("PE-A=arcsinh(cofactor=5", "missing ')'"),
            ("=linear", "empty channel"),
        ] {
            let e = spec.parse::<TransformSpec>().unwrap_err().to_string();
            assert!(e.contains(spec) && e.contains(needle), "{spec}: {e}");
        }
    }
}
