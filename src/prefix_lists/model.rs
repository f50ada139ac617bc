//! The plain data of the prefix-list kind: customer-managed prefix lists holding the published CIDRs
//! (no ports: a list is a set of CIDRs), one or more per IP family.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde::Serialize;

use crate::ownership::Unrecorded;
use crate::rule::Family;

/// The most entries one modification may add, and the most it may remove (EC2's limit per request).
pub const CHANGES_PER_REQUEST: usize = 100;

/// EC2's largest `MaxEntries`.
pub const MAX_ENTRIES_LIMIT: usize = 1000;

/// A customer-managed prefix list this deployment owns, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedList {
    /// `pl-…`.
    pub id: String,
    /// Its name (unique per deployment: `{stem}-ipv4-{n}`).
    pub name: String,
    /// IPv4 or IPv6 (a list holds one family).
    pub family: Family,
    /// Its `MaxEntries`: also its weight in the rules quota of every security group rule that
    /// references it.
    pub max_entries: usize,
    /// Its version: each modification must name the current one (an optimistic lock).
    pub version: u64,
    /// Its CIDRs.
    pub entries: BTreeSet<IpNet>,
    /// The synctoken tag.
    pub synctoken: Option<u64>,
    /// Tagged as this deployment's but not in its record (an sgsync that kept no record made it):
    /// with `--adopt` only, the run records it first.
    pub adopt: bool,
}

/// A list this deployment recorded under an earlier selection (another `SERVICE` or `PREFIX_NAME`):
/// no longer synced; deleted once nothing references it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Retiring {
    pub id: String,
    pub name: String,
    /// What references it (security groups, route tables, …): while anything does, it is kept as it
    /// is, with a warning (emptying it would cut what those allow).
    pub references: Vec<String>,
}

/// One read of a region's prefix lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The lists this deployment recorded (and, with `--adopt`, those it takes over), of its
    /// current selection.
    pub lists: Vec<ObservedList>,
    /// Recorded lists of an earlier selection.
    pub retiring: Vec<Retiring>,
    /// Lists carrying this deployment's tags and name that it did not record: never filled, shared
    /// or counted; reported (a reclaimable one is deleted, so that its name is free).
    pub unrecorded: Vec<Unrecorded>,
    /// Ids the record holds of lists that no longer exist: taken out of the record.
    pub missing: Vec<String>,
    /// Names of this deployment's pattern held by lists it does not own (other deployments',
    /// unrecorded ones): new lists skip them.
    pub taken: BTreeSet<String>,
    /// What is wrong with recorded lists that this run cannot mend (a list no longer synced that
    /// something references): errors of the run, which goes on.
    pub errors: Vec<String>,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

impl Observed {
    /// The synctokens recorded on the lists.
    pub fn synctokens(&self) -> impl Iterator<Item = u64> + '_ {
        self.lists.iter().filter_map(|l| l.synctoken)
    }
}

/// What the lists are asked to hold.
#[derive(Clone, Debug)]
pub struct Desired {
    /// Exactly the CIDRs the lists must hold, together.
    pub nets: BTreeSet<IpNet>,
    /// The document's synctoken, recorded on the lists once they hold `nets`.
    pub synctoken: u64,
    /// `{PREFIX_NAME}-{service}`: lists are `{stem}-ipv4-{n}` / `{stem}-ipv6-{n}`.
    pub stem: String,
    /// `PREFIX_LIST_MAX_ENTRIES`: the largest `MaxEntries` a list may have.
    pub cap: usize,
}

/// The `MaxEntries` a list holding `entries` gets, at most `cap`: room for routine growth (a tenth,
/// at least five), so that a new range rarely means a resize, and a resize (which changes the list's
/// weight in every referencing group) stays rare.
pub fn sized(entries: usize, cap: usize) -> usize {
    (entries + (entries.div_ceil(10)).max(5))
        .min(cap)
        .max(entries.min(cap))
        .max(1)
}

/// How `entries` new CIDRs are spread over new lists at `cap`: (lists, entries per list). New
/// lists leave a tenth of the cap free (at least one entry), shared out evenly: the remainder of an
/// aggregate that splits later then fits in a list its consumers already reference.
pub(super) fn fresh_split(entries: usize, cap: usize) -> (usize, usize) {
    let fill = cap.saturating_sub((cap / 10).max(1)).max(1);
    match entries.div_ceil(fill) {
        0 => (0, 0),
        n => (n, entries.div_ceil(n)),
    }
}

/// The `MaxEntries` of each list a first run creates for `entries` CIDRs of one family.
pub fn fresh_sizes(entries: usize, cap: usize) -> Vec<usize> {
    let (lists, per_list) = fresh_split(entries, cap);
    let mut left = entries;
    (0..lists)
        .map(|_| {
            let take = per_list.min(left);
            left -= take;
            sized(take, cap)
        })
        .collect()
}

