//! Every setting, defined once: its environment variable, its default, its help and where it applies.
//! The flags (`--ports` for `PORTS`), the environment the function reads, [`VARIABLES`], the defaults
//! `Config` is built with and the help texts all come from this table; a new setting is one row here
//! and one field of `Config` (docs/design.md, "How to add a setting").

/// Which commands take a setting as a flag. The environment variable is read by every command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commands {
    /// `plan` and `apply`.
    pub sync: bool,
    /// `status`.
    pub status: bool,
    /// `ranges`.
    pub ranges: bool,
}

/// Every command.
const ALL: Commands = Commands {
    sync: true,
    status: true,
    ranges: true,
};
/// The commands that read AWS.
const AWS: Commands = Commands {
    sync: true,
    status: true,
    ranges: false,
};
/// `plan` and `apply` only.
const SYNC: Commands = Commands {
    sync: true,
    status: false,
    ranges: false,
};
/// The document selection: `plan`, `apply` and `ranges`.
const DOCUMENT: Commands = Commands {
    sync: true,
    status: false,
    ranges: true,
};

/// What a fleet entry's `settings` may do with a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerEntry {
    /// Set it to anything the setting accepts.
    Free,
    /// Narrow it: what the entry's value allows must be allowed by the hub's (ports, IP families,
    /// principals), or the entry fails alone.
    Narrower,
    /// Nothing: the reason says why (the hub's configuration alone decides it).
    Never(&'static str),
}

/// One setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Which one.
    pub var: Var,
    /// Its environment variable, e.g. `PORTS`; the flag is the same in lower case with hyphens.
    pub name: &'static str,
    /// The value it has when unset, read exactly as a given value would be; `None`: unset means
    /// `unset` below (or that the setting is off).
    pub default: Option<&'static str>,
    /// What unset means, for the help, when there is no default value.
    pub unset: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// A few words for `--help`, which must fit a screen (its default in brackets).
    pub brief: &'static str,
    /// Rarely changed (guards, quota overrides, retries): accepted everywhere, shown only by
    /// `sgsync man` and the README, so that each `--help` fits a screen.
    pub advanced: bool,
    /// The commands that take it as a flag.
    pub commands: Commands,
    /// Whether a fleet entry may set it.
    pub per_entry: PerEntry,
    /// An older name that still works, with a warning.
    pub alias: Option<&'static str>,
}

impl Setting {
    /// The flag: `--ip-ranges-url` for `IP_RANGES_URL`.
    pub fn flag(&self) -> String {
        self.name.to_ascii_lowercase().replace('_', "-")
    }

    /// What the help says of the value when it is unset.
    pub fn default_text(&self) -> &'static str {
        self.default.unwrap_or(self.unset)
    }
}

macro_rules! settings {
    ($($var:ident = $name:literal {
        default: $default:expr,
        unset: $unset:literal,
        help: $help:literal,
        brief: $brief:literal, advanced: $advanced:expr,
        commands: $commands:expr,
        per_entry: $per_entry:expr,
        alias: $alias:expr $(,)?
    })*) => {
        /// A setting, by name in the code (`Var::Ports` is `PORTS`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Var {
            $($var,)*
        }

        /// Every setting, in the order the help lists them.
        pub const SETTINGS: &[Setting] = &[$(Setting {
            var: Var::$var,
            name: $name,
            default: $default,
            unset: $unset,
            help: $help,
            brief: $brief,
            advanced: $advanced,
            commands: $commands,
            per_entry: $per_entry,
            alias: $alias,
        },)*];

        /// Every environment variable sgsync reads its settings from: the deploy template offers each
        /// (but `REGION`, which Lambda sets as `AWS_REGION`, and `FLEET`'s local path), and the tests
        /// keep the caller's values out.
        pub const VARIABLES: &[&str] = &[$($name,)*];
    };
}

const GUARD: PerEntry = PerEntry::Never("a guard: the hub's setting alone decides it");
const SELECTION: PerEntry =
    PerEntry::Never("which addresses are allowed: the hub's setting alone decides it");
const SHARED: PerEntry =
    PerEntry::Never("shared by the whole fleet (one document, downloaded once)");

