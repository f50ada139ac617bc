//! The value types of the settings. Each parses from the text of its variable (`FromStr`), and its
//! error says what is wrong and what is accepted, so [`super::Config::from_args`] only has to say
//! which variable the text came from.

use std::str::FromStr;
use std::time::Duration;

use crate::rule::{PortRange, parse_port_list};

/// `PORTS`: ports and port ranges, one rule each per CIDR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Ports(pub(super) Vec<PortRange>);

impl FromStr for Ports {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_port_list(s).map(Ports).map_err(|reason| {
            format!(
                "{reason}; expected a comma list of ports (1-65535) or ranges, e.g. 80,443 or 8000-8080"
            )
        })
    }
}

/// `PREFIX_NAME`: the managed groups' name prefix and ownership tag value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PrefixName(pub(super) String);

impl FromStr for PrefixName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // EC2's group-name alphabet; `sg-` is reserved for ids.
        let ok = s.len() <= 200
            && !s.to_ascii_lowercase().starts_with("sg-")
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:/()#,@[]+=&;{}!$*".contains(c));
        if ok {
            Ok(PrefixName(s.to_string()))
        } else {
            Err("group names allow letters, digits and ._-:/()#,@[]+=&;{}!$*, at most 200 characters here, and may not start with sg-".into())
        }
    }
}

/// `DEBUG`, `ALLOW_LARGE_REMOVAL`: the spellings people put in environment variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Flag(pub(super) bool);

impl FromStr for Flag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "false" | "0" | "no" | "off" => Ok(Flag(false)),
            "true" | "1" | "yes" | "on" => Ok(Flag(true)),
            _ => Err("expected true or false".into()),
        }
    }
}

/// A comma list of names as the document spells them (letters, digits, `_`, `-`).
fn names(s: &str, what: &str, example: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = s.split(',').map(|i| i.trim().to_string()).collect();
    for item in &items {
        let ok = !item.is_empty()
            && item
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(format!(
                "'{item}' is not {what}; expected a comma list such as {example}"
            ));
        }
    }
    Ok(items)
}

/// `SERVICE`: service names, upper-cased (the document writes `CLOUDFRONT`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Services(pub(super) Vec<String>);

impl FromStr for Services {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let list = names(
            s,
            "a service name",
            "CLOUDFRONT or CLOUDFRONT_ORIGIN_FACING",
        )?;
        Ok(Services(
            list.into_iter().map(|n| n.to_ascii_uppercase()).collect(),
        ))
    }
}

/// `SERVICE_REGIONS`: document regions, as written (`GLOBAL`, `us-east-1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Regions(pub(super) Vec<String>);

impl FromStr for Regions {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        names(s, "a region name", "GLOBAL,us-east-1").map(Regions)
    }
}

/// `REGION`: an AWS region code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Region(pub(super) String);

impl FromStr for Region {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = s.len() <= 32
            && s.split('-').count() >= 3
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Region(s.to_string()))
        } else {
            Err("expected an AWS region code such as us-east-1".into())
        }
    }
}

/// `IP_RANGES_URL`: where the document is downloaded from. HTTPS, so that what is downloaded is
/// what the server sent; plain HTTP only from this machine (tests, the demo). Parsed as the download
/// client parses it (`reqwest::Url`), so the host checked is the host connected to: a user-info part
/// (`http://localhost:80@any.host/`) would make a naive reader see another host, and is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Url(pub(super) String);

impl FromStr for Url {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let refuse = |why: &str| {
            format!(
                "{why}; expected an https URL (plain http only on 127.0.0.1, localhost or [::1], for tests), \
                 normally {}",
                crate::source::DEFAULT_URL
            )
        };
        let url = reqwest::Url::parse(s).map_err(|e| refuse(&format!("not a URL ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("a user name or password in the URL is not accepted"));
        }
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback());
        match url.scheme() {
            "https" if !host.is_empty() => Ok(Url(s.to_string())),
            "http" if loopback => Ok(Url(s.to_string())),
            "http" => Err(refuse("plain http only on 127.0.0.1, localhost or [::1]")),
            other => Err(refuse(&format!("the scheme is {other}"))),
        }
    }
}

/// `DEPLOYMENT_ID`: which deployment this is (the deploy template passes its stack name). It is
/// recorded on every group the deployment creates, so two deployments never take each other's groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DeploymentId(pub(super) String);

impl FromStr for DeploymentId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // What a tag value and an IAM condition take without escaping.
        let ok = s.len() <= 128
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:/+=@".contains(c));
        if ok {
            Ok(DeploymentId(s.to_string()))
        } else {
            Err("expected at most 128 letters, digits or ._-:/+=@ (the deploy template uses its stack name)".into())
        }
    }
}

/// `VPC_ID`: a VPC id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct VpcId(pub(super) String);

impl FromStr for VpcId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = s
            .strip_prefix("vpc-")
            .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()));
        if ok {
            Ok(VpcId(s.to_string()))
        } else {
            Err("expected a VPC id such as vpc-0123456789abcdef0, or leave it unset for the default VPC".into())
        }
    }
}

/// `RULES_PER_GROUP`, `GROUPS_PER_TARGET`: a count from 1 to `MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Count<const MAX: usize>(pub(super) usize);

