//! The plain data of the WAF IP-set kind: one AWS WAF (wafv2) IP set per IP family, holding the
//! published CIDRs, for a web ACL rule to match.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use crate::ownership::Unrecorded;
use crate::rule::Family;

/// WAF's limit of addresses (CIDRs) in one IP set.
pub const ADDRESSES_LIMIT: usize = 10_000;

/// Where the sets live: a regional web ACL (ALB, API Gateway …) or CloudFront's, whose API is only
/// in us-east-1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Scope {
    Regional,
    Cloudfront,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Regional => "REGIONAL",
            Scope::Cloudfront => "CLOUDFRONT",
        })
    }
}

/// A set this deployment owns, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedSet {
    pub id: String,
    /// `{stem}-ipv4` or `{stem}-ipv6`.
    pub name: String,
    pub family: Family,
    pub addresses: BTreeSet<IpNet>,
    /// The synctoken tag.
    pub synctoken: Option<u64>,
    /// Tagged as this deployment's but not in its record (an sgsync that kept no record made it):
    /// with `--adopt` only, the run records it first.
    pub adopt: bool,
}

/// A set this deployment recorded under another name (an earlier `SERVICE` or `PREFIX_NAME`): no
/// longer synced; deleted unless a web ACL or rule group still uses it (WAF refuses that).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RetiringSet {
    pub id: String,
    pub name: String,
}

/// One read of the sets of one scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The sets this deployment recorded (and, with `--adopt`, those it takes over) under its
    /// current names.
    pub sets: Vec<ObservedSet>,
    /// Recorded sets of other names.
    pub retiring: Vec<RetiringSet>,
    /// Sets of this deployment's names that it did not record: never filled; a reclaimable one (this
    /// deployment's tags, no addresses) is deleted and made again, any other blocks its name.
    pub unrecorded: Vec<Unrecorded>,
    /// ARNs the record holds of sets that no longer exist: taken out of the record.
    pub missing: Vec<String>,
    pub warnings: Vec<String>,
}

impl Observed {
    /// The synctokens recorded on the sets.
    pub fn synctokens(&self) -> impl Iterator<Item = u64> + '_ {
        self.sets.iter().filter_map(|s| s.synctoken)
    }
}

/// What the sets are asked to hold.
#[derive(Clone, Debug)]
pub struct Desired {
    pub nets: BTreeSet<IpNet>,
    pub synctoken: u64,
    /// `{PREFIX_NAME}-{service}`.
    pub stem: String,
    /// The IP versions selected: a set exists per selected family (even when the document lists no
    /// CIDR of it, so that a web ACL rule always has its set to point at).
    pub families: Vec<Family>,
    /// `/sgsync/<DEPLOYMENT_ID>/waf-ip-sets`, for what is said about sets it does not hold.
    pub record: String,
}

/// One step of a WAF plan; each is one API call (and WAF allows about one write per second per
/// account and region: the adapter spaces them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create a set, tagged at creation, with its addresses.
    Create {
        set: String,
        family: Family,
        addresses: Vec<IpNet>,
        synctoken: u64,
    },
    /// Replace a set's addresses (UpdateIPSet replaces the whole list; `add` and `remove` are the
    /// difference, for the reader).
    Update {
        set: String,
        add: Vec<IpNet>,
        remove: Vec<IpNet>,
        addresses: Vec<IpNet>,
    },
    /// Record the applied synctoken on sets whose tag differs.
    RecordSynctoken { sets: Vec<String>, synctoken: u64 },
    /// Record sets an sgsync that kept no record made (`--adopt`): first.
    Adopt { sets: Vec<String> },
    /// Delete a set of an earlier selection, or of a family no longer selected (kept when a web ACL
    /// still uses it), and take it out of the record.
    Retire { set: String, id: String },
    /// Delete an empty unrecorded set of this deployment's tags (a run stopped between create and
    /// record), before its name is made again.
    Reclaim { set: String, id: String },
    /// Take ARNs of sets that no longer exist out of the record.
    Forget { arns: Vec<String> },
}

/// The planner's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Set name → its family and addresses after the plan.
    pub layout: BTreeMap<String, (Family, BTreeSet<IpNet>)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// What a run changed (for a plan: would change).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub sets_created: usize,
    pub sets_updated: usize,
    pub addresses_added: usize,
    pub addresses_removed: usize,
}

impl Changes {
    pub fn of_plan(plan: &Plan) -> Changes {
        let mut c = Changes::default();
        for action in &plan.actions {
            match action {
                Action::Create { addresses, .. } => {
                    c.sets_created += 1;
                    c.addresses_added += addresses.len();
                }
                Action::Update { add, remove, .. } => {
                    c.sets_updated += 1;
                    c.addresses_added += add.len();
                    c.addresses_removed += remove.len();
                }
                Action::RecordSynctoken { .. }
                | Action::Adopt { .. }
                | Action::Retire { .. }
                | Action::Reclaim { .. }
                | Action::Forget { .. } => {}
            }
        }
        c
    }
}
