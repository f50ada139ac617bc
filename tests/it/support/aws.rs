//! The AWS side of a test: moto, the recording proxy in front of it, and SDK clients to set up
//! interfaces, instances and load balancers straight in moto (so the proxy records only sgsync's
//! calls), and to read back what the security groups hold.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};

use super::cli::{Output, Sgsync};
use super::moto::Moto;
use super::proxy::{self, FaultProxy, ProxyCall};

/// One managed group as AWS holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub rules: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
}

/// The AWS side of a test: moto, the proxy in front of it and SDK clients (set-up goes straight to
/// moto, so the proxy records only sgsync's calls).
pub struct Aws {
    pub moto: Moto,
    pub proxy: FaultProxy,
    pub ec2: aws_sdk_ec2::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub waf: aws_sdk_wafv2::Client,
    pub ram: aws_sdk_ram::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Aws {
    /// Starts moto and the proxy.
    pub async fn start() -> Aws {
        let moto = Moto::start();
        let proxy = FaultProxy::start(&moto.endpoint());
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(moto.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load()
            .await;
        Aws {
            ec2: aws_sdk_ec2::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            waf: aws_sdk_wafv2::Client::new(&config),
            ram: aws_sdk_ram::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            moto,
            proxy,
        }
    }

    /// What the deployment's record `/sgsync/<deployment>/<what>` holds (empty when it does not
    /// exist).
    pub async fn record(&self, deployment: &str, what: &str) -> BTreeSet<String> {
        let out = self
            .ssm
            .get_parameter()
            .name(format!("/sgsync/{deployment}/{what}"))
            .send()
            .await;
        match out {
            Ok(out) => out
                .parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .split(',')
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// `deployment`'s lease as it is now (`None`: nobody holds it).
    pub async fn lease(&self, deployment: &str) -> Option<String> {
        let out = self
            .ssm
            .get_parameter()
            .name(format!("/sgsync/{deployment}/lock"))
            .send()
            .await
            .ok()?;
        out.parameter()?.value().map(str::to_string)
    }

    /// Writes `deployment`'s lease as held by `holder` until `expiry_in` seconds from now (negative:
    /// a lease that ran out, as a killed run leaves it).
    pub async fn write_lease(&self, deployment: &str, holder: &str, expiry_in: i64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        self.ssm
            .put_parameter()
            .name(format!("/sgsync/{deployment}/lock"))
            .value(format!("{holder} {}", now + expiry_in))
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }

    /// Clears moto's state (moto re-creates the default VPC).
    pub fn reset(&self) {
        let addr = self
            .moto
            .endpoint()
            .trim_start_matches("http://")
            .to_string();
        proxy::forward(&addr, "POST", "/moto-api/reset", &[], b"").expect("reset moto");
    }

    /// The rules a target allows through the groups attached to it, as `cidr tcp/port`.
    pub async fn allowed(&self, attached: &[String]) -> BTreeSet<String> {
        let all = self.all_groups().await;
        attached
            .iter()
            .filter_map(|id| all.get(id))
            .flat_map(|(_, rules)| rules.iter().cloned())
            .collect()
    }

    /// Applies `doc` (written to a file of its own) with `sgsync`; returns the output and the run's
    /// calls, as the proxy recorded them.
    pub fn apply_doc(&self, sgsync: &Sgsync, doc: &[u8]) -> (Output, Vec<ProxyCall>) {
        let dir = tempfile::tempdir().unwrap();
        let file = super::files::doc_file(&dir, "ip-ranges.json", doc);
        self.proxy.clear();
        let out = sgsync.apply_file(&file);
        (out, self.proxy.calls())
    }

    /// The groups of `AUTOUPDATE` hold exactly `expected`, each rule once, at most 60 rules of each
    /// family per group, none empty, names unique and tagged as sgsync tags them.
    pub async fn assert_holds_exactly(
        &self,
        expected: &BTreeSet<String>,
        context: &str,
    ) -> Vec<Group> {
        let groups = self.managed_groups("AUTOUPDATE").await;
        let (all, count) = union(&groups);
        assert_eq!(&all, expected, "{context}: not exactly the published rules");
        assert_eq!(count, expected.len(), "{context}: a rule is held twice");
        let names: BTreeSet<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names.len(),
            groups.len(),
            "{context}: duplicate group names"
        );
        for g in &groups {
            let (v4, v6) = per_family(&g.rules);
            assert!(
                v4 <= 60 && v6 <= 60,
                "{context}: {} holds {v4} IPv4 and {v6} IPv6 rules",
                g.name
            );
            assert!(
                !g.rules.is_empty(),
                "{context}: {} is an orphaned empty group",
                g.name
            );
            assert_eq!(g.tags.get("Name"), Some(&g.name), "{context}");
            assert!(
                g.name.starts_with("AUTOUPDATE-cloudfront-"),
                "{context}: {}",
                g.name
            );
        }
        groups
    }

    /// `sgsync` pointed at this AWS through the proxy.
    pub fn sgsync(&self) -> Sgsync {
        Sgsync::new(&self.proxy.endpoint())
    }

    pub async fn default_vpc(&self) -> String {
        let out = self
            .ec2
            .describe_vpcs()
            .filters(Filter::builder().name("is-default").values("true").build())
            .send()
            .await
            .unwrap();
        // After /moto-api/reset moto may hold more than one default VPC: take the same one every time.
        out.vpcs()
            .iter()
            .map(|v| v.vpc_id().unwrap().to_string())
            .min()
            .unwrap()
    }

    /// Subnets of the default VPC in two availability zones.
    pub async fn subnets(&self) -> Vec<String> {
        let vpc = self.default_vpc().await;
        let out = self
            .ec2
            .describe_subnets()
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .send()
            .await
            .unwrap();
        let mut by_zone: BTreeMap<String, String> = BTreeMap::new();
        for s in out.subnets() {
            by_zone
                .entry(s.availability_zone().unwrap().to_string())
                .or_insert_with(|| s.subnet_id().unwrap().to_string());
        }
        by_zone.into_values().take(2).collect()
    }

    /// An empty group in the default VPC, untagged.
    pub async fn create_group(&self, name: &str, description: &str) -> String {
        let vpc = self.default_vpc().await;
        self.ec2
            .create_security_group()
            .group_name(name)
            .description(description)
            .vpc_id(vpc)
            .send()
            .await
            .unwrap()
            .group_id()
            .unwrap()
            .to_string()
    }

    /// An empty group with these tags, as someone who may write tags would make it.
    pub async fn create_tagged_group(&self, name: &str, tags: &[(&str, &str)]) -> String {
        let vpc = self.default_vpc().await;
        let mut spec = aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup);
        for (k, v) in tags {
            spec = spec.tags(aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build());
        }
        self.ec2
            .create_security_group()
            .group_name(name)
            .description("made by someone else")
            .vpc_id(vpc)
            .tag_specifications(spec.build())
            .send()
            .await
            .unwrap()
            .group_id()
            .unwrap()
            .to_string()
    }

    /// Opens a group to the world on every TCP port, as an attacker would.
    pub async fn open_to_the_world(&self, group_id: &str) {
        self.ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(1)
                    .to_port(65535)
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// A group sgsync does not own, with one rule.
    pub async fn create_foreign_group(&self, name: &str) -> String {
        let id = self.create_group(name, "not sgsync's").await;
        self.ec2
            .authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(22)
                    .to_port(22)
                    .ip_ranges(IpRange::builder().cidr_ip("192.0.2.0/24").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        id
    }

    pub async fn create_interface(&self, groups: &[String]) -> String {
        let subnet = self.subnets().await[0].clone();
        self.ec2
            .create_network_interface()
            .subnet_id(subnet)
            .set_groups(Some(groups.to_vec()))
            .send()
            .await
            .unwrap()
            .network_interface()
            .unwrap()
            .network_interface_id()
            .unwrap()
            .to_string()
    }

    /// Launches an instance with `groups` (an image moto knows); returns it and its interface.
    pub async fn launch_instance(&self, groups: &[String]) -> (String, String) {
        let subnet = self.subnets().await[0].clone();
        let image = self
            .ec2
            .describe_images()
            .owners("amazon")
            .send()
            .await
            .unwrap()
            .images()[0]
            .image_id()
            .unwrap()
            .to_string();
        let out = self
            .ec2
            .run_instances()
            .image_id(image)
            .min_count(1)
            .max_count(1)
            .subnet_id(subnet)
            .set_security_group_ids(Some(groups.to_vec()))
            .send()
            .await
            .unwrap();
        let instance = &out.instances()[0];
        let eni = instance.network_interfaces()[0]
            .network_interface_id()
            .unwrap()
            .to_string();
        (instance.instance_id().unwrap().to_string(), eni)
    }

    pub async fn create_alb(&self, name: &str, groups: &[String]) -> String {
        let subnets = self.subnets().await;
        self.elbv2
            .create_load_balancer()
            .name(name)
            .set_subnets(Some(subnets))
            .set_security_groups(Some(groups.to_vec()))
            .send()
            .await
            .unwrap()
            .load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_string()
    }

    /// Opts a target in: tags an interface (`eni-…`) or a load balancer (its ARN) with
    /// `sgsync:target` = `prefix`, as an operator does.
    pub async fn tag_target(&self, target: &str, prefix: &str) {
        if target.starts_with("eni-") {
            self.ec2
                .create_tags()
                .resources(target)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("sgsync:target")
                        .value(prefix)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        } else {
            self.elbv2
                .add_tags()
                .resource_arns(target)
                .tags(
                    aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                        .key("sgsync:target")
                        .value(prefix)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    }

    /// Sets a target's groups as an IaC tool putting back its own list does (the managed groups go).
    pub async fn set_groups(&self, target: &str, groups: &[String]) {
        if target.starts_with("eni-") {
            self.ec2
                .modify_network_interface_attribute()
                .network_interface_id(target)
                .set_groups(Some(groups.to_vec()))
                .send()
                .await
                .unwrap();
        } else {
            self.elbv2
                .set_security_groups()
                .load_balancer_arn(target)
                .set_security_groups(Some(groups.to_vec()))
                .send()
                .await
                .unwrap();
        }
    }

    /// A network load balancer with security groups (AWS allows groups on an NLB only when it is created
    /// with some).
    pub async fn create_nlb(&self, name: &str, groups: &[String]) -> String {
        let subnets = self.subnets().await;
        self.elbv2
            .create_load_balancer()
            .name(name)
            .r#type(aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Network)
            .set_subnets(Some(subnets))
            .set_security_groups(Some(groups.to_vec()))
            .send()
            .await
            .unwrap()
            .load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_string()
    }

    pub async fn interface_groups(&self, eni: &str) -> Vec<String> {
        let out = self
            .ec2
            .describe_network_interfaces()
            .network_interface_ids(eni)
            .send()
            .await
            .unwrap();
        out.network_interfaces()[0]
            .groups()
            .iter()
            .map(|g| g.group_id().unwrap().to_string())
            .collect()
    }

    pub async fn lb_groups(&self, arn: &str) -> Vec<String> {
        let out = self
            .elbv2
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
            .unwrap();
        out.load_balancers()[0].security_groups().to_vec()
    }

    /// The groups on a target (an `eni-…` id or a load balancer ARN), as a set.
    pub async fn groups_on(&self, target: &str) -> BTreeSet<String> {
        let groups = if target.starts_with("eni-") {
            self.interface_groups(target).await
        } else {
            self.lb_groups(target).await
        };
        groups.into_iter().collect()
    }

    /// A group's outbound entries, as `cidr protocol/ports`.
    pub async fn outbound(&self, group_id: &str) -> BTreeSet<String> {
        let out = self
            .ec2
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await
            .unwrap();
        rule_strings(out.security_groups()[0].ip_permissions_egress())
    }

    /// Revokes every outbound entry of a group (what a locked-down group of an origin looks like).
    pub async fn revoke_all_outbound(&self, group_id: &str) {
        let out = self
            .ec2
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await
            .unwrap();
        let egress = out.security_groups()[0].ip_permissions_egress().to_vec();
        if !egress.is_empty() {
            self.ec2
                .revoke_security_group_egress()
                .group_id(group_id)
                .set_ip_permissions(Some(egress))
                .send()
                .await
                .unwrap();
        }
    }

    /// Adds an outbound rule to a group (all traffic to `cidr`), as someone would by hand.
    pub async fn add_outbound(&self, group_id: &str, cidr: &str) {
        self.ec2
            .authorize_security_group_egress()
            .group_id(group_id)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("-1")
                    .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// Adds one inbound entry to a group straight in moto (someone's hand at the console).
    pub async fn authorize_raw(&self, group_id: &str, permission: IpPermission) {
        self.ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(permission)
            .send()
            .await
            .unwrap();
    }

    /// Every inbound entry of a group, whatever its source: `cidr proto/ports`, `sg-… proto/ports`,
    /// `pl-… proto/ports`.
    pub async fn inbound_entries(&self, group_id: &str) -> BTreeSet<String> {
        let out = self
            .ec2
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await
            .unwrap();
        let permissions = out.security_groups()[0].ip_permissions();
        let mut entries = rule_strings(permissions);
        for p in permissions {
            let ports = match (p.from_port(), p.to_port()) {
                (Some(a), Some(b)) if a >= 0 => format!("{a}-{b}"),
                _ => "all".into(),
            };
            let proto = p.ip_protocol().unwrap_or_default();
            for g in p.user_id_group_pairs() {
                entries.insert(format!(
                    "{} {proto}/{ports}",
                    g.group_id().unwrap_or_default()
                ));
            }
            for l in p.prefix_list_ids() {
                entries.insert(format!(
                    "{} {proto}/{ports}",
                    l.prefix_list_id().unwrap_or_default()
                ));
            }
        }
        entries
    }

    /// Every group of the default VPC, by id: (name, rules as `cidr tcp/port`).
    pub async fn all_groups(&self) -> BTreeMap<String, (String, BTreeSet<String>)> {
        let out = self.ec2.describe_security_groups().send().await.unwrap();
        out.security_groups()
            .iter()
            .map(|g| {
                (
                    g.group_id().unwrap().to_string(),
                    (
                        g.group_name().unwrap().to_string(),
                        rule_strings(g.ip_permissions()),
                    ),
                )
            })
            .collect()
    }

    /// The groups tagged `sgsync:prefix = prefix`, sorted by name.
    pub async fn managed_groups(&self, prefix: &str) -> Vec<Group> {
        let out = self
            .ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("tag:sgsync:prefix")
                    .values(prefix)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let mut groups: Vec<Group> = out
            .security_groups()
            .iter()
            .map(|g| Group {
                id: g.group_id().unwrap().to_string(),
                name: g.group_name().unwrap().to_string(),
                rules: rule_strings(g.ip_permissions()),
                tags: g
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            })
            .collect();
        groups.sort_by_key(|g| (g.name.len(), g.name.clone()));
        groups
    }
}

pub(super) fn rule_strings(permissions: &[IpPermission]) -> BTreeSet<String> {
    let mut rules = BTreeSet::new();
    for p in permissions {
        let ports = match (p.from_port(), p.to_port()) {
            (Some(a), Some(b)) if a == b => format!("{a}"),
            (Some(a), Some(b)) => format!("{a}-{b}"),
            _ => "all".into(),
        };
        for r in p.ip_ranges() {
            rules.insert(format!(
                "{} {}/{ports}",
                r.cidr_ip().unwrap(),
                p.ip_protocol().unwrap()
            ));
        }
        for r in p.ipv6_ranges() {
            rules.insert(format!(
                "{} {}/{ports}",
                r.cidr_ipv6().unwrap(),
                p.ip_protocol().unwrap()
            ));
        }
    }
    rules
}

/// How many of `rules` (`cidr tcp/port`) are IPv4 and IPv6: AWS's quota counts each apart.
pub fn per_family(rules: &BTreeSet<String>) -> (usize, usize) {
    let v6 = rules.iter().filter(|r| r.contains(':')).count();
    (rules.len() - v6, v6)
}

/// The union of the managed groups' rules, and the total count (to see duplicates).
pub fn union(groups: &[Group]) -> (BTreeSet<String>, usize) {
    let all: BTreeSet<String> = groups
        .iter()
        .flat_map(|g| g.rules.iter().cloned())
        .collect();
    (all, groups.iter().map(|g| g.rules.len()).sum())
}
