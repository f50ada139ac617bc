//! Simulated WAF IP sets, and a referee for the WAF kind.
//!
//! [`Sets`] implements [`SetApi`] as strictly as WAF: at most 10,000 addresses, one family per set,
//! a duplicate name is `WAFDuplicateItemException`. [`check_run`] runs a plan through the real
//! [`apply`] and checks after each call that each set only ever holds CIDRs published before or now,
//! and every CIDR it held that is still published (an update replaces a set whole, so there is no
//! moment in between); at the end, the exact addresses, the counts, the synctokens, and that planning
//! again changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::FutureExt;
use ipnet::IpNet;

use crate::error::AwsError;
use crate::ip_sets::{
    ADDRESSES_LIMIT, Changes, Desired, Observed, ObservedSet, Plan, SetApi, apply, plan,
};
use crate::ownership::Unrecorded;
use crate::rule::Family;

/// One set in the simulation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimSet {
    pub name: String,
    pub family: Family,
    pub addresses: BTreeSet<IpNet>,
    pub synctoken: Option<u64>,
}

/// The managed sets by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sets {
    pub sets: BTreeMap<String, SimSet>,
    /// Sets of the deployment's names that it did not record, by id.
    pub unrecorded: BTreeMap<String, SimSet>,
    /// Ids of sets a web ACL uses: WAF refuses to delete them.
    pub used: BTreeSet<String>,
    /// Writes made, for the tests that count them.
    pub writes: usize,
    created: usize,
}

fn refused(operation: &'static str, code: &str, message: String) -> AwsError {
    AwsError::coded(operation, code, message)
}

impl Sets {
    pub fn from_observed(observed: &Observed) -> Sets {
        Sets {
            sets: observed
                .sets
                .iter()
                .map(|s| {
                    let sim = SimSet {
                        name: s.name.clone(),
                        family: s.family,
                        addresses: s.addresses.clone(),
                        synctoken: s.synctoken,
                    };
                    (s.id.clone(), sim)
                })
                .collect(),
            unrecorded: (observed.unrecorded.iter())
                .map(|u| {
                    let sim = SimSet {
                        name: u.name.clone(),
                        family: Family::V4,
                        addresses: BTreeSet::new(),
                        synctoken: None,
                    };
                    (u.id.clone(), sim)
                })
                .collect(),
            used: (observed.unrecorded.iter())
                .filter(|u| !u.reclaimable)
                .map(|u| u.id.clone())
                .collect(),
            writes: 0,
            created: 0,
        }
    }

    pub fn observe(&self) -> Observed {
        Observed {
            sets: self
                .sets
                .iter()
                .map(|(id, s)| ObservedSet {
                    id: id.clone(),
                    name: s.name.clone(),
                    family: s.family,
                    addresses: s.addresses.clone(),
                    synctoken: s.synctoken,
                    adopt: false,
                })
                .collect(),
            unrecorded: (self.unrecorded.iter())
                .map(|(id, s)| Unrecorded {
                    id: id.clone(),
                    name: s.name.clone(),
                    reclaimable: s.addresses.is_empty() && !self.used.contains(id),
                })
                .collect(),
            ..Observed::default()
        }
    }

    fn check(operation: &'static str, family: Family, addresses: &[IpNet]) -> Result<(), AwsError> {
        if addresses.len() > ADDRESSES_LIMIT {
            return Err(refused(
                operation,
                "WAFLimitsExceededException",
                format!("{} addresses", addresses.len()),
            ));
        }
        match addresses.iter().find(|n| !family.holds(n)) {
            Some(n) => Err(refused(
                operation,
                "WAFInvalidParameterException",
                format!("{n} in an {family} set"),
            )),
            None => Ok(()),
        }
    }

    fn by_id(&mut self, operation: &'static str, id: &str) -> Result<&mut SimSet, AwsError> {
        self.sets.get_mut(id).ok_or_else(|| {
            refused(
                operation,
                "WAFNonexistentItemException",
                format!("no IP set {id}"),
            )
        })
    }
}

impl SetApi for Sets {
    async fn create(
        &mut self,
        name: &str,
        family: Family,
        addresses: &[IpNet],
        synctoken: u64,
    ) -> Result<String, AwsError> {
        const OP: &str = "wafv2:CreateIPSet";
        Sets::check(OP, family, addresses)?;
        if (self.sets.values().chain(self.unrecorded.values())).any(|s| s.name == name) {
            return Err(refused(
                OP,
                "WAFDuplicateItemException",
                format!("{name} exists"),
            ));
        }
        self.writes += 1;
        let id = loop {
            self.created += 1;
            let id = format!("set-sim{}", self.created);
            if !self.sets.contains_key(&id) {
                break id;
            }
        };
        self.sets.insert(
            id.clone(),
            SimSet {
                name: name.to_string(),
                family,
                addresses: addresses.iter().copied().collect(),
                synctoken: Some(synctoken),
            },
        );
        Ok(id)
    }

    async fn update(&mut self, id: &str, name: &str, addresses: &[IpNet]) -> Result<(), AwsError> {
        const OP: &str = "wafv2:UpdateIPSet";
        let set = self.by_id(OP, id)?;
        if set.name != name {
            return Err(refused(
                OP,
                "WAFNonexistentItemException",
                format!("{id} is not named {name}"),
            ));
        }
        Sets::check(OP, set.family, addresses)?;
        set.addresses = addresses.iter().copied().collect();
        self.writes += 1;
        Ok(())
    }

