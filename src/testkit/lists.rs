//! A simulated region for the prefix-list kind, and a referee that checks every invariant after every
//! call.
//!
//! [`Lists`] implements [`ListApi`] as strictly as EC2: at most 100 entries added and 100 removed
//! per request, never more entries than `MaxEntries` (1 to 1000), one family per list, a duplicate add
//! or a missing remove is `InvalidPrefixListModification`, a CIDR both added and removed in one request
//! is refused, a size lowered under the entries held is refused. [`check_run`] runs a plan through the
//! real [`apply`] against it, and checks after each call, per family, on the union of the lists (what
//! a group referencing every list of the family allows):
//!
//! - no lost access: every published CIDR the union held before the run it still holds;
//! - never widen: the union gains nothing but published CIDRs;
//! - sizes: no list grows past `PREFIX_LIST_MAX_ENTRIES` unless it was bigger already (its weight in
//!   referencing groups never rises past what the operator allowed);
//!
//! and over the whole run: the exact final entries, the change counts, and that planning again
//! changes nothing. A crash is a run cut after `k` calls; [`resume`] observes and plans again.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::FutureExt;
use ipnet::IpNet;

use crate::addresses::Addresses;
use crate::error::AwsError;
use crate::ownership::Unrecorded;
use crate::prefix_lists::{
    CHANGES_PER_REQUEST, Changes, Desired, ListApi, MAX_ENTRIES_LIMIT, Observed, ObservedList,
    Plan, apply, plan,
};
use crate::rule::Family;

/// One list in the simulated region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimList {
    pub name: String,
    pub family: Family,
    pub max_entries: usize,
    pub version: u64,
    pub entries: BTreeSet<IpNet>,
    pub synctoken: Option<u64>,
}

/// The managed lists by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lists {
    pub lists: BTreeMap<String, SimList>,
    /// Ids of lists something references: deleting them fails (they are kept).
    pub referenced: BTreeSet<String>,
    /// Lists carrying the deployment's tags that it did not record, by id: never changed but by
    /// `adopt` and `reclaim`.
    pub unrecorded: BTreeMap<String, SimList>,
    created: usize,
}

fn refused(operation: &'static str, code: &str, message: String) -> AwsError {
    AwsError::coded(operation, code, message)
}

impl Lists {
    /// The region as observed (an unrecorded list that is not reclaimable is held referenced).
    pub fn from_observed(observed: &Observed) -> Lists {
        let unrecorded = observed.unrecorded.iter().map(|u| {
            let sim = SimList {
                name: u.name.clone(),
                family: Family::V4,
                max_entries: 1,
                version: 1,
                entries: BTreeSet::new(),
                synctoken: None,
            };
            (u.id.clone(), sim)
        });
        let held = observed.unrecorded.iter().filter(|u| !u.reclaimable);
        Lists {
            unrecorded: unrecorded.collect(),
            referenced: held.map(|u| u.id.clone()).collect(),
            lists: observed
                .lists
                .iter()
                .map(|l| {
                    let sim = SimList {
                        name: l.name.clone(),
                        family: l.family,
                        max_entries: l.max_entries,
                        version: l.version,
                        entries: l.entries.clone(),
                        synctoken: l.synctoken,
                    };
                    (l.id.clone(), sim)
                })
                .collect(),
            created: 0,
        }
    }

    /// What an observe step would report now.
    pub fn observe(&self) -> Observed {
        Observed {
            lists: self
                .lists
                .iter()
                .map(|(id, l)| ObservedList {
                    id: id.clone(),
                    name: l.name.clone(),
                    family: l.family,
                    max_entries: l.max_entries,
                    version: l.version,
                    entries: l.entries.clone(),
                    synctoken: l.synctoken,
                    adopt: false,
                })
                .collect(),
            unrecorded: (self.unrecorded.iter())
                .map(|(id, l)| Unrecorded {
                    id: id.clone(),
                    name: l.name.clone(),
                    reclaimable: l.entries.is_empty() && !self.referenced.contains(id),
                })
                .collect(),
            ..Observed::default()
        }
    }

    /// The union of the lists of `family`.
    pub fn union(&self, family: Family) -> BTreeSet<IpNet> {
        self.lists
            .values()
            .filter(|l| l.family == family)
            .flat_map(|l| l.entries.iter().copied())
            .collect()
    }

