//! What exists now: the answer of `sgsync status`, for every kind `KINDS` names (each kind gives its
//! section and its text, `crate::kind::Kind::status`).

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::summary::merged;
use crate::outcome::Inventory;

/// What `sgsync status` shows: every kind `KINDS` names, as it is now. The security-group fields
/// sit at the top level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// The ownership prefix.
    pub prefix: String,
    /// The newest synctoken recorded on any managed resource.
    pub applied_synctoken: Option<u64>,
    /// Each kind's section.
    #[serde(flatten)]
    pub kinds: Map<String, Value>,
    /// Things to know.
    pub warnings: Vec<String>,
    /// Each kind as text, and in a few words.
    #[serde(skip)]
    texts: Vec<(String, String)>,
}

impl From<&Inventory> for StatusReport {
    fn from(inv: &Inventory) -> StatusReport {
        let synctoken = inv
            .applied_synctoken()
            .map_or("none".to_string(), |t| t.to_string());
        StatusReport {
            prefix: inv.prefix.clone(),
            applied_synctoken: inv.applied_synctoken(),
            kinds: merged(inv.kinds.iter().map(|k| k.status())),
            warnings: inv.kinds.iter().flat_map(|k| k.warnings()).collect(),
            texts: inv
                .kinds
                .iter()
                .map(|k| (k.status_text(&inv.prefix, &synctoken), k.status_line()))
                .collect(),
        }
    }
}

impl StatusReport {
    /// What each kind holds, in a few words: a fleet's line per VPC.
    pub(super) fn lines(&self) -> impl Iterator<Item = &str> {
        self.texts.iter().map(|(_, line)| line.as_str())
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (text, _) in &self.texts {
            f.write_str(text)?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
