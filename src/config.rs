//! Configuration from environment variables and flags.
//!
//! The names and defaults are the blog's Python function's (`VPC_ID`, `PORTS`, `PREFIX_NAME`, `DEBUG`,
//! `SERVICE`, `REGION`), so its users can switch without rewriting their deployment; the new settings
//! follow the same style. Every variable is also a flag, and a flag wins over its variable. An empty
//! variable counts as unset (CloudFormation parameters default to empty strings). A bad value is refused
//! with the variable, the value and what is accepted, before anything is read from AWS.

use std::fmt;

use clap::Args;

use crate::guard::GuardLimits;
use crate::plan::Quotas;
use crate::ranges::{IpVersions, Selection};
use crate::rule::{PortRange, parse_port_list};
use crate::source;

/// Every environment variable sgsync reads its settings from: the deploy template must offer each
/// (except `REGION`, which Lambda sets as `AWS_REGION`) and tests keep the caller's values out.
pub const VARIABLES: &[&str] = &[
    "VPC_ID",
    "PORTS",
    "PREFIX_NAME",
    "DEBUG",
    "SERVICE",
    "REGION",
    "IP_VERSIONS",
    "SERVICE_REGIONS",
    "IP_RANGES_URL",
    "RULES_PER_GROUP",
    "GROUPS_PER_TARGET",
    "MAX_REMOVE_FRACTION",
    "ALLOW_LARGE_REMOVAL",
    "WIDEST_IPV4_PREFIX",
    "WIDEST_IPV6_PREFIX",
];

/// The raw settings as clap reads them from flags and the environment; [`Config::from_args`] checks them.
#[derive(Args, Clone, Debug, Default)]
pub struct ConfigArgs {
    /// VPC whose security groups are managed [env: VPC_ID; default: the region's default VPC]
    #[arg(long, env = "VPC_ID", global = true, hide_env = true)]
    pub vpc_id: Option<String>,
    /// Ports or ranges to allow, comma-separated, e.g. 80,443 or 8000-8080 [env: PORTS; default: 80]
    #[arg(long, env = "PORTS", global = true, hide_env = true)]
    pub ports: Option<String>,
    /// Name prefix (and ownership tag) of the managed groups [env: PREFIX_NAME; default: AUTOUPDATE]
    #[arg(long, env = "PREFIX_NAME", global = true, hide_env = true)]
    pub prefix_name: Option<String>,
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
}

/// A setting that was refused: which one, the value, and what would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// The value given.
    pub value: String,
    /// What was wrong and what is accepted.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = self.variable.to_lowercase().replace('_', "-");
        write!(
            f,
            "invalid {} (--{flag}) value '{}': {}",
            self.variable, self.value, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// The checked configuration of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `None`: the region's default VPC.
    pub vpc_id: Option<String>,
    /// Ports or port ranges; one rule per range and CIDR.
    pub ports: Vec<PortRange>,
    /// Managed groups' name prefix and ownership tag value.
    pub prefix_name: String,
    /// Debug logging.
    pub debug: bool,
    /// Services whose ranges are allowed.
    pub services: Vec<String>,
    /// AWS region.
    pub region: String,
    /// IP versions to allow.
    pub ip_versions: IpVersions,
    /// Document regions to keep; `None` keeps all.
    pub service_regions: Option<Vec<String>>,
    /// The pinned document URL.
    pub ip_ranges_url: String,
    /// Quota overrides.
    pub rules_per_group: Option<usize>,
    /// Quota overrides.
    pub groups_per_target: Option<usize>,
    /// The guards' limits.
    pub guard: GuardLimits,
}

fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn err(variable: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn upper_list(variable: &'static str, value: &str, what: &str) -> Result<Vec<String>, ConfigError> {
    let items: Vec<String> = value.split(',').map(|s| s.trim().to_string()).collect();
    for item in &items {
        let ok = !item.is_empty()
            && item
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(err(
                variable,
                value,
                format!(
                    "'{item}' is not {what}; expected a comma list such as {}",
                    example(variable)
                ),
            ));
        }
    }
    Ok(items)
}

