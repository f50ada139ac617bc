//! The real history against EC2 (moto): all 170 published versions in order, applied by the binary to
//! an interface (with a foreign group) and a load balancer that opted in by tag. After every version the
//! groups hold exactly the published rules, no group exceeds 60 rules, every group is on every target,
//! and the run's calls keep make-before-break; writes stay within the derived minimum.

use std::collections::BTreeSet;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn all_170_real_versions_converge_exactly_with_minimal_writes() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync();
    let foreign = aws.create_foreign_group("origin-admin").await;
    let eni = aws.create_interface(std::slice::from_ref(&foreign)).await;
    let alb = aws
        .create_alb("replay", std::slice::from_ref(&foreign))
        .await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    aws.tag_target(&alb, "AUTOUPDATE").await;
    let files = replay_files();
    assert_eq!(files.len(), 170);

    let mut previous: Option<BTreeSet<String>> = None;
    for (i, file) in files.iter().enumerate() {
        let doc = std::fs::read(file).unwrap();
        let expected = expected_rules(&doc, "80", false);
        aws.proxy.clear();
        let out = sgsync.run(&[
            "apply",
            "--ip-ranges",
            file.to_str().unwrap(),
            "--output",
            "json",
        ]);
        assert_eq!(out.code, 0, "version {i} ({}): {out:?}", file.display());
        let calls = aws.proxy.calls();
        assert_make_before_break(&calls, &expected);

        let groups = aws.managed_groups("AUTOUPDATE").await;
        let (all, count) = union(&groups);
        assert_eq!(
            all, expected,
            "version {i}: groups do not hold exactly the published rules"
        );
        assert_eq!(count, expected.len(), "version {i}: a rule is held twice");
        assert!(
            groups
                .iter()
                .all(|g| !g.rules.is_empty() && g.rules.len() <= 60),
            "version {i}"
        );

        // Writes: one call per touched group and direction, one per target update, the tag.
        let w = writes(&calls);
        let touched = calls
            .iter()
            .filter(|c| c.action.ends_with("SecurityGroupIngress"))
            .map(|c| c.params.get("GroupId").cloned().unwrap_or_default())
            .collect::<BTreeSet<_>>()
            .len();
        let per_group_calls = w
            .iter()
            .filter(|a| a.ends_with("SecurityGroupIngress"))
            .count();
        assert!(per_group_calls <= 2 * touched, "version {i}: {w:?}");
        if previous.as_ref() == Some(&expected) {
            assert!(
                w.len() <= 1 && w.iter().all(|a| a == "CreateTags"),
                "version {i}: unchanged ranges but {w:?}"
            );
        }
        previous = Some(expected);

        // The tagged targets get every managed group from the first run on.
        let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        let want: BTreeSet<String> = std::iter::once(foreign.clone()).chain(ids).collect();
        let on_eni = aws.interface_groups(&eni).await;
        assert_eq!(on_eni[0], foreign, "version {i}");
        assert_eq!(aws.groups_on(&eni).await, want, "version {i}: interface");
        assert_eq!(
            aws.groups_on(&alb).await,
            want,
            "version {i}: load balancer"
        );
    }
}
