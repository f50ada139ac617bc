//! The fleet file: which VPCs, in which accounts and regions, and the role that reaches each. Raw TOML
//! (`FleetFile`) is checked into a [`Fleet`] whose every entry carries its own checked [`Config`] (the
//! sync settings of the environment and flags, with the entry's region, VPC and overrides), so a typo
//! anywhere in the file is refused before anything is read from AWS.
//!
//! ```toml
//! role_name = "sgsync"          # assumed in each account: arn:aws:iam::ACCOUNT:role/ROLE_NAME
//! concurrency = 16              # optional, 1 to 64
//! external_id = "…"             # optional, sent with every AssumeRole
//! [[vpc]]
//! account = "111111111111"
//! region = "eu-west-1"
//! vpc_id = "vpc-0abc…"          # optional: the region's default VPC
//! role_arn = "arn:aws:iam::111111111111:role/other"   # optional, overrides role_name
//! settings = { PORTS = "80,443" }                      # optional overrides of the sync settings
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use thiserror::Error;

use crate::config::{Config, ConfigArgs, Environment, PerEntry, Var, by_name};
use crate::outcome::EntryLabel;

/// Entries synced at once, unless the file says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// The most entries synced at once.
pub const MAX_CONCURRENCY: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    role_name: Option<String>,
    concurrency: Option<usize>,
    external_id: Option<String>,
    #[serde(default)]
    vpc: Vec<EntryFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    account: String,
    region: String,
    vpc_id: Option<String>,
    role_arn: Option<String>,
    #[serde(default)]
    settings: BTreeMap<String, String>,
}

/// A checked fleet.
#[derive(Clone, Debug)]
pub struct Fleet {
    /// Entries synced at once.
    pub concurrency: usize,
    /// Sent with every `AssumeRole` (the spoke role's `sts:ExternalId` condition).
    pub external_id: Option<String>,
    pub entries: Vec<Entry>,
}

/// One VPC of the fleet.
#[derive(Clone, Debug)]
pub struct Entry {
    pub account: String,
    pub region: String,
    /// `None`: the region's default VPC.
    pub vpc_id: Option<String>,
    /// The role to assume. Always one: a fleet never runs on the caller's own credentials, so that a
    /// forgotten `role_name` cannot send every entry's writes into the caller's account.
    pub role_arn: String,
    /// The sync settings of this entry.
    pub config: Config,
    /// Why the entry is not run, when its settings would widen what the hub allows: it fails alone,
    /// before anything is read from AWS.
    pub refused: Option<String>,
}

impl Entry {
    /// Which VPC it is.
    pub fn label(&self) -> EntryLabel {
        EntryLabel {
            account: self.account.clone(),
            region: self.region.clone(),
            vpc_id: self.vpc_id.clone(),
        }
    }
}

/// A fleet file that cannot be used. Nothing was read from AWS.
#[derive(Debug, Error)]
#[error("fleet file {file}: {message}")]
pub struct FleetError {
    /// Where the file came from (a path, `s3://…`).
    pub file: String,
    pub message: String,
}

fn account_ok(a: &str) -> bool {
    a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())
}