impl<const MAX: usize> FromStr for Count<MAX> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.parse::<usize>() {
            Ok(n) if (1..=MAX).contains(&n) => Ok(Count(n)),
            _ => Err(format!("expected a whole number from 1 to {MAX}")),
        }
    }
}

/// `MAX_REMOVE_FRACTION`: a fraction from 0 to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Fraction(pub(super) f64);

impl FromStr for Fraction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.parse::<f64>() {
            Ok(f) if (0.0..=1.0).contains(&f) => Ok(Fraction(f)),
            _ => Err("expected a fraction from 0 to 1, e.g. 0.5".into()),
        }
    }
}

/// `WIDEST_IPV4_PREFIX`, `WIDEST_IPV6_PREFIX`: a prefix length from 1 to `MAX` (`/8` is accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PrefixLen<const MAX: u8>(pub(super) u8);

impl<const MAX: u8> FromStr for PrefixLen<MAX> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim_start_matches('/').parse::<u8>() {
            Ok(n) if (1..=MAX).contains(&n) => Ok(PrefixLen(n)),
            _ => Err(format!(
                "expected a prefix length from 1 to {MAX} (0 would accept the whole internet)"
            )),
        }
    }
}

/// `DOWNLOAD_RETRY_MS`: a delay in milliseconds, from 1 ms to a minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Millis(pub(super) Duration);

impl FromStr for Millis {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.parse::<u64>() {
            Ok(n) if (1..=60_000).contains(&n) => Ok(Millis(Duration::from_millis(n))),
            _ => Err("expected milliseconds from 1 to 60000".into()),
        }
    }
}

/// `DOWNLOAD_CACHE`: an absolute directory, or `off`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum CacheDir {
    Off,
    At(std::path::PathBuf),
}

impl FromStr for CacheDir {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(CacheDir::Off);
        }
        let path = std::path::Path::new(s);
        if !path.is_absolute() || s.contains("://") {
            return Err(
                "expected an absolute directory (a relative one would depend on where sgsync is started; in \
                 Lambda only /tmp is writable), or off"
                    .into(),
            );
        }
        Ok(CacheDir::At(path.to_path_buf()))
    }
}

/// `SHARE_WITH`: RAM principals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Principals(pub(super) Vec<String>);

impl FromStr for Principals {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim) {
            let account = item.len() == 12 && item.bytes().all(|b| b.is_ascii_digit());
            let org = item.starts_with("arn:aws:organizations::")
                && (item.contains(":organization/o-") || item.contains(":ou/o-"));
            if !(account || org) {
                return Err(format!(
                    "'{}' is not an account id (12 digits), an OU ARN or the organization ARN (arn:aws:organizations::…)",
                    crate::error::echo(item)
                ));
            }
            out.push(item.to_string());
        }
        Ok(Principals(out))
    }
}

/// `WAF_SCOPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WafScope(pub(super) crate::ip_sets::Scope);

impl FromStr for WafScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "REGIONAL" => Ok(WafScope(crate::ip_sets::Scope::Regional)),
            "CLOUDFRONT" => Ok(WafScope(crate::ip_sets::Scope::Cloudfront)),
            _ => Err("expected REGIONAL or CLOUDFRONT".into()),
        }
    }
}

/// `ATTACH`: `tagged` or `carriers`; true for carriers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Attach(pub(super) bool);

impl FromStr for Attach {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "tagged" => Ok(Attach(false)),
            "carriers" => Ok(Attach(true)),
            _ => Err("expected tagged or carriers".into()),
        }
    }
}

/// `CHANGE_TOPIC_ARN`: an SNS topic's ARN (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TopicArn(pub(super) String);

impl FromStr for TopicArn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 256
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        };
        // A Region as AWS names them: `us-east-1`, `us-gov-west-1`, `ap-southeast-4`.
        let region_ok = |r: &str| {
            let parts: Vec<&str> = r.split('-').collect();
            parts.len() >= 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
                && parts[..parts.len() - 1]
                    .iter()
                    .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
                && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        };
        match parts.as_slice() {
            [_, _, _, _, _, name] if name.ends_with(".fifo") => Err(
                "a FIFO topic needs a message group for every message; use a standard topic".into(),
            ),
            [
                "arn",
                "aws" | "aws-cn" | "aws-us-gov",
                "sns",
                region,
                account,
                name,
            ] if region_ok(region)
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && name_ok(name) =>
            {
                Ok(TopicArn(s.to_string()))
            }
            _ => Err("expected an SNS topic ARN, arn:aws:sns:REGION:ACCOUNT:NAME".into()),
        }
    }
}

/// `FLEET`: a fleet file's path, or the S3 object it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleetLocation {
    /// A local file (the CLI; a file bundled with the function).
    Path(std::path::PathBuf),
    /// `s3://BUCKET/KEY` (the hub function: change the fleet without a deployment).
    S3 { bucket: String, key: String },
}

impl FromStr for FleetLocation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let Some(rest) = s.strip_prefix("s3://") else {
            return Ok(FleetLocation::Path(s.into()));
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        // S3's bucket naming rules: 3 to 63 lower-case letters, digits, dots and hyphens.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok || key.is_empty() {
            return Err(format!(
                "'{}' is not s3://BUCKET/KEY (a bucket of 3 to 63 lower-case letters, digits, dots and hyphens, and a key)",
                crate::error::echo(s)
            ));
        }
        Ok(FleetLocation::S3 {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}
