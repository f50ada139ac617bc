//! The raw settings, as clap reads them from flags and the environment: strings, unchecked.
//! [`super::Config::from_args`] turns them into a checked [`super::Config`] (ripgrep's low/high split).

use clap::Args;

/// The raw settings as clap reads them from flags and the environment; [`Config::from_args`] checks them.
#[derive(Args, Clone, Debug, Default)]
pub struct ConfigArgs {
    /// VPC whose security groups are managed [env: VPC_ID; default: the region's default VPC]
    #[arg(long, env = "VPC_ID", global = true, hide_env = true)]
    pub vpc_id: Option<String>,
    /// Ports or ranges to allow, comma-separated, e.g. 80,443 or 8000-8080 [env: PORTS; default: 80]
    #[arg(long, env = "PORTS", global = true, hide_env = true)]
    pub ports: Option<String>,
    /// Name prefix (and ownership tag) of the managed groups; targets opt in with the tag sgsync:target=PREFIX_NAME [env: PREFIX_NAME; default: AUTOUPDATE]
    #[arg(long, env = "PREFIX_NAME", global = true, hide_env = true)]
    pub prefix_name: Option<String>,
    /// Which deployment this is, recorded on its groups so two deployments never take each other's [env: DEPLOYMENT_ID; default: the Lambda function's name, else "default"]
    #[arg(long, env = "DEPLOYMENT_ID", global = true, hide_env = true)]
    pub deployment_id: Option<String>,
    /// Log at debug level: true or false [env: DEBUG; default: false]
    #[arg(long, env = "DEBUG", global = true, hide_env = true, num_args = 0..=1, default_missing_value = "true")]
    pub debug: Option<String>,
    /// Service(s) whose ranges are allowed, comma-separated [env: SERVICE; default: CLOUDFRONT]
    #[arg(long, env = "SERVICE", global = true, hide_env = true)]
    pub service: Option<String>,
    /// AWS region of the VPC [env: REGION, else AWS_REGION; default: us-east-1]
    #[arg(long, env = "REGION", global = true, hide_env = true)]
    pub region: Option<String>,
    /// IP versions to allow: ipv4, ipv6 or ipv4,ipv6 [env: IP_VERSIONS; default: ipv4]
    #[arg(long, env = "IP_VERSIONS", global = true, hide_env = true)]
    pub ip_versions: Option<String>,
    /// Keep only ranges of these document regions, comma-separated (GLOBAL is one) [env: SERVICE_REGIONS; default: all]
    #[arg(long, env = "SERVICE_REGIONS", global = true, hide_env = true)]
    pub service_regions: Option<String>,
    /// The only URL a notification may point to [env: IP_RANGES_URL; default: https://ip-ranges.amazonaws.com/ip-ranges.json]
    #[arg(long, env = "IP_RANGES_URL", global = true, hide_env = true)]
    pub ip_ranges_url: Option<String>,
    /// Inbound rules per group, overriding Service Quotas L-0EA8095F [env: RULES_PER_GROUP]
    #[arg(long, env = "RULES_PER_GROUP", global = true, hide_env = true)]
    pub rules_per_group: Option<String>,
    /// Groups per interface or load balancer, overriding Service Quotas L-2AFB9258 [env: GROUPS_PER_TARGET]
    #[arg(long, env = "GROUPS_PER_TARGET", global = true, hide_env = true)]
    pub groups_per_target: Option<String>,
    /// Largest fraction of the applied ranges one document may remove [env: MAX_REMOVE_FRACTION; default: 0.5]
    #[arg(long, env = "MAX_REMOVE_FRACTION", global = true, hide_env = true)]
    pub max_remove_fraction: Option<String>,
    /// Allow a document to remove more than MAX_REMOVE_FRACTION: true or false [env: ALLOW_LARGE_REMOVAL; default: false]
    #[arg(long, env = "ALLOW_LARGE_REMOVAL", global = true, hide_env = true)]
    pub allow_large_removal: Option<String>,
    /// Widest IPv4 prefix length accepted from the document [env: WIDEST_IPV4_PREFIX; default: 8]
    #[arg(long, env = "WIDEST_IPV4_PREFIX", global = true, hide_env = true)]
    pub widest_ipv4_prefix: Option<String>,
    /// Widest IPv6 prefix length accepted from the document [env: WIDEST_IPV6_PREFIX; default: 16]
    #[arg(long, env = "WIDEST_IPV6_PREFIX", global = true, hide_env = true)]
    pub widest_ipv6_prefix: Option<String>,
    /// What to keep in sync, comma-separated: security-groups, prefix-lists, waf-ip-sets [env: TARGETS; default: security-groups]
    #[arg(long, env = "TARGETS", global = true, hide_env = true)]
    pub targets: Option<String>,
    /// The largest MaxEntries a managed prefix list may have (its weight in a referencing group's rules quota), 1 to 1000 [env: PREFIX_LIST_MAX_ENTRIES; default: 60]
    #[arg(long, env = "PREFIX_LIST_MAX_ENTRIES", global = true, hide_env = true)]
    pub prefix_list_max_entries: Option<String>,
    /// Share the managed prefix lists through AWS RAM with these account ids, OU ARNs or the organization ARN, comma-separated [env: SHARE_WITH; default: none]
    #[arg(long, env = "SHARE_WITH", global = true, hide_env = true)]
    pub share_with: Option<String>,
    /// Scope of the managed WAF IP sets: REGIONAL or CLOUDFRONT (then REGION must be us-east-1) [env: WAF_SCOPE; default: REGIONAL]
    #[arg(long, env = "WAF_SCOPE", global = true, hide_env = true)]
    pub waf_scope: Option<String>,
    /// Keep many VPCs in sync: a fleet file (TOML: accounts, regions, VPCs, the role to assume in each), as a path or s3://BUCKET/KEY [env: FLEET; default: the one VPC of VPC_ID and REGION]
    #[arg(long, env = "FLEET", global = true, hide_env = true)]
    pub fleet: Option<String>,
    /// Wait before downloading again when a cache answers with a document older than its notification, in ms; doubles, 3 tries [env: DOWNLOAD_RETRY_MS; default: 2000]
    #[arg(long, env = "DOWNLOAD_RETRY_MS", global = true, hide_env = true)]
    pub download_retry_ms: Option<String>,
}

