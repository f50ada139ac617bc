//! Whether a plan's resizes fit every security group that references the lists: a rule that
//! references a customer-managed list weighs the list's `MaxEntries` in the group's rules quota (per
//! family, once per rule), so raising `MaxEntries` can push a referencing group over its quota. EC2
//! refuses such a resize only asynchronously (`modify-failed`), after the run has changed other
//! things; this check runs before anything is written.
//!
//! Every resize of the plan is weighed together, each list at its new size: two lists grown in one
//! run are both bigger in a group that references both. Groups of other accounts (the lists shared
//! through RAM) cannot be read from here: they are not weighed, and AWS's own refusal is the backstop.

use std::collections::BTreeMap;

use super::model::{Action, Plan};
use super::plan::PlanError;
use crate::rule::{Family, PerFamily};

/// A security group of this account that references managed lists, as the check needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referencing {
    /// `sg-…`.
    pub id: String,
    pub name: String,
    /// The slots its other entries take, per family (a CIDR in its family, a group reference in
    /// both).
    pub slots: PerFamily,
    /// Each of its references to a prefix list (one per rule: a list referenced on two ports counts
    /// twice): the list's id, family and current `MaxEntries`.
    pub lists: Vec<(String, Family, usize)>,
}

/// Refuses the resizes of `plan` when a group of `groups` would then count more rules of a family
/// than `rules_per_group`. `ids` gives each list's id by name.
pub fn check_resizes(
    plan: &Plan,
    ids: &BTreeMap<String, String>,
    groups: &[Referencing],
    rules_per_group: usize,
) -> Result<(), PlanError> {
    let resized: BTreeMap<&str, (&str, usize)> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Resize { list, to, .. } => {
                ids.get(list).map(|id| (id.as_str(), (list.as_str(), *to)))
            }
            _ => None,
        })
        .collect();
    for g in groups {
        let mut used = g.slots;
        for (id, family, max_entries) in &g.lists {
            let weight = resized.get(id.as_str()).map_or(*max_entries, |(_, to)| *to);
            *used.get_mut(*family) += weight;
        }
        let grown = g
            .lists
            .iter()
            .filter_map(|(id, family, _)| resized.get(id.as_str()).map(|r| (id, family, r)));
        for (id, family, (name, to)) in grown {
            if used.get(*family) > rules_per_group {
                return Err(PlanError::ResizeDoesNotFit {
                    list: name.to_string(),
                    id: id.clone(),
                    to: *to,
                    group: g.id.clone(),
                    group_name: g.name.clone(),
                    family: *family,
                    count: used.get(*family),
                    quota: rules_per_group,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resize(list: &str, from: usize, to: usize) -> Action {
        Action::Resize {
            list: list.into(),
            from,
            to,
        }
    }

    /// A group referencing two lists of 20 (weight 40) and 15 rules of its own, at 60 per group:
    /// each list alone may grow to 25 (60), both together may not.
    #[test]
    fn resizes_of_one_plan_are_weighed_together() {
        let ids = BTreeMap::from([
            ("a".to_string(), "pl-a".to_string()),
            ("b".to_string(), "pl-b".to_string()),
        ]);
        let group = Referencing {
            id: "sg-1".into(),
            name: "origin".into(),
            slots: PerFamily { v4: 15, v6: 0 },
            lists: vec![
                ("pl-a".into(), Family::V4, 20),
                ("pl-b".into(), Family::V4, 20),
            ],
        };
        let one = Plan {
            actions: vec![resize("a", 20, 25)],
            ..Plan::default()
        };
        assert!(check_resizes(&one, &ids, std::slice::from_ref(&group), 60).is_ok());
        let both = Plan {
            actions: vec![resize("a", 20, 25), resize("b", 20, 25)],
            ..Plan::default()
        };
        let e = check_resizes(&both, &ids, &[group], 60).unwrap_err();
        assert!(
            e.to_string().contains("would then count 65 IPv4 rules"),
            "{e}"
        );
    }

    #[test]
    fn a_list_of_the_other_family_does_not_weigh() {
        let ids = BTreeMap::from([("a".to_string(), "pl-a".to_string())]);
        let group = Referencing {
            id: "sg-1".into(),
            name: "origin".into(),
            slots: PerFamily { v4: 0, v6: 59 },
            lists: vec![("pl-a".into(), Family::V4, 50)],
        };
        let plan = Plan {
            actions: vec![resize("a", 50, 60)],
            ..Plan::default()
        };
        assert!(check_resizes(&plan, &ids, &[group], 60).is_ok());
    }
}
