//! One run as JSON — printed by `plan`/`apply --output json`, returned by the Lambda — and its
//! one-line headline for the log. Each kind gives its section (`crate::kind::Kind::summary`): the
//! security-group fields sit at the top level (where they were before other kinds existed), each
//! other kind has its own key, present when `KINDS` names it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::kind::Section;
use crate::outcome::{Outcome, Status};

/// The summary of one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// How the run ended.
    pub status: Status,
    /// The document's synctoken.
    pub synctoken: String,
    /// The selected service(s).
    pub service: String,
    /// `SOURCE`: whose document.
    pub source: String,
    /// The document's version as it says it (Amazon's createDate; another provider's version
    /// field, and the digest of its selected ranges); empty for an event's run, which reads none.
    pub version: String,
    /// How the document was had: `full` (downloaded), `not_modified` (the server said it had not
    /// changed and the kept copy answered, `DOWNLOAD_CACHE`), `file`, or `none` (an event's run).
    pub download: crate::source::Fetched,
    /// Desired security-group rules (CIDRs × port ranges).
    pub rules: usize,
    /// Each kind's section: fields at the top level (security groups) or under the kind's key
    /// (`prefix_lists`, `waf_ip_sets`).
    #[serde(flatten)]
    pub kinds: Map<String, Value>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// What failed without stopping the rest; the run exits 1 when there is any.
    pub errors: Vec<String>,
    /// Each kind's part of the log line.
    #[serde(skip)]
    headlines: Vec<(&'static str, String)>,
}

/// The sections, as one object: the top-level ones first, then each under its key.
pub(super) fn merged(sections: impl IntoIterator<Item = Section>) -> Map<String, Value> {
    let (top, keyed): (Vec<Section>, Vec<Section>) =
        sections.into_iter().partition(|s| s.key.is_none());
    let mut map = Map::new();
    for s in top {
        if let Value::Object(fields) = s.value {
            map.extend(fields);
        }
    }
    for s in keyed {
        map.insert(s.key.unwrap_or_default().to_string(), s.value);
    }
    map
}

impl From<&Outcome> for Summary {
    fn from(o: &Outcome) -> Summary {
        Summary {
            status: o.status,
            synctoken: o.synctoken.to_string(),
            service: o.service.clone(),
            source: o.source.clone(),
            version: o.create_date.clone(),
            download: o.download,
            rules: o.rules,
            kinds: merged(o.kinds.iter().map(|k| k.summary())),
            warnings: o.all_warnings(),
            errors: o.all_errors(),
            headlines: o.kinds.iter().map(|k| (k.noun(), k.headline())).collect(),
        }
    }
}

impl Summary {
    /// One line for logs: how the run ended, then each kind's changes.
    pub fn headline(&self) -> String {
        let mut line = format!(
            "{}: {} (document {})",
            self.status.word(),
            self.service,
            self.synctoken
        );
        for (noun, headline) in &self.headlines {
            line.push_str(&format!("; {noun}: {headline}"));
        }
        line
    }
}
