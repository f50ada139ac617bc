//! Shared support for the integration tests: a moto server per test, a fault-injecting proxy in front
//! of it, a real HTTP server for documents, the official SDK to set up interfaces and load balancers,
//! and the `sgsync` binary run as a user would run it.

#![allow(dead_code)]

pub mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};
use proxy::{FaultProxy, ProxyCall};
use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    sgsync::testkit::fixtures().join(rel)
}

/// The real document (`tests/fixtures/ip-ranges/latest.json`), its published MD5 and its syncToken.
pub fn latest() -> Vec<u8> {
    std::fs::read(fixture("ip-ranges/latest.json")).unwrap()
}
pub const LATEST_MD5: &str = "63431d35877fa5386ded1a7df9cfa971";
pub const LATEST_SYNCTOKEN: u64 = 1787411825;

#[allow(unused_imports)] // not every test binary replays
pub use sgsync::testkit::replay_files;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto server of our own, on a free port; killed on drop.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto from the repository's venv (`scripts/setup-moto.sh` installs it; `make test` runs
    /// that first), through `scripts/moto_server.py`, which counts rules per IP family as AWS does.
    /// A missing moto is a failure, never a skip.
    pub fn start() -> Moto {
        let python = repo().join(".venv/bin/python");
        assert!(
            repo().join(".venv/bin/moto_server").exists(),
            "moto is not installed in {}: run scripts/setup-moto.sh (make test does it)",
            repo().join(".venv").display()
        );
        let wrapper = repo().join("scripts/moto_server.py");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&python)
                .arg(&wrapper)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(std::env::temp_dir())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let mut moto = Moto { child, port };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break; // the port was taken after all: try another
                }
                if moto.get("/moto-api/").is_some() {
                    return moto;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = moto.child.kill();
        }
        panic!("moto_server did not start");
    }

    /// Its endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> Option<String> {
        proxy::forward(&format!("127.0.0.1:{}", self.port), "GET", path, &[], b"")
            .map(|(_, _, b)| String::from_utf8_lossy(&b).to_string())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real HTTP server for documents, on 127.0.0.1; contents can change between runs.
pub struct FileServer {
    port: u16,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
    server: Arc<tiny_http::Server>,
}

impl FileServer {
    /// Starts the server.
    pub fn start() -> FileServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let (s, f, h) = (server.clone(), files.clone(), hits.clone());
        std::thread::spawn(move || {
            for request in s.incoming_requests() {
                let path = request.url().to_string();
                *h.lock().unwrap().entry(path.clone()).or_default() += 1;
                let body = f.lock().unwrap().get(&path).cloned();
                let _ = match body {
                    Some(b) => request.respond(tiny_http::Response::from_data(b)),
                    None => request.respond(tiny_http::Response::empty(404)),
                };
            }
        });
        FileServer {
            port,
            files,
            hits,
            server,
        }
    }

    /// Serves `bytes` at `path`.
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_string(), bytes);
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// How many requests `path` got.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// Lower-case hex MD5.
pub fn md5_hex(bytes: &[u8]) -> String {
    sgsync::source::md5_hex(bytes)
}

/// An SNS event as Lambda delivers it, announcing a document.
pub fn sns_event(url: &str, md5: &str, synctoken: u64) -> String {
    let mut event: Value =
        serde_json::from_slice(&std::fs::read(fixture("events/sns-latest.json")).unwrap()).unwrap();
    let message = serde_json::json!({
        "create-time": "2026-08-22T15:17:05+00:00",
        "synctoken": synctoken.to_string(),
        "md5": md5,
        "url": url,
    });
    event["Records"][0]["Sns"]["Message"] = Value::String(message.to_string());
    event.to_string()
}