    async fn record_synctoken(
        &mut self,
        id: &str,
        _name: &str,
        synctoken: u64,
    ) -> Result<(), AwsError> {
        self.by_id("wafv2:TagResource", id)?.synctoken = Some(synctoken);
        self.writes += 1;
        Ok(())
    }

    async fn adopt(&mut self, ids: &[String]) -> Result<(), AwsError> {
        for id in ids {
            if let Some(s) = self.unrecorded.remove(id) {
                self.sets.insert(id.clone(), s);
            }
        }
        Ok(())
    }

    async fn retire(&mut self, id: &str, _name: &str) -> Result<bool, AwsError> {
        if self.used.contains(id) {
            return Ok(false);
        }
        self.by_id("wafv2:DeleteIPSet", id)?;
        self.sets.remove(id);
        self.writes += 1;
        Ok(true)
    }

    async fn reclaim(&mut self, id: &str, _name: &str) -> Result<bool, AwsError> {
        if self.used.contains(id) {
            return Ok(false);
        }
        self.unrecorded.remove(id);
        self.writes += 1;
        Ok(true)
    }

    async fn forget(&mut self, _arns: &[String]) -> Result<(), AwsError> {
        Ok(())
    }
}

const VIOLATION: &str = "sgsync:invariant";

struct Refereed<'a> {
    sets: Sets,
    desired: &'a Desired,
    before: BTreeMap<String, BTreeSet<IpNet>>,
    calls: usize,
}

impl Refereed<'_> {
    fn check(&mut self) -> Result<(), AwsError> {
        let step = self.calls;
        self.calls += 1;
        for (id, s) in &self.sets.sets {
            let empty = BTreeSet::new();
            let before = self.before.get(id).unwrap_or(&empty);
            let published = |n: &IpNet| self.desired.nets.contains(n);
            let lost = before
                .iter()
                .find(|n| published(n) && !s.addresses.contains(n));
            let widened = s
                .addresses
                .iter()
                .find(|n| !published(n) && !before.contains(n));
            if let Some(n) = lost {
                return Err(AwsError::other(
                    VIOLATION,
                    format!("call {step}: {} lost {n}", s.name),
                ));
            }
            if let Some(n) = widened {
                return Err(AwsError::other(
                    VIOLATION,
                    format!("call {step}: {} now holds {n}", s.name),
                ));
            }
        }
        Ok(())
    }
}

impl SetApi for Refereed<'_> {
    async fn create(
        &mut self,
        name: &str,
        family: Family,
        addresses: &[IpNet],
        synctoken: u64,
    ) -> Result<String, AwsError> {
        let id = self.sets.create(name, family, addresses, synctoken).await?;
        self.check()?;
        Ok(id)
    }

    async fn update(&mut self, id: &str, name: &str, addresses: &[IpNet]) -> Result<(), AwsError> {
        self.sets.update(id, name, addresses).await?;
        self.check()
    }

    async fn record_synctoken(
        &mut self,
        id: &str,
        name: &str,
        synctoken: u64,
    ) -> Result<(), AwsError> {
        self.sets.record_synctoken(id, name, synctoken).await?;
        self.check()
    }

    async fn adopt(&mut self, ids: &[String]) -> Result<(), AwsError> {
        self.sets.adopt(ids).await?;
        self.check()
    }

    async fn retire(&mut self, id: &str, name: &str) -> Result<bool, AwsError> {
        let r = self.sets.retire(id, name).await?;
        self.check()?;
        Ok(r)
    }

    async fn reclaim(&mut self, id: &str, name: &str) -> Result<bool, AwsError> {
        let r = self.sets.reclaim(id, name).await?;
        self.check()?;
        Ok(r)
    }

    async fn forget(&mut self, arns: &[String]) -> Result<(), AwsError> {
        self.sets.forget(arns).await?;
        self.check()
    }
}

/// Runs `plan` (made from `observed`) through the real [`apply`] against simulated sets, checking
/// the invariants after every call and at the end. Returns the sets after the run.
pub fn check_run(observed: &Observed, desired: &Desired, planned: &Plan) -> Result<Sets, String> {
    let sets = Sets::from_observed(observed);
    let mut referee = Refereed {
        before: sets
            .sets
            .iter()
            .map(|(id, s)| (id.clone(), s.addresses.clone()))
            .collect(),
        sets,
        desired,
        calls: 0,
    };
    let applied = apply(&mut referee, observed, planned)
        .now_or_never()
        .expect("the simulation never waits")
        .map_err(|e| e.to_string())?;
    let sets = referee.sets;
    if applied.changes != Changes::of_plan(planned) {
        return Err(format!(
            "apply counted {:?}, the plan says {:?}",
            applied.changes,
            Changes::of_plan(planned)
        ));
    }
    for family in &desired.families {
        let want: BTreeSet<IpNet> = desired
            .nets
            .iter()
            .filter(|n| family.holds(n))
            .copied()
            .collect();
        let held: Vec<&SimSet> = sets.sets.values().filter(|s| s.family == *family).collect();
        match held.as_slice() {
            [one] if one.addresses == want && one.synctoken == Some(desired.synctoken) => {}
            _ => {
                return Err(format!(
                    "the {family} set does not hold exactly the desired CIDRs: {held:?}"
                ));
            }
        }
    }
    let again = plan(desired, &sets.observe()).map_err(|e| format!("planning again fails: {e}"))?;
    if !again.is_empty() {
        return Err(format!("planning again is not empty: {:?}", again.actions));
    }
    Ok(sets)
}
