//! Prefix lists, WAF IP sets and RAM shares as AWS holds them, and the resources someone else makes
//! beside sgsync's (an IP set, a group that references a managed list).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};

use super::aws::Aws;

impl Aws {
    /// The customer-managed prefix lists tagged `sgsync:prefix = prefix`, by name.
    pub async fn prefix_lists(&self, prefix: &str) -> Vec<PrefixList> {
        let out = self
            .ec2
            .describe_managed_prefix_lists()
            .filters(
                Filter::builder()
                    .name("tag:sgsync:prefix")
                    .values(prefix)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let mut lists = Vec::new();
        for l in out.prefix_lists() {
            if l.state().is_some_and(|s| s.as_str().starts_with("delete")) {
                continue;
            }
            let id = l.prefix_list_id().unwrap().to_string();
            let entries = self
                .ec2
                .get_managed_prefix_list_entries()
                .prefix_list_id(&id)
                .send()
                .await
                .unwrap();
            lists.push(PrefixList {
                name: l.prefix_list_name().unwrap_or_default().to_string(),
                family: l.address_family().unwrap_or_default().to_string(),
                max_entries: l.max_entries().unwrap_or_default() as usize,
                version: l.version().unwrap_or_default(),
                entries: entries
                    .entries()
                    .iter()
                    .map(|e| e.cidr().unwrap().to_string())
                    .collect(),
                descriptions: entries
                    .entries()
                    .iter()
                    .map(|e| e.description().unwrap_or_default().to_string())
                    .collect(),
                tags: l
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
                id,
            });
        }
        lists.sort_by_key(|l| (l.name.len(), l.name.clone()));
        lists
    }

    /// The REGIONAL WAF IP sets, by name, with their addresses and tags.
    pub async fn ip_sets(&self) -> Vec<IpSet> {
        use aws_sdk_wafv2::types::Scope;
        let out = self
            .waf
            .list_ip_sets()
            .scope(Scope::Regional)
            .send()
            .await
            .unwrap();
        let mut sets = Vec::new();
        for summary in out.ip_sets() {
            let (name, id, arn) = (
                summary.name().unwrap(),
                summary.id().unwrap(),
                summary.arn().unwrap(),
            );
            let got = self
                .waf
                .get_ip_set()
                .name(name)
                .id(id)
                .scope(Scope::Regional)
                .send()
                .await
                .unwrap();
            let set = got.ip_set().unwrap();
            let tags = self
                .waf
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .unwrap();
            sets.push(IpSet {
                id: id.to_string(),
                name: name.to_string(),
                version: set.ip_address_version().as_str().to_string(),
                description: set.description().unwrap_or_default().to_string(),
                addresses: set.addresses().iter().cloned().collect(),
                tags: tags
                    .tag_info_for_resource()
                    .map(|t| {
                        t.tag_list()
                            .iter()
                            .map(|t| (t.key().to_string(), t.value().to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        sets.sort_by(|a, b| a.name.cmp(&b.name));
        sets
    }

    /// Creates a WAF IP set straight in moto (someone else's, or a squatter).
    pub async fn create_ip_set(
        &self,
        name: &str,
        addresses: &[&str],
        tags: &[(&str, &str)],
    ) -> String {
        use aws_sdk_wafv2::types::{IpAddressVersion, Scope, Tag};
        let mut request = self
            .waf
            .create_ip_set()
            .name(name)
            .scope(Scope::Regional)
            .ip_address_version(IpAddressVersion::Ipv4)
            .set_addresses(Some(addresses.iter().map(|a| a.to_string()).collect()));
        for (k, v) in tags {
            request = request.tags(Tag::builder().key(*k).value(*v).build().unwrap());
        }
        request
            .send()
            .await
            .unwrap()
            .summary()
            .unwrap()
            .id()
            .unwrap()
            .to_string()
    }

    /// Creates an IPv4 prefix list straight in moto with `entries` and `tags` (a forgery, say).
    pub async fn create_prefix_list(
        &self,
        name: &str,
        entries: &[&str],
        tags: &[(&str, &str)],
    ) -> String {
        use aws_sdk_ec2::types::{AddPrefixListEntry, ResourceType, Tag, TagSpecification};
        let mut spec = TagSpecification::builder().resource_type(ResourceType::PrefixList);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        self.ec2
            .create_managed_prefix_list()
            .prefix_list_name(name)
            .address_family("IPv4")
            .max_entries(10)
            .set_entries(Some(
                entries
                    .iter()
                    .map(|e| AddPrefixListEntry::builder().cidr(*e).build())
                    .collect(),
            ))
            .set_tag_specifications((!tags.is_empty()).then(|| vec![spec.build()]))
            .send()
            .await
            .unwrap()
            .prefix_list()
            .unwrap()
            .prefix_list_id()
            .unwrap()
            .to_string()
    }

    /// Creates a RAM share straight in moto, with `principals` and `tags`; returns its ARN.
    pub async fn create_share(
        &self,
        name: &str,
        principals: &[&str],
        tags: &[(&str, &str)],
    ) -> String {
        use aws_sdk_ram::types::Tag;
        let mut request = self
            .ram
            .create_resource_share()
            .name(name)
            .set_principals(Some(principals.iter().map(|p| p.to_string()).collect()));
        for (k, v) in tags {
            request = request.tags(Tag::builder().key(*k).value(*v).build());
        }
        let arn = request
            .send()
            .await
            .unwrap()
            .resource_share()
            .unwrap()
            .resource_share_arn()
            .unwrap()
            .to_string();
        self.proxy.share_tags(&arn, tags);
        arn
    }

    /// One RAM share by ARN: (resource ARNs, principals).
    pub async fn share(&self, arn: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        use aws_sdk_ram::types::ResourceShareAssociationType;
        let mut out = (BTreeSet::new(), BTreeSet::new());
        for (kind, into) in [
            (ResourceShareAssociationType::Resource, &mut out.0),
            (ResourceShareAssociationType::Principal, &mut out.1),
        ] {
            let page = self
                .ram
                .get_resource_share_associations()
                .association_type(kind)
                .resource_share_arns(arn)
                .send()
                .await
                .unwrap();
            into.extend(
                page.resource_share_associations()
                    .iter()
                    .filter_map(|a| a.associated_entity().map(str::to_string)),
            );
        }
        out
    }

    /// The RAM shares this account owns: name → (resource ARNs, principals).
    pub async fn shares(&self) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
        use aws_sdk_ram::types::{ResourceOwner, ResourceShareAssociationType};
        let out = self
            .ram
            .get_resource_shares()
            .resource_owner(ResourceOwner::SelfValue)
            .send()
            .await
            .unwrap();
        let mut shares = BTreeMap::new();
        for share in out.resource_shares() {
            let arn = share.resource_share_arn().unwrap();
            let of = |kind: ResourceShareAssociationType| {
                let ram = self.ram.clone();
                let arn = arn.to_string();
                async move {
                    ram.get_resource_share_associations()
                        .association_type(kind)
                        .resource_share_arns(arn)
                        .send()
                        .await
                        .unwrap()
                        .resource_share_associations()
                        .iter()
                        .filter_map(|a| a.associated_entity().map(str::to_string))
                        .collect::<BTreeSet<String>>()
                }
            };
            let resources = of(ResourceShareAssociationType::Resource).await;
            let principals = of(ResourceShareAssociationType::Principal).await;
            shares.insert(share.name().unwrap().to_string(), (resources, principals));
        }
        shares
    }

    /// Creates a security group straight in moto whose ingress references `prefix_list` on port 443,
    /// beside `cidr_rules` rules of its own (someone's origin group, say).
    pub async fn create_referencing_group(
        &self,
        name: &str,
        prefix_list: &str,
        cidr_rules: usize,
    ) -> String {
        use aws_sdk_ec2::types::PrefixListId;
        let id = self
            .create_group(name, "references a managed prefix list")
            .await;
        let mut permission = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .prefix_list_ids(PrefixListId::builder().prefix_list_id(prefix_list).build());
        for i in 0..cidr_rules {
            permission = permission.ip_ranges(
                IpRange::builder()
                    .cidr_ip(format!("100.64.{i}.0/24"))
                    .build(),
            );
        }
        self.ec2
            .authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(permission.build())
            .send()
            .await
            .unwrap();
        id
    }
}

/// One managed prefix list as AWS holds it.
#[derive(Clone, Debug)]
pub struct PrefixList {
    pub id: String,
    pub name: String,
    pub family: String,
    pub max_entries: usize,
    pub version: i64,
    pub entries: BTreeSet<String>,
    pub descriptions: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
}

/// One WAF IP set as AWS holds it.
#[derive(Clone, Debug)]
pub struct IpSet {
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub addresses: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
}