/// A variant of a real document: its syncToken replaced, CLOUDFRONT IPv4 prefixes removed and added.
pub fn edited_document(base: &[u8], synctoken: u64, remove: &[&str], add: &[&str]) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(base).unwrap();
    doc["syncToken"] = Value::String(synctoken.to_string());
    let prefixes = doc["prefixes"].as_array_mut().unwrap();
    prefixes.retain(|p| {
        !(p["service"] == "CLOUDFRONT" && remove.contains(&p["ip_prefix"].as_str().unwrap()))
    });
    for a in add {
        prefixes.push(serde_json::json!({"ip_prefix": a, "region": "GLOBAL", "service": "CLOUDFRONT", "network_border_group": "GLOBAL"}));
    }
    serde_json::to_vec_pretty(&doc).unwrap()
}

/// The rules sgsync's own library derives from a document (to compare with what AWS holds).
pub fn expected_rules(document: &[u8], ports: &str, v6: bool) -> BTreeSet<String> {
    let selection = sgsync::ranges::Selection {
        services: vec!["CLOUDFRONT".into()],
        regions: None,
        ip_versions: sgsync::ranges::IpVersions { v4: true, v6 },
    };
    let set = sgsync::ranges::select(document, &selection).unwrap();
    let ports = sgsync::rule::parse_port_list(ports).unwrap();
    sgsync::rule::desired_rules(&set.ipv4, &set.ipv6, &ports)
        .iter()
        .map(|r| r.to_string())
        .collect()
}

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
            moto,
            proxy,
        }
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
    async fn create_group(&self, name: &str, description: &str) -> String {
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

    pub async fn set_interface_groups(&self, eni: &str, groups: &[String]) {
        self.ec2
            .modify_network_interface_attribute()
            .network_interface_id(eni)
            .set_groups(Some(groups.to_vec()))
            .send()
            .await
            .unwrap();
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

    pub async fn set_lb_groups(&self, arn: &str, groups: &[String]) {
        self.elbv2
            .set_security_groups()
            .load_balancer_arn(arn)
            .set_security_groups(Some(groups.to_vec()))
            .send()
            .await
            .unwrap();
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
                arn: arn.to_string(),
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

impl Aws {
    /// An EC2 client in `account` and `region` (credentials of an assumed role), straight to moto.
    pub async fn account_ec2(&self, account: &str, region: &str) -> aws_sdk_ec2::Client {
        let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.moto.endpoint())
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load()
            .await;
        let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
            "arn:aws:iam::{account}:role/sgsync"
        ))
        .session_name("test")
        .configure(&base)
        .build()
        .await;
        let config = base
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
        aws_sdk_ec2::Client::new(&config)
    }

    /// The rules of the groups tagged `sgsync:prefix = AUTOUPDATE` in an account's region, by group name.
    pub async fn managed_rules_in(
        &self,
        account: &str,
        region: &str,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let ec2 = self.account_ec2(account, region).await;
        let out = ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("tag:sgsync:prefix")
                    .values("AUTOUPDATE")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        out.security_groups()
            .iter()
            .map(|g| {
                (
                    g.group_name().unwrap().to_string(),
                    rule_strings(g.ip_permissions()),
                )
            })
            .collect()
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
    pub arn: String,
    pub version: String,
    pub description: String,
    pub addresses: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
}

/// The CIDRs of a document's selection, as strings (what lists and sets hold).
pub fn expected_cidrs(document: &[u8], v6: bool) -> BTreeSet<String> {
    expected_rules(document, "80", v6)
        .into_iter()
        .map(|r| r.trim_end_matches(" tcp/80").to_string())
        .collect()
}

fn rule_strings(permissions: &[IpPermission]) -> BTreeSet<String> {
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

/// The result of one `sgsync` process.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    pub fn ok(self) -> Output {
        assert_eq!(self.code, 0, "sgsync failed: {self:?}");
        self
    }
}

/// Public prefixes CloudFront does not publish (and that do not merge with each other or with
/// CloudFront's when aggregated), for documents that add ranges: documentation ranges such as
/// 198.51.100.0/24 are special-purpose space, which the guards refuse.
pub const NEW_PREFIXES: [&str; 4] = [
    "15.230.8.0/24",
    "15.230.11.0/24",
    "44.192.9.0/24",
    "44.192.17.128/25",
];

/// The `sgsync` binary with a test's environment.
#[derive(Clone)]
pub struct Sgsync {
    env: Vec<(String, String)>,
}