/// `eu-west-1`, `us-gov-west-1`, `ap-southeast-5`: lower-case words joined by hyphens, a number last.
fn region_ok(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    r.len() <= 30
        && parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// IAM role names (with an optional path): letters, digits and `+=,.@_-`, up to 64 characters.
fn role_name_ok(n: &str) -> bool {
    let name = n.rsplit('/').next().unwrap_or(n);
    (1..=64).contains(&name.len())
        && n.len() <= 512
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
}

/// The account a role ARN names, if it is one.
fn role_arn_account(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(":iam::")?;
    let (account, role) = rest.split_once(":role/")?;
    let ok = partition.starts_with("aws") && account_ok(account) && role_name_ok(role);
    ok.then_some(account)
}

/// Checks a fleet file. `args` are the sync settings of the environment and flags, which every entry
/// starts from; `env` is what `Config::from_args` takes.
pub fn parse(
    text: &str,
    file: &str,
    args: &ConfigArgs,
    env: &Environment,
) -> Result<Fleet, FleetError> {
    let fail = |message: String| FleetError {
        file: file.to_string(),
        message,
    };
    let raw: FleetFile = toml::from_str(text).map_err(|e| fail(toml_error(text, &e)))?;
    if raw.vpc.is_empty() {
        return Err(fail(
            "lists no VPC; add [[vpc]] entries with account and region".into(),
        ));
    }
    let concurrency = raw.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(fail(format!(
            "concurrency = {concurrency}: expected 1 to {MAX_CONCURRENCY}"
        )));
    }
    if let Some(name) = &raw.role_name
        && !role_name_ok(name)
    {
        return Err(fail(format!(
            "role_name = '{}' is not an IAM role name (letters, digits and +=,.@_-, at most 64)",
            crate::error::echo(name)
        )));
    }
    if let Some(id) = &raw.external_id {
        let ok = (2..=1224).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/-_".contains(&b));
        if !ok {
            // A secret: never echoed (errors reach logs, the invocation's error and dead letters).
            let bad = id
                .chars()
                .position(|c| !c.is_ascii_alphanumeric() && !"+=,.@:/-_".contains(c))
                .map_or(String::new(), |i| {
                    format!(", character {} is not allowed", i + 1)
                });
            return Err(fail(format!(
                "external_id ({} characters{bad}) is not an STS external id (2 to 1224 of letters, digits and \
                 +=,.@:/-_; its value is not shown, it is a secret); remove the line if the spoke roles \
                 require none",
                id.chars().count()
            )));
        }
    }
    if args.get(Var::VpcId).is_some() {
        return Err(fail(
            "VPC_ID is set, but a fleet names its VPCs per entry (vpc_id); unset VPC_ID".into(),
        ));
    }
    let hub = Config::from_args(args, env).map_err(|c| fail(c.to_string()))?;
    let mut seen = BTreeSet::new();
    let mut entries = Vec::new();
    for (i, e) in raw.vpc.into_iter().enumerate() {
        let at = |message: String| {
            fail(format!(
                "[[vpc]] #{} ({} {}): {message}",
                i + 1,
                e.account,
                e.region
            ))
        };
        if !account_ok(&e.account) {
            return Err(at(
                "account must be 12 digits, as a string (account = \"111111111111\")".into(),
            ));
        }
        if !region_ok(&e.region) {
            return Err(at("region is not a region name like eu-west-1".into()));
        }
        if let Some(vpc) = &e.vpc_id {
            let hex = vpc.strip_prefix("vpc-").unwrap_or("");
            if !matches!(hex.len(), 8 | 17) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(at(format!(
                    "vpc_id '{}' is not a VPC id (vpc- and 8 or 17 hex digits)",
                    crate::error::echo(vpc)
                )));
            }
        }
        let role_arn = match (&e.role_arn, &raw.role_name) {
            (Some(arn), _) => match role_arn_account(arn) {
                Some(account) if account == e.account => arn.clone(),
                Some(account) => {
                    return Err(at(format!(
                        "role_arn is in account {account}, not in the entry's account {}",
                        e.account
                    )));
                }
                None => {
                    return Err(at(format!(
                        "role_arn '{}' is not an IAM role ARN",
                        crate::error::echo(arn)
                    )));
                }
            },
            (None, Some(name)) => format!(
                "arn:{}:iam::{}:role/{name}",
                partition(&e.region),
                e.account
            ),
            (None, None) => {
                return Err(at(
                    "no role to assume: set role_name at the top of the file or role_arn in this entry \
                     (the hub's own account too: a fleet never runs with the caller's own credentials)"
                        .into(),
                ));
            }
        };
        if !seen.insert((e.account.clone(), e.region.clone(), e.vpc_id.clone())) {
            return Err(at("listed twice: two runs would fight over one VPC".into()));
        }
        // What a writer of the fleet file (an S3 object) may not decide: the entry's own fields, what
        // the fleet shares (one document), and what decides which addresses are allowed or how far a
        // run may move them (`config::settings`, `per_entry`).
        let mut entry_args = args.clone();
        entry_args.unset(Var::Fleet);
        entry_args.unset(Var::VpcId);
        for (key, value) in &e.settings {
            if let Some(PerEntry::Never(why)) = by_name(key).map(|s| s.per_entry) {
                return Err(at(format!("settings may not set {key}: it is {why}")));
            }
            entry_args.set(key, value).map_err(&at)?;
        }
        entry_args.set("REGION", &e.region).map_err(&at)?;
        if let Some(vpc) = &e.vpc_id {
            entry_args.set("VPC_ID", vpc).map_err(&at)?;
        }
        let config = Config::from_args(&entry_args, env).map_err(|c| at(c.to_string()))?;
        let refused = widens(&hub, &config).map(|why| {
            format!(
                "[[vpc]] #{} ({} {}): {why}; nothing was read or changed for this entry",
                i + 1,
                e.account,
                e.region
            )
        });
        entries.push(Entry {
            account: e.account,
            region: e.region,
            vpc_id: e.vpc_id,
            role_arn,
            config,
            refused,
        });
    }
    regional_kinds_once(&entries).map_err(fail)?;
    Ok(Fleet {
        concurrency,
        external_id: raw.external_id,
        entries,
    })
}