    fn by_id(&mut self, operation: &'static str, id: &str) -> Result<&mut SimList, AwsError> {
        self.lists.get_mut(id).ok_or_else(|| {
            refused(
                operation,
                "InvalidPrefixListID.NotFound",
                format!("no prefix list {id}"),
            )
        })
    }
}

fn check_family(operation: &'static str, family: Family, nets: &[IpNet]) -> Result<(), AwsError> {
    match nets.iter().find(|n| !family.holds(n)) {
        Some(n) => Err(refused(
            operation,
            "InvalidParameterValue",
            format!("{n} is not an {family} CIDR"),
        )),
        None => Ok(()),
    }
}

impl ListApi for Lists {
    async fn create(
        &mut self,
        name: &str,
        family: Family,
        max_entries: usize,
        entries: &[IpNet],
        synctoken: u64,
    ) -> Result<String, AwsError> {
        const OP: &str = "ec2:CreateManagedPrefixList";
        if !(1..=MAX_ENTRIES_LIMIT).contains(&max_entries) {
            return Err(refused(
                OP,
                "InvalidParameterValue",
                "Must specify a max size between 1 and 1000".into(),
            ));
        }
        if entries.len() > CHANGES_PER_REQUEST || entries.len() > max_entries {
            return Err(refused(
                OP,
                "InvalidParameterValue",
                format!("{} entries", entries.len()),
            ));
        }
        check_family(OP, family, entries)?;
        // Ids are never reused, also across runs (a world rebuilt from an observation).
        let id = loop {
            self.created += 1;
            let id = format!("pl-sim{}", self.created);
            if !self.lists.contains_key(&id) {
                break id;
            }
        };
        self.lists.insert(
            id.clone(),
            SimList {
                name: name.to_string(),
                family,
                max_entries,
                version: 1,
                entries: entries.iter().copied().collect(),
                synctoken: Some(synctoken),
            },
        );
        Ok(id)
    }

    async fn resize(&mut self, id: &str, max_entries: usize) -> Result<(), AwsError> {
        const OP: &str = "ec2:ModifyManagedPrefixList";
        let list = self.by_id(OP, id)?;
        if !(1..=MAX_ENTRIES_LIMIT).contains(&max_entries) || max_entries < list.entries.len() {
            return Err(refused(
                OP,
                "InvalidParameterValue",
                format!("max entries {max_entries}"),
            ));
        }
        list.max_entries = max_entries;
        Ok(())
    }

    async fn modify(
        &mut self,
        id: &str,
        add: &[IpNet],
        remove: &[IpNet],
    ) -> Result<(usize, usize), AwsError> {
        const OP: &str = "ec2:ModifyManagedPrefixList";
        let list = self.by_id(OP, id)?;
        if add.len() > CHANGES_PER_REQUEST || remove.len() > CHANGES_PER_REQUEST {
            return Err(refused(
                OP,
                "InvalidParameterValue",
                "The number of entries per request cannot exceeds limit (100).".into(),
            ));
        }
        if add.is_empty() && remove.is_empty() {
            return Err(refused(
                OP,
                "InvalidRequest",
                "an empty modification".into(),
            ));
        }
        check_family(OP, list.family, add)?;
        if let Some(n) = add.iter().find(|n| remove.contains(n)) {
            return Err(refused(
                OP,
                "InvalidParameterValue",
                format!(
                    "Request cannot contain Cidr {n} in both AddPrefixListEntries and RemovePrefixListEntries"
                ),
            ));
        }
        if let Some(n) = add.iter().find(|n| list.entries.contains(n)) {
            return Err(refused(
                OP,
                "InvalidPrefixListModification",
                format!("{n} already exists"),
            ));
        }
        if let Some(n) = remove.iter().find(|n| !list.entries.contains(n)) {
            return Err(refused(
                OP,
                "InvalidPrefixListModification",
                format!("{n} does not exist."),
            ));
        }
        let after = list.entries.len() - remove.len() + add.len();
        if after > list.max_entries {
            return Err(refused(
                OP,
                "PrefixListMaxEntriesExceeded",
                format!("{after} entries exceed the list's {}", list.max_entries),
            ));
        }
        for n in remove {
            list.entries.remove(n);
        }
        list.entries.extend(add.iter().copied());
        list.version += 1;
        Ok((add.len(), remove.len()))
    }