/// Variables besides sgsync's own settings (`sgsync::config::VARIABLES`) that must not leak into
/// tests from the caller's environment.
const AWS_VARS: &[&str] = &[
    "AWS_PROFILE",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_ENDPOINT_URL_EC2",
];

impl Sgsync {
    pub fn new(endpoint: &str) -> Sgsync {
        Sgsync {
            env: vec![
                ("AWS_ENDPOINT_URL".into(), endpoint.into()),
                ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
                ("AWS_REGION".into(), "us-east-1".into()),
                ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
                ("DOWNLOAD_RETRY_MS".into(), "50".into()),
            ],
        }
    }

    /// The same with one more variable.
    pub fn env(mut self, key: &str, value: &str) -> Sgsync {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_under(&[], args)
    }

    /// Runs sgsync as the last argument of `wrapper` (e.g. `/usr/bin/time -f %M -o FILE`).
    pub fn run_under(&self, wrapper: &[&str], args: &[&str]) -> Output {
        let bin = env!("CARGO_BIN_EXE_sgsync");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(bin),
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin);
                c
            }
        };
        for v in sgsync::config::VARIABLES.iter().chain(AWS_VARS) {
            cmd.env_remove(v);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v))).args(args);
        let out = cmd.output().expect("run sgsync");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }
}

/// Checks one run's calls, as recorded by the proxy: no revoke of a range `desired` still publishes,
/// and no target update, delete or late revoke before the last create/authorize; early revokes (before
/// an authorize) may only drop ranges `desired` no longer publishes. `desired` holds `cidr tcp/port`.
pub fn assert_make_before_break(calls: &[ProxyCall], desired: &BTreeSet<String>) {
    let ok: Vec<&ProxyCall> = calls.iter().filter(|c| c.succeeded()).collect();
    let last_make = ok.iter().rposition(|c| {
        matches!(
            c.action.as_str(),
            "CreateSecurityGroup" | "AuthorizeSecurityGroupIngress"
        )
    });
    for (i, c) in ok.iter().enumerate() {
        match c.action.as_str() {
            "RevokeSecurityGroupIngress" => {
                for rule in revoked_rules(c) {
                    assert!(
                        !desired.contains(&rule),
                        "call {i}: revoked the still-published {rule}: {calls:#?}"
                    );
                }
            }
            "ModifyNetworkInterfaceAttribute" | "SetSecurityGroups" | "DeleteSecurityGroup" => {
                assert!(
                    last_make.is_none_or(|m| m < i),
                    "call {i}: {} before the last create/authorize",
                    c.action
                );
            }
            _ => {}
        }
    }
}

/// The `cidr protocol/ports` rules a revoke call names (`all` when it names no ports).
pub fn revoked_rules(call: &ProxyCall) -> Vec<String> {
    let mut rules = Vec::new();
    for n in 1.. {
        let key = format!("IpPermissions.{n}.");
        if !call.params.keys().any(|k| k.starts_with(&key)) {
            break;
        }
        let protocol = &call.params[&format!("{key}IpProtocol")];
        let from = call.params.get(&format!("{key}FromPort"));
        let to = call.params.get(&format!("{key}ToPort"));
        let ports = match (from, to) {
            (Some(from), Some(to)) if from == to => from.clone(),
            (Some(from), Some(to)) => format!("{from}-{to}"),
            _ => "all".into(),
        };
        for (k, v) in &call.params {
            let is_cidr =
                k.starts_with(&key) && (k.ends_with(".CidrIp") || k.ends_with(".CidrIpv6"));
            if is_cidr {
                rules.push(format!("{v} {protocol}/{ports}"));
            }
        }
    }
    rules
}

/// Calls of `service` that write, by action name.
pub fn writes(calls: &[ProxyCall]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.is_write())
        .map(|c| c.action.clone())
        .collect()
}

/// Calls that read EC2 or ELBv2 (Service Quotas excluded).
pub fn ec2_elb_reads(calls: &[ProxyCall]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| !c.is_write() && c.service != "servicequotas")
        .map(|c| c.action.clone())
        .collect()
}
