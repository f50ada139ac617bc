//! Moving an origin from the 2021 blog function's groups (`PREFIX_NAME_<random>`, CloudFront's
//! ranges on `PORTS`, AWS's default outbound entry) to sgsync's at the default quotas, in one `apply`
//! with `REPLACES` (docs/migrating-from-the-blog.md): the blog's groups leave in the write that
//! attaches sgsync's, and only when nothing still published, nor any outbound access, goes with them.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{IpPermission, IpRange};

use crate::support::proxy::ProxyCall;
use crate::support::*;

/// The blog function's layout: its groups (named `AUTOUPDATE_<random>`, holding the published ranges
/// on port 80 between them, plus one range no longer published) on an origin that also carries
/// the team's own group. Returns the origin's interface, the team's group and the blog's groups.
async fn blog_layout(aws: &Aws) -> (String, String, Vec<String>) {
    let cidrs: Vec<String> = expected_cidrs(&latest(), false).into_iter().collect();
    let mut blog = Vec::new();
    // Four groups (180 CIDRs) with room to spare in each, as the blog function left them.
    for (i, chunk) in cidrs.chunks(cidrs.len().div_ceil(4)).enumerate() {
        let id = aws
            .create_group(
                &format!("AUTOUPDATE_{i}f3a9c"),
                "CloudFront (blog function)",
            )
            .await;
        let mut ranges: Vec<IpRange> = (chunk.iter())
            .map(|c| IpRange::builder().cidr_ip(c).build())
            .collect();
        if i == 0 {
            // Withdrawn by Amazon since the blog function last ran.
            ranges.push(IpRange::builder().cidr_ip("52.0.0.0/24").build());
        }
        aws.authorize_raw(
            &id,
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(80)
                .to_port(80)
                .set_ip_ranges(Some(ranges))
                .build(),
        )
        .await;
        blog.push(id);
    }
    let web = aws.create_foreign_group("web").await;
    let mut groups = vec![web.clone()];
    groups.extend(blog.iter().cloned());
    let eni = aws.create_interface(&groups).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    (eni, web, blog)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_apply_moves_an_origin_from_the_blogs_groups_to_sgsyncs() {
    let aws = Aws::start().await;
    let (eni, web, blog) = blog_layout(&aws).await;
    assert_eq!(blog.len(), 4, "the fixture needs four of the blog's groups");
    let before = aws.interface_groups(&eni).await;
    let blog_rules: Vec<BTreeSet<String>> = {
        let mut v = Vec::new();
        for g in &blog {
            v.push(aws.inbound_entries(g).await);
        }
        v
    };
    let expected = expected_rules(&latest(), "80", false);

    // Without REPLACES the origin has no room: 5 groups of its own, 3 needed, 5 allowed.
    let (out, _) = aws.apply_doc(&aws.sgsync(), &latest());
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("does not fit"), "{out:?}");
    assert_eq!(aws.interface_groups(&eni).await, before);

    let sgsync = aws.sgsync().env("REPLACES", "name:AUTOUPDATE_*");
    let dir = tempfile::tempdir().unwrap();
    let file = doc_file(&dir, "ip-ranges.json", latest());
    let plan = sgsync.run(&["plan", "--ip-ranges", &file]).ok();
    for id in &blog {
        assert!(
            plan.stdout.contains(&format!("({id}, REPLACES)")),
            "{plan:?}"
        );
    }
    assert!(
        plan.stdout.contains("the swap drops 52.0.0.0/24 tcp/80"),
        "{plan:?}"
    );

    let (out, calls) = aws.apply_doc(&sgsync, &latest());
    let out = out.ok();
    assert!(
        out.stdout.contains(
            "named by REPLACES, leaves every target it is on and is attached to no other"
        ),
        "{out:?}"
    );
    let groups = aws.assert_holds_exactly(&expected, "after the move").await;
    let managed: BTreeSet<String> = groups.iter().map(|g| g.id.clone()).collect();
    let now = aws.interface_groups(&eni).await;
    assert_eq!(now[0], web, "the team's group keeps its place");
    assert_eq!(
        now[1..].iter().cloned().collect::<BTreeSet<_>>(),
        managed,
        "the origin carries exactly its own group and sgsync's"
    );
    // No moment without access: the blog's groups left in one write, after sgsync's groups held
    // every published rule, and that write attached them.
    let modifies: Vec<&ProxyCall> = (calls.iter())
        .filter(|c| c.action == "ModifyNetworkInterfaceAttribute" && c.succeeded())
        .collect();
    assert_eq!(modifies.len(), 1, "{modifies:#?}");
    let set: BTreeSet<String> = (modifies[0].params.iter())
        .filter(|(k, _)| k.starts_with("SecurityGroupId."))
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(
        set,
        now.iter().cloned().collect(),
        "one write, the whole swap"
    );
    assert_make_before_break(&calls, &expected);
    // sgsync never modifies or deletes a group it replaced.
    for (g, rules) in blog.iter().zip(&blog_rules) {
        assert_eq!(&aws.inbound_entries(g).await, rules, "{g} was modified");
    }

    // Done: the next run writes nothing.
    let (out, calls) = aws.apply_doc(&sgsync, &latest());
    out.ok();
    assert_eq!(writes(&calls), Vec::<String>::new());
}

