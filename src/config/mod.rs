//! Configuration: the settings (`settings`, one table), their raw text (`args`, from the environment,
//! the flags or a fleet entry) and the checked [`Config`] a run uses.
//!
//! The names and defaults are the blog's Python function's (`VPC_ID`, `PORTS`, `PREFIX_NAME`, `DEBUG`,
//! `SERVICE`, `REGION`), so its users can switch without rewriting their deployment; the new settings
//! follow the same style. Every variable is also a flag, and a flag wins over its variable. An empty
//! variable counts as unset (CloudFormation parameters default to empty strings). A bad value is refused
//! with the variable, the value and what is accepted, before anything is read from AWS.

mod args;
mod settings;
mod values;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use args::{ConfigArgs, RangesFlags, StatusFlags, SyncFlags};
pub use settings::{Commands, Kinds, PerEntry, SETTINGS, Setting, VARIABLES, Var, by_name};
pub use values::FleetLocation;
use values::{
    Attach, CacheDir, Count, DeploymentId, Flag, Fraction, Millis, Ports, PrefixLen, PrefixName,
    Principals, Region, Regions, Services, TopicArn, Url, VpcId, WafScope,
};

use crate::guard::GuardLimits;
use crate::ownership::Ownership;
use crate::ranges::{IpVersions, Selection};
use crate::rule::PortRange;
use crate::security_groups::{QuotaOverrides, Quotas};

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

/// What the process runs in, beside its settings: the defaults of `REGION` and `DEPLOYMENT_ID`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment {
    /// The SDK's `AWS_REGION` (inside Lambda, the function's own region).
    pub aws_region: Option<String>,
    /// The Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`): a function deployed without
    /// `DEPLOYMENT_ID` is its own deployment.
    pub function: Option<String>,
    /// Where downloads are cached when `DOWNLOAD_CACHE` is unset: in Lambda its own `/tmp` (kept
    /// while the function stays warm), else the user's cache directory; `None` when there is none.
    pub cache_home: Option<PathBuf>,
}

impl Environment {
    /// What this process runs in.
    pub fn of_process() -> Environment {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        // Only a directory of this user's: a root run that kept an operator's HOME (sudo -E) must
        // not create a ~/.cache the operator cannot write.
        let own = |path: &PathBuf| {
            use std::os::unix::fs::MetadataExt;
            // SAFETY: geteuid has no preconditions and cannot fail.
            std::fs::metadata(path).is_ok_and(|m| m.uid() == unsafe { libc::geteuid() })
        };
        let absolute = |name| {
            var(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute() && own(p))
        };
        Environment {
            aws_region: var("AWS_REGION"),
            function: var("AWS_LAMBDA_FUNCTION_NAME"),
            cache_home: match var("AWS_LAMBDA_FUNCTION_NAME") {
                Some(_) => Some(PathBuf::from("/tmp/sgsync")),
                None => absolute("XDG_CACHE_HOME")
                    .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
                    .map(|dir| dir.join("sgsync")),
            },
        }
    }
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
    /// `SOURCE`: whose published ranges (Amazon's, by default).
    pub source: crate::formats::Source,
    /// Services whose ranges are allowed; empty where the source has none, or all are taken.
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
    /// First wait before downloading again when the server (or a CDN in front of it) serves a document older than its
    /// notification; it doubles, three tries.
    pub download_retry: Duration,
    /// `DOWNLOAD_CACHE`: where the last download of each document is kept; `None`: nowhere.
    pub download_cache: Option<crate::cache::Cache>,
    /// `KINDS`: what to keep in sync.
    pub kinds: Kinds,
    /// `PREFIX_LIST_MAX_ENTRIES`: the largest `MaxEntries` of a managed prefix list.
    pub prefix_list_max_entries: usize,
    /// `SHARE_WITH`: RAM principals the prefix lists are shared with.
    pub share_with: Vec<String>,
    /// `ALLOW_EXTERNAL_SHARE`: whether those may be outside the organization.
    pub allow_external_share: bool,
    /// `WAF_SCOPE`.
    pub waf_scope: crate::ip_sets::Scope,
    /// `FLEET`: where the fleet file is; `None` for the one VPC of `VPC_ID` and `REGION`.
    pub fleet: Option<FleetLocation>,
    /// Pack the rules into as few groups as the quotas allow, moving rules if needed (`--repack`, a
    /// flag of `plan` and `apply` only: a layout is never reshuffled unasked).
    pub repack: bool,
    /// `apply --plan FILE`: the fingerprint of the approved plan; the run applies only a plan with
    /// the same one (`Outcome::plan_fingerprint`), else changes nothing.
    pub approved_plan: Option<String>,
    /// `ADOPT` (`--adopt`): record the resources carrying this deployment's tags that it did not
    /// record (an sgsync that kept no record made them).
    pub adopt: bool,
    /// `ATTACH=carriers`: besides tagged targets, every interface and load balancer of the VPC that
    /// carries one of the deployment's groups is kept carrying all of them.
    pub attach_carriers: bool,
    /// `CHANGE_TOPIC_ARN`: where a run that changed anything is told.
    pub change_topic: Option<String>,
    /// `REPLACES`: groups sgsync may swap out of a tagged target for its own.
    pub replaces: Option<crate::security_groups::Replaces>,
    /// What reading the settings has to say (an older name used), for the log.
    pub notes: Vec<String>,
}