settings! {
    VpcId = "VPC_ID" {
        default: None, unset: "the region's default VPC",
        help: "VPC whose security groups are managed",
        brief: "VPC of the managed groups [default VPC]", advanced: false,
        commands: AWS, per_entry: PerEntry::Never("the entry's own vpc_id field"), alias: None,
    }
    Ports = "PORTS" {
        default: Some("80"), unset: "",
        help: "Ports or ranges to allow, comma-separated, e.g. 80,443 or 8000-8080",
        brief: "Ports or ranges, e.g. 80,443 [80]", advanced: false,
        commands: DOCUMENT, per_entry: PerEntry::Narrower, alias: None,
    }
    PrefixName = "PREFIX_NAME" {
        default: Some("AUTOUPDATE"), unset: "",
        help: "Name prefix (and ownership tag) of the managed allow-lists; targets opt in with the tag sgsync:target=PREFIX_NAME",
        brief: "Name prefix; targets' tag value [AUTOUPDATE]", advanced: false,
        commands: AWS, per_entry: PerEntry::Free, alias: None,
    }
    DeploymentId = "DEPLOYMENT_ID" {
        default: None, unset: "the Lambda function's name, else \"default\"",
        help: "Which deployment this is, recorded on what it creates, so two deployments never take each other's",
        brief: "Who owns what it makes [default, or the function]", advanced: false,
        commands: AWS, per_entry: PerEntry::Free, alias: None,
    }
    Debug = "DEBUG" {
        default: Some("false"), unset: "",
        help: "Log at debug level: true or false",
        brief: "Log at debug level", advanced: false,
        commands: ALL, per_entry: PerEntry::Free, alias: None,
    }
    Source = "SOURCE" {
        default: Some("aws"), unset: "",
        help: "Whose published ranges: aws (ip-ranges.json), google, github, cloudflare, fastly, oracle, azure (Service Tags) or text (one CIDR per line); docs/sources.md",
        brief: "aws, google, github, cloudflare, … [aws]", advanced: false,
        commands: ALL, per_entry: SHARED, alias: None,
    }
    Service = "SERVICE" {
        default: Some("CLOUDFRONT"), unset: "",
        help: "Service(s) whose ranges are allowed, comma-separated (CLOUDFRONT is SOURCE=aws's default; GitHub's keys such as hooks, Azure's tags, Google's or Oracle's services; none for cloudflare, fastly, text)",
        brief: "Service(s) of the document [CLOUDFRONT for aws]", advanced: false,
        commands: ALL, per_entry: SELECTION, alias: None,
    }
    Region = "REGION" {
        default: None, unset: "AWS_REGION, else us-east-1",
        help: "AWS region of the VPC",
        brief: "AWS region [AWS_REGION, else us-east-1]", advanced: false,
        commands: AWS, per_entry: PerEntry::Never("the entry's own region field"), alias: None,
    }
    IpVersions = "IP_VERSIONS" {
        default: Some("ipv4"), unset: "",
        help: "IP versions to allow: ipv4, ipv6 or ipv4,ipv6",
        brief: "ipv4, ipv6 or ipv4,ipv6 [ipv4]", advanced: false,
        commands: DOCUMENT, per_entry: PerEntry::Narrower, alias: None,
    }
    ServiceRegions = "SERVICE_REGIONS" {
        default: None, unset: "all",
        help: "Keep only ranges of these document regions, comma-separated (GLOBAL is one)",
        brief: "Keep only these document regions [all]", advanced: false,
        commands: DOCUMENT, per_entry: SELECTION, alias: None,
    }
    IpRangesUrl = "IP_RANGES_URL" {
        default: Some(crate::source::DEFAULT_URL), unset: "",
        help: "The only URL a notification may point to",
        brief: "The only URL a notification may point to", advanced: true,
        commands: DOCUMENT, per_entry: SHARED, alias: None,
    }
    RulesPerGroup = "RULES_PER_GROUP" {
        default: None, unset: "Service Quotas L-0EA8095F",
        help: "Inbound rules per group, overriding Service Quotas",
        brief: "Rules per group, overriding Service Quotas", advanced: true,
        commands: ALL, per_entry: PerEntry::Free, alias: None,
    }
    GroupsPerTarget = "GROUPS_PER_TARGET" {
        default: None, unset: "Service Quotas L-2AFB9258",
        help: "Groups per interface or load balancer, overriding Service Quotas",
        brief: "Groups per target, overriding Service Quotas", advanced: true,
        commands: ALL, per_entry: PerEntry::Free, alias: None,
    }
    MaxRemoveFraction = "MAX_REMOVE_FRACTION" {
        default: Some("0.5"), unset: "",
        help: "Largest fraction of the applied ranges one document may remove",
        brief: "Largest fraction one document may remove", advanced: true,
        commands: SYNC, per_entry: GUARD, alias: None,
    }
    AllowLargeRemoval = "ALLOW_LARGE_REMOVAL" {
        default: Some("false"), unset: "",
        help: "Allow a document to remove more than MAX_REMOVE_FRACTION: true or false",
        brief: "Allow removing more than that", advanced: true,
        commands: SYNC, per_entry: GUARD, alias: None,
    }
    WidestIpv4Prefix = "WIDEST_IPV4_PREFIX" {
        default: Some("8"), unset: "",
        help: "Widest IPv4 prefix length accepted from the document",
        brief: "Widest IPv4 prefix accepted [8]", advanced: true,
        commands: SYNC, per_entry: GUARD, alias: None,
    }
    WidestIpv6Prefix = "WIDEST_IPV6_PREFIX" {
        default: Some("16"), unset: "",
        help: "Widest IPv6 prefix length accepted from the document",
        brief: "Widest IPv6 prefix accepted [16]", advanced: true,
        commands: SYNC, per_entry: GUARD, alias: None,
    }
    Kinds = "KINDS" {
        default: Some("security-groups"), unset: "",
        help: "Kinds of allow-list to keep in sync, comma-separated: security-groups, prefix-lists, waf-ip-sets",
        brief: "Allow-lists to keep [security-groups]", advanced: false,
        commands: AWS, per_entry: PerEntry::Free, alias: Some("TARGETS"),
    }
    PrefixListMaxEntries = "PREFIX_LIST_MAX_ENTRIES" {
        default: Some("60"), unset: "",
        help: "The largest MaxEntries a managed prefix list may have (its weight in a referencing group's rules quota), 1 to 1000",
        brief: "Largest size of a managed prefix list [60]", advanced: true,
        commands: AWS, per_entry: PerEntry::Free, alias: None,
    }
    ShareWith = "SHARE_WITH" {
        default: None, unset: "none",
        help: "Share the managed prefix lists through AWS RAM with these account ids, OU ARNs or the organization ARN, comma-separated",
        brief: "Share the lists through RAM with these", advanced: false,
        commands: SYNC, per_entry: PerEntry::Narrower, alias: None,
    }
    AllowExternalShare = "ALLOW_EXTERNAL_SHARE" {
        default: Some("false"), unset: "",
        help: "Let SHARE_WITH name accounts outside the organization (RAM's allowExternalPrincipals): true or false",
        brief: "Let SHARE_WITH leave the organization", advanced: true,
        commands: SYNC, per_entry: PerEntry::Never("who may reach the lists: the hub's setting alone decides it"), alias: None,
    }
    WafScope = "WAF_SCOPE" {
        default: Some("REGIONAL"), unset: "",
        help: "Scope of the managed WAF IP sets: REGIONAL or CLOUDFRONT (then REGION must be us-east-1)",
        brief: "REGIONAL or CLOUDFRONT [REGIONAL]", advanced: false,
        commands: AWS, per_entry: PerEntry::Free, alias: None,
    }
    Adopt = "ADOPT" {
        default: Some("false"), unset: "",
        help: "Record as this deployment's the groups, lists and sets that carry its tags but are not in its record (made by an sgsync that kept none); review them first with plan --adopt",
        brief: "Take over an earlier sgsync's resources", advanced: false,
        commands: SYNC, per_entry: PerEntry::Never("adoption: the hub's setting alone decides it"), alias: None,
    }
    Attach = "ATTACH" {
        default: Some("tagged"), unset: "",
        help: "Which interfaces and load balancers get the managed groups: tagged (those tagged sgsync:target) or carriers (also every one in the VPC that already carries one of them, as the blog's function did)",
        brief: "tagged or carriers [tagged]", advanced: false,
        commands: AWS, per_entry: PerEntry::Never("which resources are changed: the hub's setting alone decides it"), alias: None,
    }
    Replaces = "REPLACES" {
        default: None, unset: "none (groups sgsync does not manage are never detached)",
        help: "Groups sgsync may swap out of a tagged target for its own, in the write that attaches them, when its groups then allow every published rule they allowed and the groups that stay every outbound entry: group ids and name:PATTERN, comma-separated (e.g. name:AUTOUPDATE_*)",
        brief: "Groups to swap out for sgsync's (migration)", advanced: true,
        commands: SYNC, per_entry: PerEntry::Never("which groups are taken off targets: the hub's setting alone decides it"), alias: None,
    }
    ChangeTopicArn = "CHANGE_TOPIC_ARN" {
        default: None, unset: "no notification",
        help: "An SNS topic told about every run that changed anything: one message, its subject what and where, its body the summary JSON",
        brief: "SNS topic told of every change", advanced: false,
        commands: SYNC, per_entry: PerEntry::Never("where changes are told: the hub's setting alone decides it"), alias: None,
    }
    Fleet = "FLEET" {
        default: None, unset: "the one VPC of VPC_ID and REGION",
        help: "Keep many VPCs in sync: a fleet file (TOML: accounts, regions, VPCs, the role to assume in each), as a path or s3://BUCKET/KEY",
        brief: "Fleet file: many accounts and VPCs", advanced: false,
        commands: AWS, per_entry: PerEntry::Never("the fleet file itself"), alias: None,
    }
    DownloadCache = "DOWNLOAD_CACHE" {
        default: None, unset: "in Lambda /tmp/sgsync (kept while the function stays warm), else $XDG_CACHE_HOME/sgsync or ~/.cache/sgsync when the user's own (else off)",
        help: "Where the last checked download of each document is kept when its entity-tag is its digest, so that the next asks the provider whether it changed and a 304 costs no download (a copy answers for six hours at most): an absolute directory of your own, or off",
        brief: "Directory of downloaded copies, or off", advanced: true,
        commands: ALL, per_entry: SHARED, alias: None,
    }
    DownloadRetryMs = "DOWNLOAD_RETRY_MS" {
        default: Some("2000"), unset: "",
        help: "Wait before downloading again when the server (or a CDN in front of it) answers with a document older than its notification, in ms; doubles, 3 tries",
        brief: "First wait before downloading again, ms", advanced: true,
        commands: SYNC, per_entry: SHARED, alias: None,
    }
}

