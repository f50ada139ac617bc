//! Who owns what: the tags and names by which a deployment recognises its own allow-lists (security
//! groups, prefix lists, WAF IP sets) among everything else in an account, so that two deployments —
//! or a deployment and a person — never change each other's resources.

use serde::Serialize;

/// Which resources a deployment owns, and what it calls new ones.
///
/// A resource is this deployment's when it carries the tag `sgsync:prefix` = `prefix`, its name is
/// exactly `{stem}-{n}` (`n` ≥ 1, no leading zero; prefix lists use the stem `{stem}-ipv4` /
/// `{stem}-ipv6`, WAF IP sets are named `{stem}-ipv4` / `{stem}-ipv6`), and its tag
/// `sgsync:deployment` names this deployment. See [`Ownership::claim`] for every other case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// `PREFIX_NAME`: the value of the ownership tag, and the start of every managed group's name.
    pub prefix: String,
    /// `{PREFIX_NAME}-{service}`: managed groups are `{stem}-{n}`.
    pub stem: String,
    /// `DEPLOYMENT_ID`: the value of the tag `sgsync:deployment` on this deployment's groups.
    pub deployment: String,
}

/// What a group carrying this deployment's `sgsync:prefix` tag is to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Its own group.
    Own,
    /// A group made by an sgsync that did not record deployments: adopted (the run tags it first).
    Legacy,
    /// A group of the same name pattern that another deployment owns: the two would fight over it.
    Conflict {
        /// The other deployment.
        deployment: String,
    },
    /// A group of another service's deployment under the same prefix (`{prefix}-{other}-{n}`): they
    /// coexist, and it is not looked at.
    OtherService,
    /// A tagged group whose name sgsync never gives: reported, never changed.
    Stray,
}

/// A group number as sgsync writes it: digits, no leading zero, not zero.
fn is_index(n: &str) -> bool {
    !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit())
}

/// `{stem}-{n}`: a name this deployment gives with its current settings (a recorded group of
/// another name is of an earlier selection, and is retired).
pub(crate) fn numbered(name: &str, stem: &str) -> bool {
    name.strip_prefix(stem)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(is_index)
}

/// `{prefix}-{service}-{n}`: a name sgsync gives (with some prefix and service). A group's name
/// cannot be changed after its creation, so unlike a tag or a record written without the SCP it is
/// proof that sgsync made it: someone else's group (a team's `app-db`, a VPC's `default`) never
/// passes, whatever its tags or the record say.
/// Whether the value of a target tag (`sgsync:target`) opts in to `prefix`: it names the prefixes it
/// opts in to, separated by spaces (`AUTOUPDATE GITHUB`: CloudFront's deployment and a GitHub one),
/// as the role's IAM condition reads it.
pub fn opts_in(value: &str, prefix: &str) -> bool {
    // Spaces only: the role's StringLike condition matches the prefix between single spaces.
    value.split(' ').any(|p| p == prefix)
}

pub(crate) fn named_by_sgsync(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.rsplit_once('-'))
        .is_some_and(|(service, n)| {
            let service_like =
                |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-".contains(&b);
            !service.is_empty() && service.bytes().all(service_like) && is_index(n)
        })
}

impl Ownership {
    /// What a group named `name`, carrying this deployment's prefix tag and `deployment` (its
    /// `sgsync:deployment` tag, if any), is to this deployment.
    pub fn claim(&self, name: &str, deployment: Option<&str>) -> Claim {
        if numbered(name, &self.stem) {
            return match deployment {
                Some(d) if d == self.deployment => Claim::Own,
                Some(d) => Claim::Conflict {
                    deployment: d.to_string(),
                },
                None => Claim::Legacy,
            };
        }
        // `{prefix}-{service}-{n}` for some other service stem.
        if named_by_sgsync(name, &self.prefix) {
            Claim::OtherService
        } else {
            Claim::Stray
        }
    }

    /// Whether `name` is one this deployment would give a group (`{stem}-{n}`).
    pub fn names(&self, name: &str) -> bool {
        numbered(name, &self.stem)
    }
}

/// A resource (group, prefix list, IP set, share) that carries this deployment's tags and name but is
/// not in its record: someone else made it (tags are anyone's to write), or a run stopped between
/// creating and recording it, or an sgsync that kept no record made it. It is never filled, attached,
/// shared or counted; only reported, unless `--adopt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unrecorded {
    pub id: String,
    pub name: String,
    /// Empty and used nowhere (on no target, referenced by nothing): harmless to delete, so that its
    /// name can be used again (what a run that stopped right after a create leaves).
    pub reclaimable: bool,
}

/// Sort key that orders `AUTOUPDATE-cloudfront-2` before `AUTOUPDATE-cloudfront-10`: the order in
/// which numbered resources fill, and are reported.
pub(crate) fn natural_key(name: &str) -> (&str, u64, &str) {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let number = name[stem.len()..].parse().unwrap_or(0);
    (stem, number, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_tag_opts_in_to_each_prefix_it_names() {
        assert!(opts_in("AUTOUPDATE", "AUTOUPDATE"));
        assert!(opts_in("AUTOUPDATE GITHUB", "GITHUB"));
        assert!(opts_in(" GITHUB  AUTOUPDATE ", "AUTOUPDATE"));
        assert!(
            !opts_in("GITHUB\tAUTOUPDATE", "AUTOUPDATE"),
            "IAM would refuse the write"
        );
        assert!(!opts_in("AUTOUPDATE GITHUB", "GOOGLE"));
        assert!(!opts_in("AUTOUPDATE-X", "AUTOUPDATE"));
        assert!(
            !opts_in("AUTOUPDATE,GITHUB", "GITHUB"),
            "the role's condition reads spaces only"
        );
    }

    #[test]
    fn only_names_sgsync_gives_pass() {
        for ours in [
            "AUTOUPDATE-cloudfront-1",
            "AUTOUPDATE-cloudfront_origin_facing-12",
        ] {
            assert!(named_by_sgsync(ours, "AUTOUPDATE"), "{ours}");
        }
        for theirs in [
            "app-db",
            "default",
            "AUTOUPDATE",
            "AUTOUPDATE-cloudfront",
            "AUTOUPDATE-cloudfront-0",
            "AUTOUPDATE-Cloudfront-1",
            "AUTOUPDATE--1",
            "OTHER-cloudfront-1",
            "AUTOUPDATE_a1b2c3",
        ] {
            assert!(!named_by_sgsync(theirs, "AUTOUPDATE"), "{theirs}");
        }
    }
}