/// The value of a setting, checked: the text it was given, else its default (`None` when it has
/// neither), parsed; a refusal names the variable, the value and what its type accepts.
fn read<T>(args: &ConfigArgs, var: Var) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    parse(var.name(), args.value(var))
}

/// [`read`] for a setting with a default, which therefore always has a value.
fn value<T>(args: &ConfigArgs, var: Var) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    Ok(read(args, var)?.expect("a setting with a default always has a value"))
}

fn parse<T>(variable: &'static str, text: Option<&str>) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    let Some(text) = text.map(str::trim).filter(|v| !v.is_empty()) else {
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

/// The name of the list a URL names, made safe for every kind: `googlebot` for
/// `…/googlebot.json`; `None` for an empty URL or path.
fn list_name(url: &str) -> Option<String> {
    let path = reqwest::Url::parse(url).ok()?.path().to_string();
    let file = path.rsplit('/').find(|s| !s.is_empty())?;
    let stem = file.split('.').next().unwrap_or(file);
    let safe: String = (stem.to_ascii_lowercase().chars())
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            _ => '-',
        })
        .take(40)
        .collect();
    (!safe.is_empty()).then_some(safe)
}

/// SERVICE and IP_RANGES_URL as `source` takes them: SOURCE=aws as always (CLOUDFRONT, Amazon's
/// URL); another provider's services are its own names, case kept, and required, optional or refused
/// as its format says; its URL is its own unless IP_RANGES_URL names one (required where the
/// provider has no stable URL).
fn source_settings(
    args: &ConfigArgs,
    source: crate::formats::Source,
) -> Result<(Vec<String>, String), ConfigError> {
    use crate::formats::{ServiceRule, Source};
    let Source::Format(format) = source else {
        return Ok((
            value::<Services>(args, Var::Service)?.0,
            value::<Url>(args, Var::IpRangesUrl)?.0,
        ));
    };
    let refuse = |variable: &'static str, value: &str, reason: String| ConfigError {
        variable,
        value: crate::error::echo(value),
        reason,
    };
    let given = args.get(Var::Service);
    let services: Vec<String> = (given.unwrap_or_default().split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = services
        .iter()
        .find(|s| s.len() > 128 || s.chars().any(char::is_control))
    {
        return Err(refuse(
            "SERVICE",
            bad,
            "not a service name (at most 128 characters, no control characters)".into(),
        ));
    }
    match (format.services(), services.is_empty()) {
        (ServiceRule::None, false) => {
            return Err(refuse(
                "SERVICE",
                given.unwrap_or_default(),
                format!(
                    "SOURCE={format} publishes one list, so SERVICE selects nothing in it: unset SERVICE"
                ),
            ));
        }
        (ServiceRule::Required, true) => {
            return Err(refuse(
                "SERVICE",
                "",
                format!(
                    "SOURCE={format} needs SERVICE: the whole document is far more than an allow-list \
                     should hold; name what to allow (a wrong name is answered with the document's names), e.g. {}",
                    match format {
                        crate::formats::Format::Github => "SERVICE=hooks",
                        _ => "SERVICE=AzureFrontDoor.Backend",
                    }
                ),
            ));
        }
        _ => {}
    }
    if !format.has_regions()
        && let Some(regions) = args.get(Var::ServiceRegions)
    {
        return Err(refuse(
            "SERVICE_REGIONS",
            regions,
            format!("SOURCE={format} has no regions: unset SERVICE_REGIONS"),
        ));
    }
    let url = match (args.get(Var::IpRangesUrl), format.default_url()) {
        (Some(url), _) => {
            url.parse::<Url>()
                .map_err(|e| refuse("IP_RANGES_URL", url, e))?
                .0
        }
        (None, Some(url)) => url.to_string(),
        // Azure's and a text list's URL has no default: a run that downloads says so (one that
        // reads --ip-ranges FILE needs none).
        (None, None) => String::new(),
    };
    Ok((services, url))
}