/// The kinds of allow-list a deployment keeps in sync (`KINDS`): the one place in the settings that
/// lists them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds {
    pub security_groups: bool,
    pub prefix_lists: bool,
    pub waf_ip_sets: bool,
}

impl Kinds {
    /// Whether it keeps a kind that belongs to an account and region rather than to a VPC (prefix
    /// lists, WAF IP sets): two fleet entries of one account, region and deployment may not both.
    pub fn regional(&self) -> bool {
        self.prefix_lists || self.waf_ip_sets
    }
}

impl std::str::FromStr for Kinds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut kinds = Kinds::default();
        for item in s.split(',').map(|i| i.trim().to_ascii_lowercase()) {
            match item.as_str() {
                "security-groups" | "security_groups" | "sg" => kinds.security_groups = true,
                "prefix-lists" | "prefix_lists" => kinds.prefix_lists = true,
                "waf-ip-sets" | "waf_ip_sets" | "waf" => kinds.waf_ip_sets = true,
                other => {
                    return Err(format!(
                        "'{}' is not a kind of allow-list; expected a comma list of security-groups, prefix-lists and waf-ip-sets",
                        crate::error::echo(other)
                    ));
                }
            }
        }
        Ok(kinds)
    }
}

impl Var {
    /// This setting's row of [`SETTINGS`].
    pub fn setting(self) -> &'static Setting {
        SETTINGS
            .iter()
            .find(|s| s.var == self)
            .expect("every variant has a row: the macro makes both")
    }

    /// Its environment variable.
    pub fn name(self) -> &'static str {
        self.setting().name
    }
}

