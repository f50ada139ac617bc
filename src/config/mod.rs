//! Configuration from environment variables and flags.
//!
//! The names and defaults are the blog's Python function's (`VPC_ID`, `PORTS`, `PREFIX_NAME`, `DEBUG`,
//! `SERVICE`, `REGION`), so its users can switch without rewriting their deployment; the new settings
//! follow the same style. Every variable is also a flag, and a flag wins over its variable. An empty
//! variable counts as unset (CloudFormation parameters default to empty strings). A bad value is refused
//! with the variable, the value and what is accepted, before anything is read from AWS.

mod args;
mod values;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use args::ConfigArgs;
pub use values::FleetLocation;
use values::{
    Count, DeploymentId, Flag, Fraction, Millis, Ports, PrefixLen, PrefixName, Principals, Region,
    Regions, Services, Targets, Url, VpcId, WafScope,
};

use crate::guard::GuardLimits;
use crate::ownership::Ownership;
use crate::ranges::{IpVersions, Selection};
use crate::rule::PortRange;
use crate::security_groups::{QuotaOverrides, Quotas};
use crate::source;

/// Every environment variable sgsync reads its settings from: the deploy template must offer each
/// (except `REGION`, which Lambda sets as `AWS_REGION`) and tests keep the caller's values out.
pub const VARIABLES: &[&str] = &[
    "VPC_ID",
    "PORTS",
    "PREFIX_NAME",
    "DEPLOYMENT_ID",
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
    "TARGETS",
    "PREFIX_LIST_MAX_ENTRIES",
    "SHARE_WITH",
    "WAF_SCOPE",
    "FLEET",
    "DOWNLOAD_RETRY_MS",
];

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

/// The kinds of allow-list a deployment keeps in sync (`TARGETS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kinds {
    pub security_groups: bool,
    pub prefix_lists: bool,
    pub waf_ip_sets: bool,
}

impl Default for Kinds {
    /// Security groups only: what sgsync always did.
    fn default() -> Self {
        Kinds {
            security_groups: true,
            prefix_lists: false,
            waf_ip_sets: false,
        }
    }
}

/// The description texts of managed groups and of their rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptions {
    /// A group's description (EC2 fixes it at creation).
    pub group: String,
    /// Each rule's description, and each prefix-list entry's.
    pub rule: String,
    /// A WAF IP set's description (WAF allows letters, digits, spaces and `_+=:#@/-,.` only).
    pub ip_set: String,
}

/// The checked configuration of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `None`: the region's default VPC.
    pub vpc_id: Option<String>,
    /// Ports or port ranges; one rule per range and CIDR.
    pub ports: Vec<PortRange>,
    /// Managed groups' name prefix, ownership tag value, and the value of the target tag.
    pub prefix_name: String,
    /// This deployment's identity, recorded on its groups (`sgsync:deployment`).
    pub deployment_id: String,
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
    /// `RULES_PER_GROUP` / `GROUPS_PER_TARGET`: quotas that win over Service Quotas.
    pub quota_overrides: QuotaOverrides,
    /// The guards' limits.
    pub guard: GuardLimits,
    /// First wait before downloading again when a cache serves a document older than its
    /// notification; it doubles, three tries.
    pub download_retry: Duration,
    /// What to keep in sync.
    pub targets: Kinds,
    /// `PREFIX_LIST_MAX_ENTRIES`: the largest `MaxEntries` of a managed prefix list.
    pub prefix_list_max_entries: usize,
    /// `SHARE_WITH`: RAM principals the prefix lists are shared with.
    pub share_with: Vec<String>,
    /// `WAF_SCOPE`.
    pub waf_scope: crate::ip_sets::Scope,
    /// `FLEET`: where the fleet file is; `None` for the one VPC of `VPC_ID` and `REGION`.
    pub fleet: Option<FleetLocation>,
    /// Pack the rules into as few groups as the quotas allow, moving rules if needed (`--repack`, a
    /// flag of `plan` and `apply` only: a layout is never reshuffled unasked).
    pub repack: bool,
}

/// The value of a setting, checked: `None` when unset or empty (CloudFormation passes empty strings
/// for parameters left at their empty default), else the parsed value or an error that names the
/// variable, the value and what its type accepts.
fn read<T>(variable: &'static str, raw: &Option<String>) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    let Some(text) = raw.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    text.parse()
        .map(Some)
        .map_err(|reason: T::Err| ConfigError {
            variable,
            value: crate::error::echo(text),
            reason: reason.to_string(),
        })
}