/// The swap would take away outbound access only the blog's groups gave (the team's group allows
/// none, EC2's default entry lives on in the blog's): refused, the missing entry named, the origin
/// untouched.
#[tokio::test(flavor = "multi_thread")]
async fn a_swap_that_would_take_outbound_access_is_refused_and_changes_nothing_on_the_origin() {
    let aws = Aws::start().await;
    let (eni, web, _) = blog_layout(&aws).await;
    aws.revoke_all_outbound(&web).await;
    let before = aws.interface_groups(&eni).await;
    let sgsync = aws.sgsync().env("REPLACES", "name:AUTOUPDATE_*");
    let (out, _) = aws.apply_doc(&sgsync, &latest());
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("outbound all traffic to 0.0.0.0/0 (of AUTOUPDATE_0f3a9c"),
        "{out:?}"
    );
    assert_eq!(aws.interface_groups(&eni).await, before);
}

/// Red team round 5 (the principal and the tired operator against REPLACES), each refused with what
/// would be lost named, the origin untouched: F1, CloudFront's IPv6 ranges in a blog group while
/// `IP_VERSIONS=ipv4` (still published: not the swap's to drop); F4, a database group that allows
/// the blog group's members; F2, a too-wide pattern that also matches another deployment's group
/// (never swapped out, whatever REPLACES says).
#[tokio::test(flavor = "multi_thread")]
async fn red_team_round_5_a_swap_never_takes_what_is_still_published_or_reached_through_membership()
{
    let aws = Aws::start().await;
    let (eni, web, blog) = blog_layout(&aws).await;
    let before = aws.interface_groups(&eni).await;
    let v6 = expected_cidrs(&latest(), true)
        .into_iter()
        .find(|c| c.contains(':'))
        .unwrap();
    aws.authorize_raw(
        &blog[0],
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ipv6_ranges(
                aws_sdk_ec2::types::Ipv6Range::builder()
                    .cidr_ipv6(&v6)
                    .build(),
            )
            .build(),
    )
    .await;
    let db = aws.create_group("db", "the team's database").await;
    aws.authorize_raw(
        &db,
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(5432)
            .to_port(5432)
            .user_id_group_pairs(
                aws_sdk_ec2::types::UserIdGroupPair::builder()
                    .group_id(&blog[1])
                    .build(),
            )
            .build(),
    )
    .await;
    let sgsync = aws.sgsync().env("REPLACES", "name:AUTOUPDATE_*");
    let (out, _) = aws.apply_doc(&sgsync, &latest());
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!("inbound {v6} tcp/80"))
            && out.stdout.contains("still publishes"),
        "{out:?}"
    );
    assert_eq!(aws.interface_groups(&eni).await, before);

    // The IPv6 rule gone, only the membership is left to refuse.
    let sgsync = sgsync.env("IP_VERSIONS", "ipv4,ipv6");
    let (out, _) = aws.apply_doc(&sgsync, &latest());
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!("rules of db ({db})")),
        "{out:?}"
    );
    assert_eq!(aws.interface_groups(&eni).await, before);

    // F2: the blog's second group replaced by one with sgsync's name and another deployment's tags;
    // the pattern a tired operator typed matches it too.
    let other = aws
        .create_tagged_group(
            "AUTOUPDATE-cloudfront-9",
            &[
                ("sgsync:prefix", "AUTOUPDATE"),
                ("sgsync:deployment", "other"),
            ],
        )
        .await;
    let groups = vec![
        web.clone(),
        blog[0].clone(),
        other.clone(),
        blog[2].clone(),
        blog[3].clone(),
    ];
    aws.set_groups(&eni, &groups).await;
    let sgsync = aws
        .sgsync()
        .env("REPLACES", "name:AUTOUPDATE*")
        .env("IP_VERSIONS", "ipv4,ipv6");
    let (out, _) = aws.apply_doc(&sgsync, &latest());
    assert!(out.stdout.contains("is never swapped out"), "{out:?}");
    assert!(aws.interface_groups(&eni).await.contains(&other), "{out:?}");
}