/// The setting a name (or an older alias of one) names.
pub fn by_name(name: &str) -> Option<&'static Setting> {
    SETTINGS
        .iter()
        .find(|s| s.name == name || s.alias == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_combine_and_have_short_names() {
        let all: Kinds = "security-groups, prefix_lists,WAF".parse().unwrap();
        assert!(all.security_groups && all.prefix_lists && all.waf_ip_sets && all.regional());
        let groups: Kinds = "sg".parse().unwrap();
        assert!(groups.security_groups && !groups.regional());
        let e = "security-groups,firewalls".parse::<Kinds>().unwrap_err();
        assert!(e.contains("'firewalls' is not a kind of allow-list"), "{e}");
    }

    #[test]
    fn every_setting_is_one_row_and_its_default_parses_as_a_value() {
        let mut names: Vec<&str> = SETTINGS
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.alias))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len() + 1, "one alias: TARGETS");
        for s in SETTINGS {
            assert_eq!(s.var.setting().name, s.name);
            assert!(
                s.default.is_some() == s.unset.is_empty(),
                "{}: a default or what unset means, not both",
                s.name
            );
            assert!(!s.help.ends_with('.'), "{}: help is one phrase", s.name);
        }
        // Every default is a value the setting accepts: Config from nothing uses them all.
        crate::config::Config::from_args(
            &crate::config::ConfigArgs::default(),
            &crate::config::Environment::default(),
        )
        .expect("the defaults are valid");
    }
}
