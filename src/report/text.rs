//! A run as a reviewer reads it: the document and where it was synced, the warnings, each kind's diff
//! (terraform-style: `+` create, `~` change, `-` delete) and how the run ended.

use std::fmt;

use crate::outcome::{Outcome, Status};

/// The kinds a run keeps, in words: "groups", "groups, prefix lists and WAF IP sets".
fn nouns(o: &Outcome) -> String {
    let names: Vec<&str> = o.kinds.iter().map(|k| k.noun()).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "allow-lists".to_string(),
    }
}

/// What `sgsync plan` and `sgsync apply` print: the document and what it is synced into, the
/// warnings, the diff, and how the run ended.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An event's run reads no document: it attaches the groups as they are.
        match (self.create_date.is_empty(), self.synctoken) {
            (false, _) => write!(
                f,
                "{} document {} ({})",
                self.service, self.synctoken, self.create_date
            )?,
            (true, 0) => write!(f, "{}: event, no document", self.service)?,
            (true, t) => write!(f, "{}: event, groups at synctoken {t}", self.service)?,
        }
        match self.kinds.iter().find_map(|k| k.place()) {
            Some(place) => writeln!(f, ": {} rules {place}", self.rules)?,
            None => writeln!(f)?,
        }
        for w in self.all_warnings() {
            writeln!(f, "warning: {w}")?;
        }
        let diff = || self.kinds.iter().map(|k| k.diff()).collect::<String>();
        let counts = |planned: bool| {
            let parts: Vec<String> = self.kinds.iter().map(|k| k.changes_text(planned)).collect();
            parts.join("; ")
        };
        match self.status {
            Status::Skipped => writeln!(
                f,
                "Skipped: the document is older than the one applied ({}); nothing was changed.",
                self.recorded_synctokens()
                    .into_iter()
                    .max()
                    .map_or("none".to_string(), |t| t.to_string())
            ),
            Status::Unchanged => writeln!(
                f,
                "No changes: the managed {} already hold exactly the published ranges.",
                nouns(self)
            ),
            Status::Planned => {
                f.write_str(&diff())?;
                writeln!(f, "Plan: {}. Nothing was changed.", counts(true))
            }
            Status::Applied => {
                f.write_str(&diff())?;
                writeln!(f, "Applied: {}.", counts(false))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::guard::{GuardError, GuardLimits};
    use crate::kind::{Desired, Kind, Section};
    use crate::report::{StatusReport, Summary};

    /// A kind that says fixed things: what the reports make of any kind's parts.
    #[derive(Debug)]
    struct Fake {
        noun: &'static str,
        place: Option<&'static str>,
        key: Option<&'static str>,
        synctoken: Option<u64>,
    }

    impl Kind for Fake {
        fn noun(&self) -> &'static str {
            self.noun
        }
        fn synctokens(&self) -> Vec<u64> {
            self.synctoken.into_iter().collect()
        }
        fn check(&self, _: &Desired, _: &GuardLimits) -> Result<(), GuardError> {
            Ok(())
        }
        fn planned(&self) -> bool {
            true
        }
        fn changes_made(&self) -> usize {
            2
        }
        fn changes_text(&self, planned: bool) -> String {
            format!(
                "2 {} {}",
                self.noun,
                if planned { "to make" } else { "made" }
            )
        }
        fn warnings(&self) -> Vec<String> {
            vec![format!("a {} warning", self.noun)]
        }
        fn place(&self) -> Option<String> {
            self.place.map(str::to_string)
        }
        fn summary(&self) -> Section {
            Section {
                key: self.key,
                value: json!({ "held": self.noun }),
            }
        }
        fn headline(&self) -> String {
            format!("2 {}", self.noun)
        }
        fn diff(&self) -> String {
            format!("  + one of the {}\n", self.noun)
        }
        fn status(&self) -> Section {
            self.summary()
        }
        fn status_text(&self, prefix: &str, synctoken: &str) -> String {
            format!("{} of {prefix} (synctoken {synctoken})\n", self.noun)
        }
        fn line(&self) -> String {
            format!("2 {}", self.noun)
        }
        fn status_line(&self) -> String {
            self.line()
        }
    }

    fn outcome(status: Status, kinds: Vec<Box<dyn Kind>>) -> Outcome {
        Outcome {
            status,
            service: "CLOUDFRONT".into(),
            source: "aws".into(),
            synctoken: 7,
            create_date: "2026-08-22-15-17-05".into(),
            download: crate::source::Fetched::Full,
            rules: 70,
            warnings: vec!["a document warning".into()],
            errors: Vec::new(),
            kinds,
        }
    }

    fn three() -> Vec<Box<dyn Kind>> {
        vec![
            Box::new(Fake {
                noun: "lists",
                place: None,
                key: Some("lists"),
                synctoken: Some(6),
            }),
            Box::new(Fake {
                noun: "groups",
                place: Some("in VPC vpc-1"),
                key: None,
                synctoken: Some(5),
            }),
            Box::new(Fake {
                noun: "sets",
                place: None,
                key: Some("sets"),
                synctoken: None,
            }),
        ]
    }

    #[test]
    fn a_plan_reads_as_every_kinds_diff_with_what_would_change() {
        let text = outcome(Status::Planned, three()).to_string();
        assert_eq!(
            text,
            "CLOUDFRONT document 7 (2026-08-22-15-17-05): 70 rules in VPC vpc-1\n\
             warning: a document warning\n\
             warning: a lists warning\n\
             warning: a groups warning\n\
             warning: a sets warning\n  \
             + one of the lists\n  \
             + one of the groups\n  \
             + one of the sets\n\
             Plan: 2 lists to make; 2 groups to make; 2 sets to make. Nothing was changed.\n"
        );
        let only = outcome(Status::Applied, three().into_iter().skip(2).collect()).to_string();
        assert!(
            only.starts_with("CLOUDFRONT document 7 (2026-08-22-15-17-05)\n"),
            "{only}"
        );
        assert!(only.ends_with("Applied: 2 sets made.\n"), "{only}");
    }

    #[test]
    fn unchanged_and_skipped_runs_end_with_one_line_each() {
        let unchanged = outcome(Status::Unchanged, three()).to_string();
        assert!(unchanged.ends_with(
            "No changes: the managed lists, groups and sets already hold exactly the published ranges.\n"
        ));
        let skipped = outcome(Status::Skipped, three()).to_string();
        assert!(
            skipped.ends_with(
                "Skipped: the document is older than the one applied (6); nothing was changed.\n"
            ),
            "{skipped}"
        );
    }

    #[test]
    fn the_summary_puts_top_level_fields_first_then_each_kind_under_its_key() {
        let summary = Summary::from(&outcome(Status::Applied, three()));
        let keys: Vec<&str> = summary.kinds.keys().map(String::as_str).collect();
        assert_eq!(keys, ["held", "lists", "sets"]);
        assert_eq!(summary.kinds["held"], "groups");
        assert_eq!(summary.kinds["lists"], json!({ "held": "lists" }));
        assert_eq!(summary.warnings.len(), 4);
        assert_eq!(
            summary.headline(),
            "applied: CLOUDFRONT (document 7); lists: 2 lists; groups: 2 groups; sets: 2 sets"
        );
        let json = serde_json::to_string(&summary).unwrap();
        assert!(
            json.starts_with(
                r#"{"status":"applied","synctoken":"7","service":"CLOUDFRONT","source":"aws","version":"2026-08-22-15-17-05","download":"full","rules":70,"held":"groups""#
            ),
            "{json}"
        );
    }

    #[test]
    fn status_is_every_kinds_text_then_the_warnings() {
        let inventory = crate::outcome::Inventory {
            prefix: "AUTOUPDATE".into(),
            kinds: three(),
        };
        let report = StatusReport::from(&inventory);
        assert_eq!(report.applied_synctoken, Some(6));
        assert_eq!(
            report.to_string(),
            "lists of AUTOUPDATE (synctoken 6)\ngroups of AUTOUPDATE (synctoken 6)\n\
             sets of AUTOUPDATE (synctoken 6)\nwarning: a lists warning\n\
             warning: a groups warning\nwarning: a sets warning\n"
        );
    }
}