impl Config {
    /// Checks the raw settings; `aws_region` is the SDK's `AWS_REGION`, used when `REGION` is unset
    /// (inside Lambda it is the function's own region, which is what a deployment there expects).
    pub fn from_args(args: &ConfigArgs, aws_region: Option<&str>) -> Result<Config, ConfigError> {
        Config::from_env(args, aws_region, None)
    }

    /// [`Config::from_args`], where `function` is the Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`):
    /// a function deployed without `DEPLOYMENT_ID` is its own deployment.
    pub fn from_env(
        args: &ConfigArgs,
        aws_region: Option<&str>,
        function: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let function = function.map(|f| Some(f.to_string())).unwrap_or_default();
        let deployment_id = match read::<DeploymentId>("DEPLOYMENT_ID", &args.deployment_id)? {
            Some(d) => d.0,
            None => read::<DeploymentId>("DEPLOYMENT_ID", &function)?
                .map_or_else(|| "default".to_string(), |d| d.0),
        };
        let aws_region = aws_region.map(|r| Some(r.to_string())).unwrap_or_default();
        let region = match read::<Region>("REGION", &args.region)? {
            Some(r) => r,
            None => {
                read::<Region>("REGION", &aws_region)?.unwrap_or_else(|| Region("us-east-1".into()))
            }
        };
        let quota_overrides = QuotaOverrides {
            rules_per_group: read::<Count<1000>>("RULES_PER_GROUP", &args.rules_per_group)?
                .map(|c| c.0),
            groups_per_target: read::<Count<16>>("GROUPS_PER_TARGET", &args.groups_per_target)?
                .map(|c| c.0),
        };
        if let QuotaOverrides {
            rules_per_group: Some(rules),
            groups_per_target: Some(groups),
        } = quota_overrides
            && rules * groups > Quotas::PRODUCT_LIMIT
        {
            return Err(ConfigError {
                variable: "RULES_PER_GROUP",
                value: rules.to_string(),
                reason: format!(
                    "{rules} rules per group × {groups} groups per target (GROUPS_PER_TARGET) = {} exceeds AWS's limit of {} for the product; lower one of them",
                    rules * groups,
                    Quotas::PRODUCT_LIMIT
                ),
            });
        }
        let targets =
            read::<Targets>("TARGETS", &args.targets)?.map_or_else(Kinds::default, |t| t.0);
        let waf_scope = read::<WafScope>("WAF_SCOPE", &args.waf_scope)?
            .map_or(crate::ip_sets::Scope::Regional, |s| s.0);
        if targets.waf_ip_sets
            && waf_scope == crate::ip_sets::Scope::Cloudfront
            && region.0 != "us-east-1"
        {
            return Err(ConfigError {
                variable: "WAF_SCOPE",
                value: "CLOUDFRONT".into(),
                reason: format!(
                    "CloudFront's WAF IP sets exist only in us-east-1, and REGION is {}: deploy this one in \
                     us-east-1 (REGION=us-east-1), or use WAF_SCOPE=REGIONAL for a regional web ACL",
                    region.0
                ),
            });
        }
        if targets
            == (Kinds {
                security_groups: false,
                prefix_lists: false,
                waf_ip_sets: false,
            })
        {
            return Err(ConfigError {
                variable: "TARGETS",
                value: args.targets.clone().unwrap_or_default(),
                reason: "names no target kind; expected security-groups, prefix-lists and/or waf-ip-sets".into(),
            });
        }
        let config = Config {
            targets,
            waf_scope,
            prefix_list_max_entries: read::<Count<1000>>(
                "PREFIX_LIST_MAX_ENTRIES",
                &args.prefix_list_max_entries,
            )?
            .map_or(60, |c| c.0),
            share_with: read::<Principals>("SHARE_WITH", &args.share_with)?
                .map_or_else(Vec::new, |p| p.0),
            fleet: read::<FleetLocation>("FLEET", &args.fleet)?,
            quota_overrides,
            vpc_id: read::<VpcId>("VPC_ID", &args.vpc_id)?.map(|v| v.0),
            ports: read::<Ports>("PORTS", &args.ports)?
                .map_or_else(|| vec![PortRange::single(80)], |p| p.0),
            prefix_name: read::<PrefixName>("PREFIX_NAME", &args.prefix_name)?
                .map_or_else(|| "AUTOUPDATE".to_string(), |p| p.0),
            deployment_id,
            debug: read::<Flag>("DEBUG", &args.debug)?.is_some_and(|f| f.0),
            services: read::<Services>("SERVICE", &args.service)?
                .map_or_else(|| vec!["CLOUDFRONT".to_string()], |s| s.0),
            region: region.0,
            ip_versions: read::<IpVersions>("IP_VERSIONS", &args.ip_versions)?.unwrap_or_default(),
            service_regions: read::<Regions>("SERVICE_REGIONS", &args.service_regions)?
                .map(|r| r.0),
            ip_ranges_url: read::<Url>("IP_RANGES_URL", &args.ip_ranges_url)?
                .map_or_else(|| source::DEFAULT_URL.to_string(), |u| u.0),
            guard: GuardLimits {
                widest_v4: read::<PrefixLen<32>>("WIDEST_IPV4_PREFIX", &args.widest_ipv4_prefix)?
                    .map_or(8, |p| p.0),
                widest_v6: read::<PrefixLen<128>>("WIDEST_IPV6_PREFIX", &args.widest_ipv6_prefix)?
                    .map_or(16, |p| p.0),
                max_remove_fraction: read::<Fraction>(
                    "MAX_REMOVE_FRACTION",
                    &args.max_remove_fraction,
                )?
                .map_or(0.5, |f| f.0),
                allow_large_removal: read::<Flag>(
                    "ALLOW_LARGE_REMOVAL",
                    &args.allow_large_removal,
                )?
                .is_some_and(|f| f.0),
                force: false,
            },
            download_retry: read::<Millis>("DOWNLOAD_RETRY_MS", &args.download_retry_ms)?
                .map_or(Duration::from_secs(2), |m| m.0),
            repack: false,
        };
        config.check_names()?;
        Ok(config)
    }