/// One step of a prefix-list plan; each is one API call. Lists are named by name: a list the plan
/// creates has no id yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create a list (tagged at creation) with its first entries (at most
    /// [`CHANGES_PER_REQUEST`]).
    Create {
        list: String,
        family: Family,
        max_entries: usize,
        entries: Vec<IpNet>,
        synctoken: u64,
    },
    /// Raise a list's `MaxEntries` (a request of its own: EC2 refuses changing entries and size at
    /// once). Before it, the run checks that every referencing group still fits its quota.
    Resize {
        list: String,
        from: usize,
        to: usize,
    },
    /// Add and remove entries in one request: one version step, so no moment holds neither the old
    /// nor the new entry. At most [`CHANGES_PER_REQUEST`] each.
    Modify {
        list: String,
        add: Vec<IpNet>,
        remove: Vec<IpNet>,
        /// True for removals of CIDRs still published (they moved to another list, or were held
        /// twice): these come after every addition of the run.
        late: bool,
    },
    /// Delete a list left empty (kept, with a warning, while a resource still references it).
    Delete { list: String },
    /// Record lists an sgsync that kept no record made (`--adopt`): first, so that every later call is
    /// on a recorded list.
    Adopt { lists: Vec<String> },
    /// Delete a list of an earlier selection that nothing references (and take it out of the record).
    Retire { list: String, id: String },
    /// Delete an empty unrecorded list nothing references (a run stopped between create and record),
    /// so that its name is free for the next run.
    Reclaim { list: String, id: String },
    /// Take ids of lists that no longer exist out of the record.
    Forget { ids: Vec<String> },
    /// Record the applied synctoken on lists whose tag differs.
    RecordSynctoken { lists: Vec<String>, synctoken: u64 },
}

/// The deployment's RAM share of the lists (`SHARE_WITH`), as read: what it lacks, and what it has
/// beyond `SHARE_WITH`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareState {
    /// The share's name: `{stem}-prefix-lists`.
    pub name: String,
    /// Its ARN; `None` when it does not exist yet.
    pub arn: Option<String>,
    /// List ARNs to add.
    pub missing_lists: Vec<String>,
    /// Principals to add.
    pub missing_principals: Vec<String>,
    /// Principals it holds that `SHARE_WITH` no longer names: reported, never removed (withdrawing a
    /// share makes the other account's rules that reference the lists stop matching).
    pub extra_principals: Vec<String>,
    /// The share carries this deployment's tags but is not in its record, and `--adopt` takes it
    /// over: recorded first.
    pub adopt: bool,
    /// An empty share of this name and tags that the deployment did not record (a run stopped
    /// between creating and recording it): deleted, and the share made again.
    pub reclaim: Option<String>,
    /// Shares of its name it did not record and that are not an empty one of its own: someone
    /// else's (RAM does not keep names unique), never used; reported.
    pub unrecorded: Vec<String>,
}

impl ShareState {
    /// Whether completing the share would write nothing.
    pub fn complete(&self) -> bool {
        self.arn.is_some()
            && !self.adopt
            && self.missing_lists.is_empty()
            && self.missing_principals.is_empty()
    }
}

/// The RAM share of the lists in a run's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Share {
    /// `{stem}-prefix-lists`.
    pub name: String,
    /// Its ARN; `None` when it does not exist yet.
    pub arn: Option<String>,
    /// The principals it is shared with (`SHARE_WITH`).
    pub principals: Vec<String>,
    /// Lists the run added to it (for `plan`: would add).
    pub lists_added: usize,
    /// Principals the run added to it (for `plan`: would add).
    pub principals_added: usize,
}

/// A list after the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListAfter {
    pub family: Family,
    pub max_entries: usize,
    pub entries: BTreeSet<IpNet>,
}

/// The planner's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Ordered actions; empty when the lists already match.
    pub actions: Vec<Action>,
    /// List name → what it holds after the plan.
    pub layout: BTreeMap<String, ListAfter>,
}

impl Plan {
    /// True when running the plan would change nothing.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// What a run changed (for a plan: would change).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub lists_created: usize,
    pub lists_resized: usize,
    pub entries_added: usize,
    pub entries_removed: usize,
    pub lists_deleted: usize,
}

impl Changes {
    /// What a plan would change if every action did its full work.
    pub fn of_plan(plan: &Plan) -> Changes {
        let mut c = Changes::default();
        for action in &plan.actions {
            match action {
                Action::Create { entries, .. } => {
                    c.lists_created += 1;
                    c.entries_added += entries.len();
                }
                Action::Resize { .. } => c.lists_resized += 1,
                Action::Modify { add, remove, .. } => {
                    c.entries_added += add.len();
                    c.entries_removed += remove.len();
                }
                Action::Delete { .. } | Action::Retire { .. } => c.lists_deleted += 1,
                Action::RecordSynctoken { .. }
                | Action::Adopt { .. }
                | Action::Reclaim { .. }
                | Action::Forget { .. } => {}
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_get_a_tenth_of_headroom_at_least_five_within_the_cap() {
        assert_eq!(sized(0, 60), 5);
        assert_eq!(sized(45, 60), 50);
        assert_eq!(sized(58, 60), 60);
        assert_eq!(sized(60, 60), 60);
        assert_eq!(sized(180, 1000), 198);
        assert_eq!(sized(3, 4), 4);
    }
}
