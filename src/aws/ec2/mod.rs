//! EC2: reads of the VPC, its groups and interfaces ([`read`]), the writes a plan asks for ([`write`]),
//! and the conversion between rules and `IpPermission`s both need (`permissions`).

mod permissions;
pub(super) mod read;
pub(super) mod write;

use aws_sdk_ec2::types::Filter;

use super::{TAG_DEPLOYMENT, TAG_PREFIX, TAG_SYNCTOKEN, TAG_TARGET};

/// One Describe filter. A name repeated in one call is a trap (moto keeps only the last), so each
/// call uses distinct names.
fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}