fn example(variable: &str) -> &'static str {
    match variable {
        "SERVICE" => "CLOUDFRONT or CLOUDFRONT_ORIGIN_FACING",
        _ => "GLOBAL,us-east-1",
    }
}

fn boolean(variable: &'static str, value: &Option<String>) -> Result<bool, ConfigError> {
    match set(value).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(_) => Err(err(
            variable,
            value.as_deref().unwrap_or_default(),
            "expected true or false",
        )),
    }
}

fn prefix_len(
    variable: &'static str,
    value: &Option<String>,
    default: u8,
    max: u8,
) -> Result<u8, ConfigError> {
    match set(value) {
        None => Ok(default),
        Some(v) => match v.trim_start_matches('/').parse::<u8>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(err(
                variable,
                v,
                format!(
                    "expected a prefix length from 1 to {max} (0 would accept the whole internet)"
                ),
            )),
        },
    }
}

fn count(variable: &'static str, value: &str, max: usize) -> Result<usize, ConfigError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(err(
            variable,
            value,
            format!("expected a whole number from 1 to {max}"),
        )),
    }
}

impl Config {
    /// Checks the raw settings; `aws_region` is the SDK's `AWS_REGION`, used when `REGION` is unset
    /// (inside Lambda it is the function's own region, which is what a deployment there expects).
    pub fn from_args(args: &ConfigArgs, aws_region: Option<&str>) -> Result<Config, ConfigError> {
        let ports = match set(&args.ports) {
            None => vec![PortRange::single(80)],
            Some(v) => parse_port_list(v).map_err(|reason| {
                err(
                    "PORTS",
                    v,
                    format!("{reason}; expected a comma list of ports (1-65535) or ranges, e.g. 80,443 or 8000-8080"),
                )
            })?,
        };
        let prefix_name = set(&args.prefix_name).unwrap_or("AUTOUPDATE").to_string();
        let prefix_ok = prefix_name.len() <= 200
            && !prefix_name.to_ascii_lowercase().starts_with("sg-")
            && prefix_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:/()#,@[]+=&;{}!$*".contains(c));
        if !prefix_ok {
            return Err(err(
                "PREFIX_NAME",
                &prefix_name,
                "group names allow letters, digits and ._-:/()#,@[]+=&;{}!$*, at most 200 characters here, and may not start with sg-",
            ));
        }
        let debug = boolean("DEBUG", &args.debug)?;
        let services = match set(&args.service) {
            None => vec!["CLOUDFRONT".to_string()],
            Some(v) => upper_list("SERVICE", v, "a service name")?
                .into_iter()
                .map(|s| s.to_ascii_uppercase())
                .collect(),
        };
        let region = set(&args.region)
            .or(aws_region.map(str::trim).filter(|r| !r.is_empty()))
            .unwrap_or("us-east-1")
            .to_string();
        let region_ok = region.len() <= 32
            && region.split('-').count() >= 3
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !region_ok {
            return Err(err(
                "REGION",
                &region,
                "expected an AWS region code such as us-east-1",
            ));
        }
        let ip_versions = match set(&args.ip_versions) {
            None => IpVersions::default(),
            Some(v) => v.parse().map_err(|e| {
                err(
                    "IP_VERSIONS",
                    v,
                    format!("{e}; expected ipv4, ipv6 or ipv4,ipv6"),
                )
            })?,
        };
        let service_regions = set(&args.service_regions)
            .map(|v| upper_list("SERVICE_REGIONS", v, "a region name"))
            .transpose()?;
        let ip_ranges_url = set(&args.ip_ranges_url)
            .unwrap_or(source::DEFAULT_URL)
            .to_string();
        if !(ip_ranges_url.starts_with("https://") || ip_ranges_url.starts_with("http://")) {
            return Err(err(
                "IP_RANGES_URL",
                &ip_ranges_url,
                format!("expected an http(s) URL, normally {}", source::DEFAULT_URL),
            ));
        }
        let vpc_id = set(&args.vpc_id).map(str::to_string);
        let vpc_ok = |v: &str| {
            v.strip_prefix("vpc-")
                .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
        };
        if let Some(v) = vpc_id.as_deref().filter(|v| !vpc_ok(v)) {
            return Err(err(
                "VPC_ID",
                v,
                "expected a VPC id such as vpc-0123456789abcdef0, or leave it unset for the default VPC",
            ));
        }
        let rules_per_group = set(&args.rules_per_group)
            .map(|v| count("RULES_PER_GROUP", v, 1000))
            .transpose()?;
        let groups_per_target = set(&args.groups_per_target)
            .map(|v| count("GROUPS_PER_TARGET", v, 16))
            .transpose()?;
        let max_remove_fraction = match set(&args.max_remove_fraction) {
            None => 0.5,
            Some(v) => match v.parse::<f64>() {
                Ok(f) if (0.0..=1.0).contains(&f) => f,
                _ => {
                    return Err(err(
                        "MAX_REMOVE_FRACTION",
                        v,
                        "expected a fraction from 0 to 1, e.g. 0.5",
                    ));
                }
            },
        };
        let guard = GuardLimits {
            widest_v4: prefix_len("WIDEST_IPV4_PREFIX", &args.widest_ipv4_prefix, 8, 32)?,
            widest_v6: prefix_len("WIDEST_IPV6_PREFIX", &args.widest_ipv6_prefix, 16, 128)?,
            max_remove_fraction,
            allow_large_removal: boolean("ALLOW_LARGE_REMOVAL", &args.allow_large_removal)?,
        };
        Ok(Config {
            guard,
            vpc_id,
            ports,
            prefix_name,
            debug,
            services,
            region,
            ip_versions,
            service_regions,
            ip_ranges_url,
            rules_per_group,
            groups_per_target,
        })
    }

