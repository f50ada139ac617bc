//! Other accounts and regions of one moto: what a fleet's entries see.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter;

use super::aws::{Aws, rule_strings};

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
