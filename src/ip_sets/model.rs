//! The plain data of the WAF IP-set kind: one AWS WAF (wafv2) IP set per IP family, holding the
//! published CIDRs, for a web ACL rule to match.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use crate::ownership::Conflict;
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
}

/// One read of the sets of one scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub sets: Vec<ObservedSet>,
    /// Sets of this deployment's names that another deployment owns.
    pub conflicts: Vec<Conflict>,
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
                Action::RecordSynctoken { .. } => {}
            }
        }
        c
    }
}