impl ConfigArgs {
    /// Sets one setting by its environment name, as a fleet entry's `[vpc.settings]` overrides it.
    pub fn set(&mut self, variable: &str, value: &str) -> Result<(), String> {
        let field = match variable {
            "VPC_ID" => &mut self.vpc_id,
            "PORTS" => &mut self.ports,
            "PREFIX_NAME" => &mut self.prefix_name,
            "DEPLOYMENT_ID" => &mut self.deployment_id,
            "DEBUG" => &mut self.debug,
            "SERVICE" => &mut self.service,
            "REGION" => &mut self.region,
            "IP_VERSIONS" => &mut self.ip_versions,
            "SERVICE_REGIONS" => &mut self.service_regions,
            "IP_RANGES_URL" => &mut self.ip_ranges_url,
            "RULES_PER_GROUP" => &mut self.rules_per_group,
            "GROUPS_PER_TARGET" => &mut self.groups_per_target,
            "MAX_REMOVE_FRACTION" => &mut self.max_remove_fraction,
            "ALLOW_LARGE_REMOVAL" => &mut self.allow_large_removal,
            "WIDEST_IPV4_PREFIX" => &mut self.widest_ipv4_prefix,
            "WIDEST_IPV6_PREFIX" => &mut self.widest_ipv6_prefix,
            "TARGETS" => &mut self.targets,
            "PREFIX_LIST_MAX_ENTRIES" => &mut self.prefix_list_max_entries,
            "SHARE_WITH" => &mut self.share_with,
            "WAF_SCOPE" => &mut self.waf_scope,
            "FLEET" => &mut self.fleet,
            "DOWNLOAD_RETRY_MS" => &mut self.download_retry_ms,
            _ => {
                return Err(format!(
                    "'{}' is not a setting; the settings are {}",
                    crate::error::echo(variable),
                    super::VARIABLES.join(", ")
                ));
            }
        };
        *field = Some(value.to_string());
        Ok(())
    }
}