    async fn delete(&mut self, id: &str) -> Result<bool, AwsError> {
        if self.referenced.contains(id) {
            return Ok(false);
        }
        self.by_id("ec2:DeleteManagedPrefixList", id)?;
        self.lists.remove(id);
        Ok(true)
    }

    async fn record_synctoken(&mut self, ids: &[String], synctoken: u64) -> Result<(), AwsError> {
        for id in ids {
            self.by_id("ec2:CreateTags", id)?.synctoken = Some(synctoken);
        }
        Ok(())
    }

    async fn adopt(&mut self, ids: &[String]) -> Result<(), AwsError> {
        for id in ids {
            if let Some(l) = self.unrecorded.remove(id) {
                self.lists.insert(id.clone(), l);
            }
        }
        Ok(())
    }

    async fn reclaim(&mut self, id: &str) -> Result<bool, AwsError> {
        if self.referenced.contains(id) {
            return Ok(false);
        }
        match self.unrecorded.get(id) {
            Some(l) if l.entries.is_empty() => {
                self.unrecorded.remove(id);
                Ok(true)
            }
            _ => Err(refused(
                "ec2:DeleteManagedPrefixList",
                "sgsync:invariant",
                format!("{id} is not an empty unrecorded list"),
            )),
        }
    }

    async fn forget(&mut self, _ids: &[String]) -> Result<(), AwsError> {
        Ok(())
    }
}

const VIOLATION: &str = "sgsync:invariant";

/// The referee: a [`Lists`] that checks the invariants after every call and may stop (crash) after a
/// number of calls.
struct Refereed<'a> {
    lists: Lists,
    desired: &'a Desired,
    before: BTreeMap<Family, BTreeSet<IpNet>>,
    sizes_before: BTreeMap<String, usize>,
    calls: usize,
    crash_after: Option<usize>,
}

impl Refereed<'_> {
    fn check(&mut self) -> Result<(), AwsError> {
        let step = self.calls;
        self.calls += 1;
        let fail = |message: String| {
            Err(AwsError::other(
                VIOLATION,
                format!("call {step}: {message}"),
            ))
        };
        // By address: an aggregate that splits or merges keeps every still-published address.
        let published = Addresses::of(&self.desired.nets);
        for family in Family::ALL {
            let now = Addresses::of(&self.lists.union(family));
            let before = Addresses::of(&self.before[&family]);
            if let Some(n) = now.missing(&before.intersection(&published)).first() {
                return fail(format!("the {family} lists lost still-published {n}"));
            }
            if let Some(n) = before.union(&published).missing(&now).first() {
                return fail(format!(
                    "the {family} lists now hold {n}, published neither before nor now"
                ));
            }
        }
        for (id, l) in &self.lists.lists {
            let allowed = self
                .desired
                .cap
                .max(self.sizes_before.get(id).copied().unwrap_or(0));
            if l.max_entries > allowed {
                return fail(format!(
                    "{} grew to {} entries, past {allowed}",
                    l.name, l.max_entries
                ));
            }
        }
        if self.crash_after.is_some_and(|k| self.calls >= k) {
            return Err(AwsError::other(
                "sgsync:crash",
                format!("crashed after call {step}"),
            ));
        }
        Ok(())
    }

    fn then<T>(&mut self, result: Result<T, AwsError>) -> Result<T, AwsError> {
        let value = result?;
        self.check()?;
        Ok(value)
    }
}

impl ListApi for Refereed<'_> {
    async fn create(
        &mut self,
        name: &str,
        family: Family,
        max_entries: usize,
        entries: &[IpNet],
        synctoken: u64,
    ) -> Result<String, AwsError> {
        let r = self
            .lists
            .create(name, family, max_entries, entries, synctoken)
            .await;
        self.then(r)
    }

    async fn resize(&mut self, id: &str, max_entries: usize) -> Result<(), AwsError> {
        let r = self.lists.resize(id, max_entries).await;
        self.then(r)
    }

    async fn modify(
        &mut self,
        id: &str,
        add: &[IpNet],
        remove: &[IpNet],
    ) -> Result<(usize, usize), AwsError> {
        let r = self.lists.modify(id, add, remove).await;
        self.then(r)
    }

    async fn delete(&mut self, id: &str) -> Result<bool, AwsError> {
        let r = self.lists.delete(id).await;
        self.then(r)
    }

    async fn record_synctoken(&mut self, ids: &[String], synctoken: u64) -> Result<(), AwsError> {
        let r = self.lists.record_synctoken(ids, synctoken).await;
        self.then(r)
    }

    async fn adopt(&mut self, ids: &[String]) -> Result<(), AwsError> {
        let r = self.lists.adopt(ids).await;
        self.then(r)
    }

    async fn reclaim(&mut self, id: &str) -> Result<bool, AwsError> {
        let r = self.lists.reclaim(id).await;
        self.then(r)
    }

    async fn forget(&mut self, ids: &[String]) -> Result<(), AwsError> {
        let r = self.lists.forget(ids).await;
        self.then(r)
    }
}