/// What an entry's settings would allow beyond the hub's, if anything: a fleet file (an S3 object)
/// may narrow what the hub's configuration allows, never widen it (docs/design.md, "Threat model").
fn widens(hub: &Config, entry: &Config) -> Option<String> {
    let within = |from: u16, to: u16| {
        // Covered by the union of the hub's ranges (sorted, non-overlapping).
        let mut next = u32::from(from);
        for r in &hub.ports {
            if u32::from(r.from) <= next && next <= u32::from(r.to) {
                next = u32::from(r.to) + 1;
            }
        }
        next > u32::from(to)
    };
    let ports: Vec<String> = hub.ports.iter().map(ToString::to_string).collect();
    if let Some(r) = entry.ports.iter().find(|r| !within(r.from, r.to)) {
        return Some(format!(
            "settings may not widen PORTS: {r} allows ports the hub's PORTS ({}) does not; an entry may \
             only narrow what the hub allows",
            ports.join(",")
        ));
    }
    let (h, e) = (hub.ip_versions, entry.ip_versions);
    if (e.v4 && !h.v4) || (e.v6 && !h.v6) {
        return Some(format!(
            "settings may not widen IP_VERSIONS: {e} allows a family the hub's IP_VERSIONS ({h}) does \
             not; an entry may only narrow what the hub allows"
        ));
    }
    if let Some(p) = entry
        .share_with
        .iter()
        .find(|p| !hub.share_with.contains(p))
    {
        return Some(format!(
            "settings may not widen SHARE_WITH: {} is not among the hub's SHARE_WITH ({}); an entry may \
             only share with principals the hub names",
            crate::error::echo(p),
            if hub.share_with.is_empty() {
                "none".to_string()
            } else {
                hub.share_with.join(",")
            }
        ));
    }
    None
}

/// Prefix lists and WAF IP sets belong to an account and region, not to a VPC: two entries of one
/// account, region and deployment that both keep them would write the same lists and sets, each with
/// its own settings, run after run.
fn regional_kinds_once(entries: &[Entry]) -> Result<(), String> {
    let mut seen: BTreeMap<(&str, &str, &str, &str), usize> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        if !e.config.kinds.regional() {
            continue;
        }
        let key = (
            e.account.as_str(),
            e.region.as_str(),
            e.config.prefix_name.as_str(),
            e.config.deployment_id.as_str(),
        );
        if let Some(first) = seen.insert(key, i) {
            return Err(format!(
                "[[vpc]] #{} and #{} ({} {}) both keep prefix lists or WAF IP sets, which belong to the \
                 account and region, not to a VPC; keep them on one entry and set \
                 settings = {{ KINDS = \"security-groups\" }} on the other",
                first + 1,
                i + 1,
                e.account,
                e.region
            ));
        }
    }
    Ok(())
}

/// Keys whose values are secrets: never echoed.
const SECRETS: [&str; 1] = ["external_id"];