impl Config {
    /// Checks the raw settings; `env` gives what `REGION` and `DEPLOYMENT_ID` default to.
    pub fn from_args(args: &ConfigArgs, env: &Environment) -> Result<Config, ConfigError> {
        let source = value::<crate::formats::Source>(args, Var::Source)?;
        // Without DEPLOYMENT_ID, a CLI run of another source is never the default deployment
        // (CloudFront's, most likely): it would take that one's groups for an earlier selection of
        // its own, and retire them.
        let unnamed = match source {
            crate::formats::Source::Aws => "default".to_string(),
            other => format!("default-{other}"),
        };
        let deployment_id = match read::<DeploymentId>(args, Var::DeploymentId)? {
            Some(d) => d.0,
            None => parse::<DeploymentId>("DEPLOYMENT_ID", env.function.as_deref())?
                .map_or(unnamed, |d| d.0),
        };
        let region = match read::<Region>(args, Var::Region)? {
            Some(r) => r,
            None => parse::<Region>("REGION", env.aws_region.as_deref())?
                .unwrap_or_else(|| Region("us-east-1".into())),
        };
        let quota_overrides = QuotaOverrides {
            rules_per_group: read::<Count<1000>>(args, Var::RulesPerGroup)?.map(|c| c.0),
            groups_per_target: read::<Count<16>>(args, Var::GroupsPerTarget)?.map(|c| c.0),
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
        let kinds = value::<Kinds>(args, Var::Kinds)?;
        let waf_scope = value::<WafScope>(args, Var::WafScope)?.0;
        if kinds.waf_ip_sets
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
        let attach_carriers = value::<Attach>(args, Var::Attach)?.0;
        if attach_carriers && read::<FleetLocation>(args, Var::Fleet)?.is_some() {
            return Err(ConfigError {
                variable: "ATTACH",
                value: "carriers".into(),
                reason: "a hub cannot attach to carriers: the spoke roles (deploy/spoke-role.yaml) may change \
                         tagged targets only; tag the targets in each account, or deploy sgsync there with \
                         Attach=carriers"
                    .into(),
            });
        }
        if read::<TopicArn>(args, Var::ChangeTopicArn)?.is_some()
            && read::<FleetLocation>(args, Var::Fleet)?.is_some()
        {
            return Err(ConfigError {
                variable: "CHANGE_TOPIC_ARN",
                value: args.get(Var::ChangeTopicArn).unwrap_or_default().to_string(),
                reason: "a hub does not tell a topic yet (each entry runs with its account's role, which may \
                         not publish there): set it in the deployments of the accounts instead"
                    .into(),
            });
        }
        let (services, ip_ranges_url) = source_settings(args, source)?;
        let config = Config {
            kinds,
            waf_scope,
            prefix_list_max_entries: value::<Count<1000>>(args, Var::PrefixListMaxEntries)?.0,
            share_with: read::<Principals>(args, Var::ShareWith)?.map_or_else(Vec::new, |p| p.0),
            allow_external_share: value::<Flag>(args, Var::AllowExternalShare)?.0,
            fleet: read::<FleetLocation>(args, Var::Fleet)?,
            quota_overrides,
            vpc_id: read::<VpcId>(args, Var::VpcId)?.map(|v| v.0),
            ports: value::<Ports>(args, Var::Ports)?.0,
            // Another source's own prefix by default: its targets opt in apart from CloudFront's
            // (a tag sgsync:target=AUTOUPDATE must not let GitHub's or Google's ranges in).
            prefix_name: match (source, args.get(Var::PrefixName)) {
                (crate::formats::Source::Format(format), None) => {
                    format.to_string().to_ascii_uppercase()
                }
                _ => value::<PrefixName>(args, Var::PrefixName)?.0,
            },
            deployment_id,
            debug: value::<Flag>(args, Var::Debug)?.0,
            services,
            source,
            region: region.0,
            ip_versions: value::<IpVersions>(args, Var::IpVersions)?,
            service_regions: read::<Regions>(args, Var::ServiceRegions)?.map(|r| r.0),
            ip_ranges_url,
            guard: GuardLimits {
                widest_v4: value::<PrefixLen<32>>(args, Var::WidestIpv4Prefix)?.0,
                widest_v6: value::<PrefixLen<128>>(args, Var::WidestIpv6Prefix)?.0,
                max_remove_fraction: value::<Fraction>(args, Var::MaxRemoveFraction)?.0,
                allow_large_removal: value::<Flag>(args, Var::AllowLargeRemoval)?.0,
                force: false,
            },
            download_retry: value::<Millis>(args, Var::DownloadRetryMs)?.0,
            download_cache: match read::<CacheDir>(args, Var::DownloadCache)? {
                Some(CacheDir::Off) => None,
                Some(CacheDir::At(dir)) => Some(dir),
                None => env.cache_home.clone(),
            }
            .map(crate::cache::Cache::new),
            repack: false,
            approved_plan: None,
            adopt: value::<Flag>(args, Var::Adopt)?.0,
            attach_carriers,
            change_topic: read::<TopicArn>(args, Var::ChangeTopicArn)?.map(|t| t.0),
            replaces: read(args, Var::Replaces)?,
            notes: args.notes.clone(),
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
        if self.kinds.waf_ip_sets {
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
        if self.kinds.security_groups {
            let name = format!("{stem}-999");
            if name.len() > 255 {
                return Err(refuse(format!(
                    "this deployment's security groups would be named like {name}, and EC2 allows at most \
                     255 characters: choose a shorter PREFIX_NAME, or fewer SERVICEs"
                )));
            }
        }
        if self.kinds.prefix_lists {
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
    ///
    /// Another source than Amazon's is in the name too (`AUTOUPDATE-github-hooks-1` beside
    /// `AUTOUPDATE-cloudfront-1`), its service names made safe for every kind (lower case; what is not
    /// a letter, a digit, `_` or `-` becomes `-`: WAF allows no more).
    pub fn ownership(&self) -> Ownership {
        let stem = match self.source {
            crate::formats::Source::Aws => format!(
                "{}-{}",
                self.prefix_name,
                self.services.join("+").to_ascii_lowercase()
            ),
            crate::formats::Source::Format(format) => {
                // Sorted and once each: `hooks,web` and `web,hooks` are one selection, one name.
                let services: std::collections::BTreeSet<String> = (self.services.iter())
                    .map(|s| {
                        s.to_ascii_lowercase()
                            .chars()
                            .map(|c| match c {
                                'a'..='z' | '0'..='9' | '_' | '-' => c,
                                _ => '-',
                            })
                            .collect()
                    })
                    .collect();
                // Google's shape serves several lists (cloud.json, goog.json, the crawlers'), and a
                // text list can be anything: the file's name tells them apart (googlebot, gptbot).
                let list = match format {
                    crate::formats::Format::Google | crate::formats::Format::Text
                        if Some(self.ip_ranges_url.as_str()) != format.default_url() =>
                    {
                        list_name(&self.ip_ranges_url)
                    }
                    _ => None,
                };
                let mut stem = format!("{}-{format}", self.prefix_name);
                for part in list.into_iter().chain(
                    (!services.is_empty())
                        .then(|| services.iter().cloned().collect::<Vec<_>>().join("_")),
                ) {
                    stem.push('-');
                    stem.push_str(&part);
                }
                stem
            }
        };
        Ownership {
            prefix: self.prefix_name.clone(),
            stem,
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
        match (self.source, self.services.is_empty()) {
            (crate::formats::Source::Aws, _) => self.services.join(","),
            (source, true) => source.to_string(),
            (source, false) => format!("{source} {}", self.services.join(",")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str) -> Environment {
        Environment {
            aws_region: None,
            function: Some(name.into()),
            cache_home: None,
        }
    }

    fn args(pairs: &[(&str, &str)]) -> ConfigArgs {
        let mut a = ConfigArgs::default();
        for (k, v) in pairs {
            a.set(k, v).unwrap_or_else(|e| panic!("{e}"));
        }
        a
    }

    #[test]
    fn downloads_are_cached_where_the_process_may_keep_them_unless_off() {
        let env = Environment {
            cache_home: Some(PathBuf::from("/home/op/.cache/sgsync")),
            ..Environment::default()
        };
        let of = |pairs: &[(&str, &str)], env: &Environment| {
            (Config::from_args(&args(pairs), env).unwrap().download_cache)
                .map(|c| c.dir().to_path_buf())
        };
        assert_eq!(of(&[], &env), env.cache_home);
        assert_eq!(of(&[], &Environment::default()), None);
        assert_eq!(of(&[("DOWNLOAD_CACHE", "OFF")], &env), None);
        assert_eq!(
            of(&[("DOWNLOAD_CACHE", "/var/cache/sgsync")], &env),
            Some(PathBuf::from("/var/cache/sgsync"))
        );
        // The template passes an empty value for its default.
        assert_eq!(of(&[("DOWNLOAD_CACHE", "")], &env), env.cache_home);
    }

    #[test]
    fn a_change_topic_is_a_standard_topics_arn_and_not_a_hubs() {
        let of = |pairs: &[(&str, &str)]| Config::from_args(&args(pairs), &Environment::default());
        let ok = "arn:aws:sns:eu-west-1:123456789012:sgsync-changes";
        assert_eq!(
            of(&[("CHANGE_TOPIC_ARN", ok)])
                .unwrap()
                .change_topic
                .as_deref(),
            Some(ok)
        );
        for bad in [
            "sgsync-changes",
            "arn:aws:sns:eu-west-1:123456789012:changes.fifo",
            "arn:awsX:sns:eu-west-1:123456789012:changes",
            "arn:aws:sns:not a region!:123456789012:changes",
            "arn:aws:sns:eu-west-1:12345:changes",
            "arn:aws:sqs:eu-west-1:123456789012:changes",
        ] {
            assert!(of(&[("CHANGE_TOPIC_ARN", bad)]).is_err(), "{bad}");
        }
        let e = of(&[("CHANGE_TOPIC_ARN", ok), ("FLEET", "fleet.toml")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("a hub does not tell a topic"), "{e}");
    }

    #[test]
    fn each_source_takes_its_own_services_url_and_names() {
        let of = |pairs: &[(&str, &str)]| Config::from_args(&args(pairs), &Environment::default());
        // Amazon's, exactly as before.
        let aws = of(&[]).unwrap();
        assert_eq!(aws.source, crate::formats::Source::Aws);
        assert_eq!(aws.ownership().stem, "AUTOUPDATE-cloudfront");
        assert_eq!(aws.service_label(), "CLOUDFRONT");
        // GitHub: its key, case kept, its URL, the source in every name.
        let github = of(&[("SOURCE", "GitHub"), ("SERVICE", "hooks")]).unwrap();
        assert_eq!(github.services, ["hooks"]);
        assert_eq!(github.ip_ranges_url, "https://api.github.com/meta");
        assert_eq!(github.ownership().stem, "GITHUB-github-hooks");
        assert_eq!(github.service_label(), "github hooks");
        // Names safe for WAF (letters, digits, - and _ only), whatever the provider calls things.
        let azure = of(&[
            ("SOURCE", "azure"),
            ("SERVICE", "AzureFrontDoor.Backend"),
            (
                "IP_RANGES_URL",
                "https://download.example/ServiceTags_Public_20250217.json",
            ),
            ("KINDS", "waf-ip-sets"),
        ])
        .unwrap();
        assert_eq!(azure.ownership().stem, "AZURE-azure-azurefrontdoor-backend");
        let google = of(&[
            ("SOURCE", "google"),
            ("SERVICE", "Google Cloud"),
            ("KINDS", "waf-ip-sets"),
        ])
        .unwrap();
        assert_eq!(google.ownership().stem, "GOOGLE-google-google-cloud");
        assert_eq!(
            of(&[("SOURCE", "google")]).unwrap().ownership().stem,
            "GOOGLE-google"
        );
        let cloudflare = of(&[("SOURCE", "cloudflare")]).unwrap();
        assert_eq!(cloudflare.ownership().stem, "CLOUDFLARE-cloudflare");
        // Without DEPLOYMENT_ID, never CloudFront's default deployment; without PREFIX_NAME, never
        // its targets.
        assert_eq!(cloudflare.deployment_id, "default-cloudflare");
        assert_eq!(cloudflare.prefix_name, "CLOUDFLARE");
        assert_eq!(aws.deployment_id, "default");
        // Lists of Google's shape, told apart by their file.
        let gptbot = of(&[
            ("SOURCE", "google"),
            ("IP_RANGES_URL", "https://openai.com/gptbot.json"),
        ])
        .unwrap();
        assert_eq!(gptbot.ownership().stem, "GOOGLE-google-gptbot");
        let text = of(&[
            ("SOURCE", "text"),
            ("IP_RANGES_URL", "https://www.cloudflare.com/ips-v4"),
        ])
        .unwrap();
        assert_eq!(text.ownership().stem, "TEXT-text-ips-v4");
        // Azure's and text's URL is needed only to download.
        assert_eq!(of(&[("SOURCE", "text")]).unwrap().ip_ranges_url, "");
        assert!(crate::ownership::named_by_sgsync(
            "AUTOUPDATE-github-hooks-1",
            "AUTOUPDATE"
        ));
        for (pairs, says) in [
            (
                &[("SOURCE", "fastly"), ("SERVICE", "x")][..],
                "publishes one list",
            ),
            (&[("SOURCE", "github")], "needs SERVICE"),
            (
                &[("SOURCE", "cloudflare"), ("SERVICE_REGIONS", "x")],
                "has no regions",
            ),
            (
                &[
                    ("SOURCE", "github"),
                    ("SERVICE", "hooks"),
                    ("IP_RANGES_URL", "http://api.github.com/meta"),
                ],
                "https",
            ),
            (&[("SOURCE", "gcp")], "not a source"),
        ] {
            let e = of(pairs).unwrap_err().to_string();
            assert!(e.contains(says), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn replaces_takes_group_ids_and_name_patterns_but_never_tags() {
        let of = |pairs: &[(&str, &str)]| Config::from_args(&args(pairs), &Environment::default());
        assert!(of(&[]).unwrap().replaces.is_none());
        let r = of(&[("REPLACES", "name:AUTOUPDATE_*,sg-0123456789abcdef0")])
            .unwrap()
            .replaces
            .unwrap();
        assert!(r.names("sg-0123456789abcdef0", "web"));
        assert!(r.names("sg-1", "AUTOUPDATE_HTTPS_x"));
        let e = of(&[("REPLACES", "tag:AutoUpdate=true")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("REPLACES") && e.contains("anyone's to write"),
            "{e}"
        );
    }

    #[test]
    fn attach_is_tagged_or_carriers_and_a_hub_cannot_attach_to_carriers() {
        let of = |pairs: &[(&str, &str)]| Config::from_args(&args(pairs), &Environment::default());
        assert!(!of(&[]).unwrap().attach_carriers);
        assert!(of(&[("ATTACH", "carriers")]).unwrap().attach_carriers);
        assert!(!of(&[("ATTACH", "Tagged")]).unwrap().attach_carriers);
        let e = of(&[("ATTACH", "all")]).unwrap_err().to_string();
        assert!(e.contains("expected tagged or carriers"), "{e}");
        let e = of(&[("ATTACH", "carriers"), ("FLEET", "fleet.toml")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("a hub cannot attach to carriers"), "{e}");
    }

    #[test]
    fn every_setting_is_a_flag_of_the_commands_it_concerns_and_a_flag_wins_over_its_variable() {
        use clap::{Args as _, FromArgMatches as _};
        // plan and apply take every setting but the document-only ones none lacks; advanced ones
        // are flags too, only not shown.
        let command = SyncFlags::augment_args(clap::Command::new("sgsync"));
        let ids: Vec<String> = command
            .get_arguments()
            .filter(|a| SETTINGS.iter().any(|s| s.name == a.get_id().as_str()))
            .map(|a| a.get_id().to_string())
            .collect();
        let sync: Vec<&str> = SETTINGS
            .iter()
            .filter(|s| s.commands.sync)
            .map(|s| s.name)
            .collect();
        assert_eq!(ids, sync);
        let hidden: Vec<String> = command
            .get_arguments()
            .filter(|a| a.is_hide_set())
            .map(|a| a.get_id().to_string())
            .collect();
        for s in SETTINGS.iter().filter(|s| s.commands.sync) {
            assert_eq!(
                hidden.contains(&s.name.to_string()),
                s.advanced,
                "{}",
                s.name
            );
        }
        // ranges reads no AWS: no VPC, no fleet.
        let ranges = RangesFlags::augment_args(clap::Command::new("sgsync"));
        assert!(
            ranges
                .get_arguments()
                .all(|a| a.get_id() != "VPC_ID" && a.get_id() != "FLEET")
        );
        let matches = command
            .try_get_matches_from(["sgsync", "--ports", "443", "--targets", "waf"])
            .unwrap();
        let flags = SyncFlags::from_arg_matches(&matches).unwrap().0;
        let env = ConfigArgs::from_env(|k| match k {
            "PORTS" => Some("80".into()),
            "SERVICE" => Some("S3".into()),
            _ => None,
        });
        let merged = env.with_flags(&flags);
        assert_eq!(merged.get(Var::Ports), Some("443"));
        assert_eq!(merged.get(Var::Service), Some("S3"));
        assert_eq!(merged.get(Var::Kinds), Some("waf"));
        assert!(
            merged.notes[0].contains("--targets is now called KINDS"),
            "{:?}",
            merged.notes
        );
    }

    #[test]
    fn the_old_name_of_a_setting_works_with_a_note() {
        let env = ConfigArgs::from_env(|k| (k == "TARGETS").then(|| "prefix-lists".into()));
        let c = Config::from_args(&env, &Environment::default()).unwrap();
        assert!(c.kinds.prefix_lists && !c.kinds.security_groups);
        assert!(
            c.notes[0].contains("TARGETS is now called KINDS"),
            "{:?}",
            c.notes
        );
        // The new name wins when both are set.
        let both = ConfigArgs::from_env(|k| match k {
            "TARGETS" => Some("prefix-lists".into()),
            "KINDS" => Some("waf-ip-sets".into()),
            _ => None,
        });
        let c = Config::from_args(&both, &Environment::default()).unwrap();
        assert_eq!(c.kinds, "waf".parse().unwrap());
        let mut entry = ConfigArgs::default();
        entry.set("KINDS", "waf").unwrap();
        assert_eq!(entry.get(Var::Kinds), Some("waf"));
    }

    #[test]
    fn defaults_are_the_blogs() {
        let c = Config::from_args(&ConfigArgs::default(), &Environment::default()).unwrap();
        assert_eq!(c.ports, vec![PortRange::single(80)]);
        assert_eq!(c.prefix_name, "AUTOUPDATE");
        assert_eq!(c.services, ["CLOUDFRONT"]);
        assert_eq!(c.region, "us-east-1");
        assert!(!c.debug);
        assert_eq!(c.vpc_id, None);
        assert_eq!(
            c.ip_versions,
            IpVersions {
                v4: true,
                v6: false
            }
        );
        assert_eq!(c.ip_ranges_url, crate::source::DEFAULT_URL);
        assert_eq!(c.default_quotas(), Quotas::default());
        assert_eq!(c.ownership().stem, "AUTOUPDATE-cloudfront");
        assert_eq!(c.deployment_id, "default");
        let in_lambda =
            Config::from_args(&ConfigArgs::default(), &function("sgsync-prod")).unwrap();
        assert_eq!(in_lambda.deployment_id, "sgsync-prod");
        let set =
            Config::from_args(&args(&[("DEPLOYMENT_ID", "stack-1")]), &function("fn")).unwrap();
        assert_eq!(set.deployment_id, "stack-1");
        for url in [
            "http://127.0.0.1:8080/ip-ranges.json",
            "http://localhost/x",
            "http://[::1]:9/x",
        ] {
            assert!(
                Config::from_args(&args(&[("IP_RANGES_URL", url)]), &Environment::default())
                    .is_ok(),
                "{url}"
            );
        }
        assert_eq!(c.download_retry, Duration::from_secs(2));
    }

    #[test]
    fn empty_values_count_as_unset_and_aws_region_is_the_fallback() {
        let c = Config::from_args(
            &args(&[("VPC_ID", ""), ("PORTS", " "), ("REGION", "")]),
            &Environment {
                aws_region: Some("eu-west-1".into()),
                ..Environment::default()
            },
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
            &Environment::default(),
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
                ("KINDS", "prefix-lists, waf-ip-sets"),
                (
                    "SHARE_WITH",
                    "111122223333,arn:aws:organizations::111122223333:ou/o-abc/ou-abc-def",
                ),
                ("PREFIX_LIST_MAX_ENTRIES", "200"),
            ]),
            &Environment::default(),
        )
        .unwrap();
        assert_eq!(c.kinds, "prefix-lists,waf-ip-sets".parse().unwrap());
        assert_eq!(c.share_with.len(), 2);
        assert_eq!(c.prefix_list_max_entries, 200);
        assert_eq!(
            Config::from_args(&ConfigArgs::default(), &Environment::default())
                .unwrap()
                .kinds,
            "security-groups".parse().unwrap(),
            "security groups only, as sgsync always did"
        );
        let e = Config::from_args(
            &args(&[
                ("KINDS", "waf-ip-sets"),
                ("WAF_SCOPE", "cloudfront"),
                ("REGION", "eu-west-1"),
            ]),
            &Environment::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("only in us-east-1"), "{e}");
        assert!(
            Config::from_args(
                &args(&[("KINDS", "waf"), ("WAF_SCOPE", "CLOUDFRONT")]),
                &Environment::default()
            )
            .is_ok()
        );
        // Names a kind would reject are refused at start-up, only when that kind is targeted.
        let waf = |prefix: &str, service: &str| {
            Config::from_args(
                &args(&[
                    ("KINDS", "waf-ip-sets"),
                    ("PREFIX_NAME", prefix),
                    ("SERVICE", service),
                ]),
                &Environment::default(),
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
        assert!(
            Config::from_args(
                &args(&[("PREFIX_NAME", "office(1)")]),
                &Environment::default()
            )
            .is_ok()
        );
        let e = Config::from_args(
            &args(&[
                ("KINDS", "prefix-lists"),
                ("PREFIX_NAME", "com.amazonaws.mine"),
            ]),
            &Environment::default(),
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
            &Environment::default(),
        );
        assert!(ok.is_ok());
        let e = Config::from_args(
            &args(&[("RULES_PER_GROUP", "100"), ("GROUPS_PER_TARGET", "16")]),
            &Environment::default(),
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
            (
                "IP_RANGES_URL",
                "https://user@evil.example/x",
                "user name or password",
            ),
            (
                "IP_RANGES_URL",
                "http://localhost:80@any.host/ip-ranges.json",
                "user name or password",
            ),
            (
                "IP_RANGES_URL",
                "http://127.0.0.1.evil.example/x",
                "plain http only",
            ),
            ("DEPLOYMENT_ID", "my stack", "128 letters"),
            (
                "KINDS",
                "security-groups,firewalls",
                "'firewalls' is not a kind of allow-list",
            ),
            ("PREFIX_LIST_MAX_ENTRIES", "1001", "1 to 1000"),
            ("SHARE_WITH", "1234,o-abc", "account id (12 digits)"),
            ("WAF_SCOPE", "GLOBAL", "REGIONAL or CLOUDFRONT"),
            ("MAX_REMOVE_FRACTION", "50%", "fraction from 0 to 1"),
            ("ALLOW_LARGE_REMOVAL", "sure", "true or false"),
            ("WIDEST_IPV4_PREFIX", "0", "1 to 32"),
            ("WIDEST_IPV6_PREFIX", "/129", "1 to 128"),
            ("DOWNLOAD_RETRY_MS", "2s", "milliseconds"),
            ("DOWNLOAD_CACHE", "cache", "absolute directory"),
            ("DOWNLOAD_CACHE", "s3://bucket/cache", "absolute directory"),
        ] {
            let e = Config::from_args(&args(&[(var, value)]), &Environment::default()).unwrap_err();
            let text = e.to_string();
            assert_eq!(e.variable, var);
            assert!(
                text.contains(var) && text.contains(value) && text.contains(needle),
                "{text}"
            );
        }
    }
}