fn referee<'a>(lists: Lists, desired: &'a Desired, crash_after: Option<usize>) -> Refereed<'a> {
    Refereed {
        before: Family::ALL.iter().map(|f| (*f, lists.union(*f))).collect(),
        sizes_before: lists
            .lists
            .iter()
            .map(|(id, l)| (id.clone(), l.max_entries))
            .collect(),
        lists,
        desired,
        calls: 0,
        crash_after,
    }
}

/// Runs `plan` (made from `observed`) through the real [`apply`] against simulated lists (some of them
/// referenced: `referenced` ids), checking every invariant after every call and at the end. Returns the
/// lists after the run, or the first violation.
pub fn check_run(
    observed: &Observed,
    desired: &Desired,
    plan: &Plan,
    referenced: &BTreeSet<String>,
) -> Result<Lists, String> {
    let mut lists = Lists::from_observed(observed);
    lists.referenced.extend(referenced.iter().cloned());
    let mut referee = referee(lists, desired, None);
    let applied = apply(&mut referee, observed, plan)
        .now_or_never()
        .expect("the simulated region never waits")
        .map_err(|e| e.to_string())?;
    let lists = referee.lists;
    let mut expected = Changes::of_plan(plan);
    expected.lists_deleted -= applied.kept.len();
    if applied.changes != expected {
        return Err(format!(
            "apply counted {:?}, the plan says {expected:?}",
            applied.changes
        ));
    }
    for family in Family::ALL {
        let want: BTreeSet<IpNet> = desired
            .nets
            .iter()
            .filter(|n| family.holds(n))
            .copied()
            .collect();
        if lists.union(family) != want {
            return Err(format!(
                "the {family} lists do not hold exactly the desired CIDRs"
            ));
        }
    }
    for (id, l) in &lists.lists {
        if l.entries.is_empty() && !applied.kept.contains(&l.name) {
            return Err(format!("{} ({id}) is left empty", l.name));
        }
        if l.entries.len() > l.max_entries {
            return Err(format!("{} holds more than its size", l.name));
        }
        if !l.entries.is_empty() && l.synctoken != Some(desired.synctoken) {
            return Err(format!(
                "{} does not record synctoken {}",
                l.name, desired.synctoken
            ));
        }
    }
    let again = plan_again(desired, &lists)?;
    let pending_deletes = again
        .actions
        .iter()
        .all(|a| matches!(a, crate::prefix_lists::Action::Delete { .. }));
    if !(again.is_empty() || (!applied.kept.is_empty() && pending_deletes)) {
        return Err(format!("planning again is not empty: {:?}", again.actions));
    }
    Ok(lists)
}

/// Runs `plan` until it crashes after `k` calls (or completes), then observes, plans and applies
/// again as the next run would, checking the invariants throughout. Returns the lists at the end.
pub fn resume(
    observed: &Observed,
    desired: &Desired,
    plan: &Plan,
    k: usize,
) -> Result<Lists, String> {
    let mut referee = referee(Lists::from_observed(observed), desired, Some(k));
    let first = apply(&mut referee, observed, plan)
        .now_or_never()
        .expect("the simulated region never waits");
    match first {
        Ok(_) => {}
        Err(e) if e.source.operation == "sgsync:crash" => {}
        Err(e) => return Err(e.to_string()),
    }
    let after_crash = referee.lists.observe();
    let next = plan_again(desired, &referee.lists)?;
    check_run(&after_crash, desired, &next, &BTreeSet::new())
}

fn plan_again(desired: &Desired, lists: &Lists) -> Result<Plan, String> {
    plan(desired, &lists.observe()).map_err(|e| format!("planning again fails: {e}"))
}
