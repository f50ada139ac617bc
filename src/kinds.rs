//! The kinds of allow-list, listed once: which `KINDS` names, each with its AWS adapter, in the order
//! a run applies them. Adding a kind adds one entry here (docs/design.md, "How to add a kind").

use crate::aws::{AwsGroups, AwsLists, AwsSets, Clients};
use crate::config::Config;
use crate::kind::KindRun;
use crate::{ip_sets, prefix_lists, security_groups};

/// The kinds `config` names, ready to observe through `clients`. Prefix lists come first: groups
/// elsewhere may reference them, and each kind on its own never narrows below the published ranges
/// nor widens, so the order between kinds is otherwise free.
pub(crate) fn selected<'a>(config: &Config, clients: &'a Clients) -> Vec<Box<dyn KindRun + 'a>> {
    let owner = config.ownership();
    let descriptions = config.descriptions();
    let mut kinds: Vec<Box<dyn KindRun + 'a>> = Vec::new();
    if config.kinds.prefix_lists {
        let api = AwsLists::new(
            clients,
            owner.clone(),
            config.quota_overrides,
            descriptions.rule.clone(),
            config.allow_external_share,
            config.adopt,
        );
        kinds.push(Box::new(prefix_lists::Run::new(
            api,
            owner.stem.clone(),
            config.prefix_list_max_entries,
            config.share_with.clone(),
        )));
    }
    if config.kinds.security_groups {
        kinds.push(Box::new(security_groups::Run::new(
            groups_api(config, clients),
            owner.stem.clone(),
            config.repack,
        )));
    }
    if config.kinds.waf_ip_sets {
        let api = AwsSets::new(
            clients,
            config.waf_scope,
            owner.clone(),
            descriptions.ip_set.clone(),
            config.adopt,
        );
        let record = api.record_name();
        kinds.push(Box::new(ip_sets::Run::new(
            api,
            config.waf_scope,
            owner.stem,
            record,
        )));
    }
    kinds
}

/// The security groups of the configured VPC on AWS: what a full run and an event's attachment work
/// through.
pub(crate) fn groups_api<'a>(config: &Config, clients: &'a Clients) -> AwsGroups<'a> {
    let descriptions = config.descriptions();
    AwsGroups::new(
        clients,
        config.vpc_id.clone(),
        config.ownership(),
        config.quota_overrides,
        descriptions.group,
        descriptions.rule,
        config.adopt,
    )
    .attaching_carriers(config.attach_carriers)
    .replacing(config.replaces.clone())
}