/// A TOML error by line and column, without the text of the line (toml quotes it, and it may hold a
/// secret); a message about a secret's line says which key instead of quoting anything.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        let line_text = text.lines().nth(line - 1).unwrap_or_default();
        (line, column, line_text)
    });
    let message = e.message().lines().next().unwrap_or("invalid TOML");
    match at {
        Some((line, column, line_text)) => match SECRETS.iter().find(|k| line_text.contains(*k)) {
            Some(key) => format!(
                "line {line}, column {column}: the value of {key} is not valid TOML (not shown: it is a \
                 secret); see docs/organizations.md for the format"
            ),
            None => format!(
                "line {line}, column {column}: {message}; see docs/organizations.md for the format"
            ),
        },
        None => format!("{message}; see docs/organizations.md for the format"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn parse_ok(text: &str) -> Fleet {
        parse(
            text,
            "fleet.toml",
            &ConfigArgs::default(),
            &Environment::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse_err(text: &str) -> String {
        parse(
            text,
            "fleet.toml",
            &ConfigArgs::default(),
            &Environment::default(),
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn entries_get_their_role_region_vpc_and_overrides() {
        let mut hub = ConfigArgs::default();
        hub.set("PORTS", "80,443").unwrap();
        let fleet = parse(
            r#"
            role_name = "sgsync"
            concurrency = 4
            [[vpc]]
            account = "111111111111"
            region = "eu-west-1"
            vpc_id = "vpc-0123456789abcdef0"
            [[vpc]]
            account = "222222222222"
            region = "cn-north-1"
            settings = { PORTS = "443", KINDS = "prefix-lists" }
            [[vpc]]
            account = "333333333333"
            region = "us-east-1"
            role_arn = "arn:aws:iam::333333333333:role/path/other"
            "#,
            "fleet.toml",
            &hub,
            &Environment::default(),
        )
        .unwrap();
        assert_eq!(fleet.concurrency, 4);
        let [a, b, c] = &fleet.entries[..] else {
            panic!()
        };
        assert_eq!(a.role_arn, "arn:aws:iam::111111111111:role/sgsync");
        assert_eq!(a.config.region, "eu-west-1");
        assert_eq!(a.config.vpc_id.as_deref(), Some("vpc-0123456789abcdef0"));
        assert_eq!(b.role_arn, "arn:aws-cn:iam::222222222222:role/sgsync");
        assert_eq!(b.config.ports.len(), 1);
        assert!(fleet.entries.iter().all(|e| e.refused.is_none()));
        assert_eq!(b.config.kinds, "prefix-lists".parse().unwrap());
        assert_eq!(c.role_arn, "arn:aws:iam::333333333333:role/path/other");
        assert_eq!(c.label().label(), "333333333333 us-east-1 (default VPC)");
    }

    #[test]
    fn every_mistake_names_the_entry_and_what_is_accepted() {
        for (text, needle) in [
            ("", "lists no VPC"),
            ("vpcs = []", "unknown field `vpcs`"),
            (
                "[[vpc]]\naccount = 111111111111\nregion = \"eu-west-1\"",
                "invalid type: integer",
            ),
            (
                "[[vpc]]\naccount = \"11111111111\"\nregion = \"eu-west-1\"",
                "#1 (11111111111 eu-west-1): account must be 12 digits",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west\"",
                "region is not a region name",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nvpc_id = \"vpc-12\"",
                "not a VPC id",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nrole_arn = \"arn:aws:iam::222222222222:role/x\"",
                "in account 222222222222, not in the entry's account",
            ),
            (
                "concurrency = 0\n[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"",
                "expected 1 to 64",
            ),
            (
                "role_name = \"a b\"\n[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"",
                "not an IAM role name",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\n[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"",
                "#2 (111111111111 eu-west-1): listed twice",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nsettings = { PORT = \"80\" }",
                "'PORT' is not a setting",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nsettings = { PORTS = \"eighty\" }",
                "PORTS",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nsettings = { IP_RANGES_URL = \"https://x\" }",
                "shared by the whole fleet",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nsettings = { REGION = \"us-east-1\" }",
                "the entry's own region",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"",
                "no role to assume: set role_name",
            ),
            (
                "external_id = \"\"\n[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"",
                "external_id (0 characters) is not an STS external id",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nsettings = { SERVICE = \"EC2\" }",
                "may not set SERVICE: it is which addresses are allowed",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nsettings = { ALLOW_LARGE_REMOVAL = \"true\" }",
                "may not set ALLOW_LARGE_REMOVAL: it is a guard",
            ),
            (
                "[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nvpc_id = \"vpc-11111111\"\nsettings = { KINDS = \"security-groups,prefix-lists\" }\n\
                 [[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nvpc_id = \"vpc-22222222\"\nsettings = { KINDS = \"prefix-lists\" }",
                "#1 and #2 (111111111111 eu-west-1) both keep prefix lists or WAF IP sets",
            ),
        ] {
            // Every case but the role's own names a role, so that its own mistake is the one found.
            let text = if text.starts_with("[[vpc]]") && !needle.starts_with("no role") {
                format!("role_name = \"sgsync\"\n{text}")
            } else {
                text.to_string()
            };
            let e = parse_err(&text);
            assert!(e.starts_with("fleet file fleet.toml: "), "{e}");
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    /// A writer of the fleet file (an S3 object) may narrow what the hub allows, never widen it: each
    /// widening entry fails alone, naming the setting; the others run.
    #[test]
    fn an_entry_that_widens_ports_families_or_principals_fails_alone() {
        let mut hub = ConfigArgs::default();
        hub.set("PORTS", "80,443").unwrap();
        hub.set("SHARE_WITH", "111122223333").unwrap();
        let entry = |settings: &str| {
            format!(
                "role_name = \"sgsync\"\n[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\n\
                 [[vpc]]\naccount = \"222222222222\"\nregion = \"eu-west-1\"\nsettings = {{ {settings} }}\n"
            )
        };
        for (settings, needle) in [
            (r#"PORTS = "1-65535""#, "may not widen PORTS: 1-65535"),
            (
                r#"PORTS = "443,1-442,444-65535""#,
                "may not widen PORTS: 1-442 allows ports the hub's PORTS (80,443) does not",
            ),
            (r#"IP_VERSIONS = "ipv4,ipv6""#, "may not widen IP_VERSIONS"),
            (
                r#"SHARE_WITH = "111122223333,444455556666""#,
                "may not widen SHARE_WITH: 444455556666 is not among the hub's",
            ),
            (
                r#"ALLOW_EXTERNAL_SHARE = "true""#,
                "may not set ALLOW_EXTERNAL_SHARE",
            ),
        ] {
            let parsed = parse(
                &entry(settings),
                "fleet.toml",
                &hub,
                &Environment::default(),
            );
            match parsed {
                Ok(fleet) => {
                    assert!(fleet.entries[0].refused.is_none(), "{settings}");
                    let why = fleet.entries[1].refused.as_deref().unwrap_or_default();
                    assert!(
                        why.contains("#2 (222222222222 eu-west-1)") && why.contains(needle),
                        "{settings}: {why}"
                    );
                }
                Err(e) => assert!(e.to_string().contains(needle), "{settings}: {e}"),
            }
        }
        // Narrowing, and the same: fine.
        let fleet = parse(
            &entry(r#"PORTS = "443", IP_VERSIONS = "ipv4", SHARE_WITH = "111122223333""#),
            "fleet.toml",
            &hub,
            &Environment::default(),
        )
        .unwrap();
        assert!(fleet.entries.iter().all(|e| e.refused.is_none()));
    }

    #[test]
    fn regional_kinds_may_share_an_account_and_region_across_deployments_or_with_groups_only() {
        let fleet = parse_ok(
            r#"
            role_name = "sgsync"
            [[vpc]]
            account = "111111111111"
            region = "eu-west-1"
            vpc_id = "vpc-11111111"
            settings = { KINDS = "security-groups,prefix-lists" }
            [[vpc]]
            account = "111111111111"
            region = "eu-west-1"
            vpc_id = "vpc-22222222"
            [[vpc]]
            account = "111111111111"
            region = "eu-west-1"
            vpc_id = "vpc-33333333"
            settings = { KINDS = "prefix-lists", PREFIX_NAME = "OTHER", DEPLOYMENT_ID = "other" }
            "#,
        );
        assert_eq!(fleet.entries.len(), 3);
    }

    #[test]
    fn a_vpc_id_of_the_environment_is_refused_beside_a_fleet() {
        let mut args = ConfigArgs::default();
        args.set("VPC_ID", "vpc-11111111").unwrap();
        let e = parse(
            "role_name = \"sgsync\"\n[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"",
            "fleet.toml",
            &args,
            &Environment::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("VPC_ID is set, but a fleet names its VPCs per entry"),
            "{e}"
        );
    }

    /// Trust finding 6 (round 2b): a fleet file's `external_id` was quoted in TOML syntax errors and
    /// echoed (64 characters) in validation errors, reaching CloudWatch, the invocation's error and
    /// the dead-letter queue. Now it is never shown: errors say the key, its length, a line and column.
    #[test]
    fn a_fleet_files_external_id_reached_the_logs() {
        let secret = "Sup3rS3cret-token#value";
        let bad_value = format!(
            "role_name = \"r\"\nexternal_id = \"{secret}\"\n[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\""
        );
        let unterminated = format!("external_id = \"{secret}\n[[vpc]]\naccount = \"111111111111\"");
        for text in [bad_value, unterminated] {
            let e = parse_err(&text);
            assert!(!e.contains(secret) && !e.contains("Sup3r"), "{e}");
            assert!(e.contains("external_id"), "{e}");
        }
        let e = parse_err("[[vpc]]\naccount = 1x\n");
        assert!(e.contains("line 2, column"), "{e}");
    }
}