    /// Refuses a `PREFIX_NAME` and `SERVICE` whose derived names a targeted kind would reject, so
    /// that the mistake shows at start-up, not as a failed create in the middle of a run.
    fn check_names(&self) -> Result<(), ConfigError> {
        let stem = self.ownership().stem;
        let refuse = |reason: String| ConfigError {
            variable: "PREFIX_NAME",
            value: self.prefix_name.clone(),
            reason,
        };
        if self.targets.waf_ip_sets {
            let name = crate::ip_sets::set_name(&stem, crate::rule::Family::V6);
            let ok = name.len() <= 128
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return Err(refuse(format!(
                    "this deployment's WAF IP sets would be named {name}, and WAF allows letters, digits, _ and - \
                     only, at most 128 characters: choose a PREFIX_NAME of those (with several SERVICEs, the + \
                     joining them is refused too: run one deployment per service)"
                )));
            }
        }
        if self.targets.prefix_lists {
            let name = format!("{stem}-ipv6-1000");
            if name.len() > 255 || stem.to_ascii_lowercase().starts_with("com.amazonaws") {
                return Err(refuse(format!(
                    "this deployment's prefix lists would be named like {name}, and EC2 allows at most 255 \
                     characters, not starting with com.amazonaws: choose a shorter PREFIX_NAME"
                )));
            }
        }
        Ok(())
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
        self.quota_overrides.over(Quotas::default())
    }

    /// Which groups this deployment owns, and what new ones are called: `{PREFIX_NAME}-{service}-{n}`,
    /// e.g. `AUTOUPDATE-cloudfront-1`, so a group says what it holds and a re-created one is
    /// recognisable.
    pub fn ownership(&self) -> Ownership {
        Ownership {
            prefix: self.prefix_name.clone(),
            stem: format!(
                "{}-{}",
                self.prefix_name,
                self.services.join("+").to_ascii_lowercase()
            ),
            deployment: self.deployment_id.clone(),
        }
    }

    /// What the managed groups and their rules say about themselves (their descriptions): the
    /// service and the ports, so a person who finds one in the console knows what it is.
    pub fn descriptions(&self) -> Descriptions {
        let service = self.service_label();
        let ports: Vec<String> = self.ports.iter().map(ToString::to_string).collect();
        Descriptions {
            group: format!(
                "{service} ranges on tcp/{}, kept in sync by sgsync; do not edit",
                ports.join(",")
            ),
            rule: format!("{service} (sgsync)"),
            ip_set: format!("{service} ranges kept in sync by sgsync, do not edit"),
        }
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
            a.set(k, v).unwrap_or_else(|e| panic!("{e}"));
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
        assert_eq!(c.ownership().stem, "AUTOUPDATE-cloudfront");
        assert_eq!(c.deployment_id, "default");
        let in_lambda =
            Config::from_env(&ConfigArgs::default(), None, Some("sgsync-prod")).unwrap();
        assert_eq!(in_lambda.deployment_id, "sgsync-prod");
        let set =
            Config::from_env(&args(&[("DEPLOYMENT_ID", "stack-1")]), None, Some("fn")).unwrap();
        assert_eq!(set.deployment_id, "stack-1");
        for url in [
            "http://127.0.0.1:8080/ip-ranges.json",
            "http://localhost/x",
            "http://[::1]:9/x",
        ] {
            assert!(
                Config::from_args(&args(&[("IP_RANGES_URL", url)]), None).is_ok(),
                "{url}"
            );
        }
        assert_eq!(c.download_retry, Duration::from_secs(2));
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
    fn targets_and_their_settings() {
        let c = Config::from_args(
            &args(&[
                ("TARGETS", "prefix-lists, waf-ip-sets"),
                (
                    "SHARE_WITH",
                    "111122223333,arn:aws:organizations::111122223333:ou/o-abc/ou-abc-def",
                ),
                ("PREFIX_LIST_MAX_ENTRIES", "200"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            c.targets,
            Kinds {
                security_groups: false,
                prefix_lists: true,
                waf_ip_sets: true
            }
        );
        assert_eq!(c.share_with.len(), 2);
        assert_eq!(c.prefix_list_max_entries, 200);
        assert_eq!(
            Config::from_args(&ConfigArgs::default(), None)
                .unwrap()
                .targets,
            Kinds::default()
        );
        let e = Config::from_args(
            &args(&[
                ("TARGETS", "waf-ip-sets"),
                ("WAF_SCOPE", "cloudfront"),
                ("REGION", "eu-west-1"),
            ]),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("only in us-east-1"), "{e}");
        assert!(
            Config::from_args(
                &args(&[("TARGETS", "waf"), ("WAF_SCOPE", "CLOUDFRONT")]),
                None
            )
            .is_ok()
        );
        // Names a kind would reject are refused at start-up, only when that kind is targeted.
        let waf = |prefix: &str, service: &str| {
            Config::from_args(
                &args(&[
                    ("TARGETS", "waf-ip-sets"),
                    ("PREFIX_NAME", prefix),
                    ("SERVICE", service),
                ]),
                None,
            )
        };
        let e = waf("office(1)", "CLOUDFRONT").unwrap_err();
        assert!(
            e.to_string()
                .contains("would be named office(1)-cloudfront-ipv6"),
            "{e}"
        );
        assert!(
            waf("AUTOUPDATE", "CLOUDFRONT,S3")
                .unwrap_err()
                .to_string()
                .contains("one deployment per service")
        );
        assert!(waf("office_1", "CLOUDFRONT").is_ok());
        assert!(Config::from_args(&args(&[("PREFIX_NAME", "office(1)")]), None).is_ok());
        let e = Config::from_args(
            &args(&[
                ("TARGETS", "prefix-lists"),
                ("PREFIX_NAME", "com.amazonaws.mine"),
            ]),
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("not starting with com.amazonaws"),
            "{e}"
        );
    }

    #[test]
    fn quota_overrides_must_respect_awss_product_rule() {
        let ok = Config::from_args(
            &args(&[("RULES_PER_GROUP", "200"), ("GROUPS_PER_TARGET", "5")]),
            None,
        );
        assert!(ok.is_ok());
        let e = Config::from_args(
            &args(&[("RULES_PER_GROUP", "100"), ("GROUPS_PER_TARGET", "16")]),
            None,
        )
        .unwrap_err();
        assert_eq!(e.variable, "RULES_PER_GROUP");
        assert!(
            e.to_string().contains("= 1600 exceeds AWS's limit of 1000"),
            "{e}"
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
            ("IP_RANGES_URL", "ftp://x", "https"),
            (
                "IP_RANGES_URL",
                "http://ip-ranges.amazonaws.com/ip-ranges.json",
                "plain http only on 127.0.0.1",
            ),
            ("IP_RANGES_URL", "http://127.0.0.1.evil.example/x", "https"),
            ("IP_RANGES_URL", "https://user@evil.example/x", "https"),
            ("DEPLOYMENT_ID", "my stack", "128 letters"),
            (
                "TARGETS",
                "security-groups,firewalls",
                "'firewalls' is not a target kind",
            ),
            ("PREFIX_LIST_MAX_ENTRIES", "1001", "1 to 1000"),
            ("SHARE_WITH", "1234,o-abc", "account id (12 digits)"),
            ("WAF_SCOPE", "GLOBAL", "REGIONAL or CLOUDFRONT"),
            ("MAX_REMOVE_FRACTION", "50%", "fraction from 0 to 1"),
            ("ALLOW_LARGE_REMOVAL", "sure", "true or false"),
            ("WIDEST_IPV4_PREFIX", "0", "1 to 32"),
            ("WIDEST_IPV6_PREFIX", "/129", "1 to 128"),
            ("DOWNLOAD_RETRY_MS", "2s", "milliseconds"),
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
