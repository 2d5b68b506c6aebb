//! A why-chain step as bundles and locks record it (bundle.json schema 2, moa.lock version 2):
//! the resolver's [`WhyStep`] with every string a validated [`Line`], tagged by kind, so a
//! script reads `{"step": "needs", "package": "hello", "requirement": "libgreet1 (>= 1.0)"}`
//! instead of parsing English. Before (schema 1, lock 1) a step was its sentence: such a one
//! reads back as [`WhyRecord::Recorded`] and prints as it was written.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::resolve::WhyStep;
use moa_model::types::{Line, TypeError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum WhyRecord {
    Requested {
        package: Line,
    },
    Needs {
        package: Line,
        requirement: Line,
    },
    UpgradedWith {
        package: Line,
        with: Line,
        source: Line,
    },
    KeepsConsistent {
        package: Line,
    },
    /// A step an older moa-bundle wrote as its sentence.
    Recorded {
        text: Line,
    },
}

impl WhyRecord {
    /// The record of a resolver's step; a string that is no [`Line`] (a control character from
    /// the metadata) is refused.
    pub fn of(step: &WhyStep) -> Result<Self, TypeError> {
        let l = |s: &str| Line::new(s);
        Ok(match step {
            WhyStep::Requested { package } => Self::Requested { package: l(package)? },
            WhyStep::Needs { package, requirement } => {
                Self::Needs { package: l(package)?, requirement: l(requirement)? }
            }
            WhyStep::UpgradedWith { package, with, source } => {
                Self::UpgradedWith { package: l(package)?, with: l(with)?, source: l(source)? }
            }
            WhyStep::KeepsConsistent { package } => Self::KeepsConsistent { package: l(package)? },
            WhyStep::Recorded(text) => Self::Recorded { text: l(text)? },
        })
    }

    /// The step again, for the resolver's reports.
    pub fn step(&self) -> WhyStep {
        let s = |l: &Line| l.to_string();
        match self {
            Self::Requested { package } => WhyStep::Requested { package: s(package) },
            Self::Needs { package, requirement } => WhyStep::Needs { package: s(package), requirement: s(requirement) },
            Self::UpgradedWith { package, with, source } => {
                WhyStep::UpgradedWith { package: s(package), with: s(with), source: s(source) }
            }
            Self::KeepsConsistent { package } => WhyStep::KeepsConsistent { package: s(package) },
            Self::Recorded { text } => WhyStep::Recorded(s(text)),
        }
    }
}

impl fmt::Display for WhyRecord {
    /// The sentence the resolver's step reads as (`hello needs libgreet1 (>= 1.0)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.step().fmt(f)
    }
}

/// A why-chain of either form: today's records, or the sentences of bundle.json schema 1 and
/// moa.lock version 1 (each a [`Line`], read as [`WhyRecord::Recorded`]). A record that is
/// wrong says which field, as serde says it for the record alone.
pub(crate) fn either_form<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<WhyRecord>, D::Error> {
    struct OneStep(WhyRecord);
    struct StepVisitor;
    impl<'de> Visitor<'de> for StepVisitor {
        type Value = OneStep;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a why-step: a table with `step`, or (written before) its sentence")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<OneStep, E> {
            Line::new(s).map(|text| OneStep(WhyRecord::Recorded { text })).map_err(E::custom)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<OneStep, A::Error> {
            WhyRecord::deserialize(de::value::MapAccessDeserializer::new(map)).map(OneStep)
        }
    }
    impl<'de> Deserialize<'de> for OneStep {
        fn deserialize<D2: Deserializer<'de>>(d: D2) -> Result<Self, D2::Error> {
            d.deserialize_any(StepVisitor)
        }
    }
    Ok(Vec::<OneStep>::deserialize(d)?.into_iter().map(|s| s.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_tagged_steps_and_sentences_read_as_recorded() {
        let steps = [
            WhyStep::Requested { package: "hello".into() },
            WhyStep::Needs { package: "hello".into(), requirement: "libgreet1 (>= 1.0)".into() },
            WhyStep::UpgradedWith { package: "a".into(), with: "b".into(), source: "src".into() },
            WhyStep::KeepsConsistent { package: "c".into() },
        ];
        let records: Vec<WhyRecord> = steps.iter().map(|s| WhyRecord::of(s).unwrap()).collect();
        let json = serde_json::to_string(&records[1]).unwrap();
        assert_eq!(json, r#"{"step":"needs","package":"hello","requirement":"libgreet1 (>= 1.0)"}"#);
        for (r, s) in records.iter().zip(&steps) {
            assert_eq!(&r.step(), s);
            assert_eq!(r.to_string(), s.to_string());
        }
        #[derive(Deserialize)]
        struct Chain {
            #[serde(deserialize_with = "either_form")]
            why: Vec<WhyRecord>,
        }
        let old: Chain =
            serde_json::from_str(r#"{"why": ["hello (requested)", {"step": "requested", "package": "x"}]}"#).unwrap();
        assert_eq!(old.why[0], WhyRecord::Recorded { text: Line::new("hello (requested)").unwrap() });
        assert_eq!(old.why[0].to_string(), "hello (requested)");
        assert_eq!(old.why[1].to_string(), "x (requested)");
        for bad in [
            r#"{"why": ["a\u001b[31m"]}"#,
            r#"{"why": [{"step": "needs", "package": "x"}]}"#,
            r#"{"why": [{"step": "owns", "package": "x"}]}"#,
            r#"{"why": [{"step": "requested", "package": "x", "more": 1}]}"#,
        ] {
            assert!(serde_json::from_str::<Chain>(bad).is_err(), "{bad} was read");
        }
        assert!(WhyRecord::of(&WhyStep::Requested { package: "a\nb".into() }).is_err());
    }
}