    /// The document selection these settings describe.
    pub fn selection(&self) -> Selection {
        Selection {
            services: self.services.clone(),
            regions: self.service_regions.clone(),
            ip_versions: self.ip_versions,
        }
    }

    /// The quotas to plan with when Service Quotas is not consulted: overrides, else AWS's defaults.
    pub fn default_quotas(&self) -> Quotas {
        let d = Quotas::default();
        Quotas {
            rules_per_group: self.rules_per_group.unwrap_or(d.rules_per_group),
            groups_per_target: self.groups_per_target.unwrap_or(d.groups_per_target),
        }
    }

    /// The stem of managed group names: `{PREFIX_NAME}-{service}`, e.g. `AUTOUPDATE-cloudfront`, so a
    /// group says what it holds and a re-created one is recognisable.
    pub fn group_stem(&self) -> String {
        format!(
            "{}-{}",
            self.prefix_name,
            self.services.join("+").to_ascii_lowercase()
        )
    }

    /// The service label used in summaries and rule descriptions.
    pub fn service_label(&self) -> String {
        self.services.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> ConfigArgs {
        let mut a = ConfigArgs::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "VPC_ID" => a.vpc_id = v,
                "PORTS" => a.ports = v,
                "PREFIX_NAME" => a.prefix_name = v,
                "DEBUG" => a.debug = v,
                "SERVICE" => a.service = v,
                "REGION" => a.region = v,
                "IP_VERSIONS" => a.ip_versions = v,
                "SERVICE_REGIONS" => a.service_regions = v,
                "IP_RANGES_URL" => a.ip_ranges_url = v,
                "RULES_PER_GROUP" => a.rules_per_group = v,
                "GROUPS_PER_TARGET" => a.groups_per_target = v,
                "MAX_REMOVE_FRACTION" => a.max_remove_fraction = v,
                "ALLOW_LARGE_REMOVAL" => a.allow_large_removal = v,
                "WIDEST_IPV4_PREFIX" => a.widest_ipv4_prefix = v,
                _ => panic!("unknown {k}"),
            }
        }
        a
    }

    #[test]
    fn variables_lists_exactly_the_variables_clap_reads() {
        use clap::Args as _;
        let command = ConfigArgs::augment_args(clap::Command::new("sgsync"));
        let read: Vec<String> = command
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        assert_eq!(read, VARIABLES);
    }

    #[test]
    fn defaults_are_the_blogs() {
        let c = Config::from_args(&ConfigArgs::default(), None).unwrap();
        assert_eq!(c.ports, vec![PortRange::single(80)]);
        assert_eq!(c.prefix_name, "AUTOUPDATE");
        assert_eq!(c.services, ["CLOUDFRONT"]);
        assert_eq!(c.region, "us-east-1");
        assert!(!c.debug);
        assert_eq!(c.vpc_id, None);
        assert_eq!(c.ip_versions, IpVersions::default());
        assert_eq!(c.ip_ranges_url, source::DEFAULT_URL);
        assert_eq!(c.default_quotas(), Quotas::default());
        assert_eq!(c.group_stem(), "AUTOUPDATE-cloudfront");
    }

    #[test]
    fn empty_values_count_as_unset_and_aws_region_is_the_fallback() {
        let c = Config::from_args(
            &args(&[("VPC_ID", ""), ("PORTS", " "), ("REGION", "")]),
            Some("eu-west-1"),
        )
        .unwrap();
        assert_eq!(c.vpc_id, None);
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.ports.len(), 1);
    }

    #[test]
    fn values_are_parsed() {
        let c = Config::from_args(
            &args(&[
                ("PORTS", "80,443,8000-8080"),
                ("SERVICE", "cloudfront_origin_facing"),
                ("IP_VERSIONS", "ipv4,ipv6"),
                ("SERVICE_REGIONS", "GLOBAL,us-east-1"),
                ("DEBUG", "TRUE"),
                ("RULES_PER_GROUP", "100"),
                ("GROUPS_PER_TARGET", "10"),
                ("VPC_ID", "vpc-0abc"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.ports.len(), 3);
        assert_eq!(c.services, ["CLOUDFRONT_ORIGIN_FACING"]);
        assert!(c.ip_versions.v4 && c.ip_versions.v6);
        assert_eq!(
            c.service_regions.as_deref(),
            Some(&["GLOBAL".to_string(), "us-east-1".to_string()][..])
        );
        assert!(c.debug);
        assert_eq!(
            c.default_quotas(),
            Quotas {
                rules_per_group: 100,
                groups_per_target: 10
            }
        );
    }

    #[test]
    fn bad_values_name_the_variable_the_value_and_what_is_accepted() {
        for (var, value, needle) in [
            ("PORTS", "http", "80,443"),
            ("PORTS", "80,80", "overlap"),
            ("DEBUG", "maybe", "true or false"),
            ("IP_VERSIONS", "ipv5", "ipv4, ipv6"),
            ("RULES_PER_GROUP", "0", "1 to 1000"),
            ("GROUPS_PER_TARGET", "many", "1 to 16"),
            ("VPC_ID", "my-vpc", "vpc-0123456789abcdef0"),
            ("PREFIX_NAME", "sg-mine", "sg-"),
            ("SERVICE", "CLOUD FRONT", "CLOUDFRONT_ORIGIN_FACING"),
            ("REGION", "Europe", "us-east-1"),
            ("IP_RANGES_URL", "ftp://x", "http"),
            ("MAX_REMOVE_FRACTION", "50%", "fraction from 0 to 1"),
            ("ALLOW_LARGE_REMOVAL", "sure", "true or false"),
            ("WIDEST_IPV4_PREFIX", "0", "1 to 32"),
        ] {
            let e = Config::from_args(&args(&[(var, value)]), None).unwrap_err();
            let text = e.to_string();
            assert_eq!(e.variable, var);
            assert!(
                text.contains(var) && text.contains(value) && text.contains(needle),
                "{text}"
            );
        }
    }
}
