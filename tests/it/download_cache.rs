//! Conditional GETs (`DOWNLOAD_CACHE`), as an operator meets them: `apply` and `ranges` against a
//! server that gives `ETag`s, moto behind. An unchanged document is answered 304 and costs no
//! download, yet the run still repairs drift from the copy; a changed document is applied; an altered
//! copy is never trusted; `off` asks nothing.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{IpPermission, IpRange};

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_304_costs_no_download_and_the_run_still_repairs_drift_from_the_copy() {
    let aws = Aws::start().await;
    let files = FileServer::with_etags();
    let meta = github_meta();
    files.put("/meta", meta.clone());
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "GITHUB").await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let github = aws
        .sgsync()
        .env("SOURCE", "github")
        .env("SERVICE", "hooks")
        .env("PORTS", "443")
        .env("IP_RANGES_URL", &files.url("/meta"))
        .env("DOWNLOAD_CACHE", cache.to_str().unwrap());
    let asked = || {
        (files.answers().iter())
            .map(|a| (a.status, a.if_none_match.is_some()))
            .collect::<Vec<_>>()
    };
    let group_rules = || async {
        let groups = aws.managed_groups("GITHUB").await;
        assert_eq!(groups.len(), 1, "{groups:#?}");
        (groups[0].id.clone(), groups[0].rules.clone())
    };
    let want: BTreeSet<String> = HOOKS_V4.iter().map(|c| format!("{c} tcp/443")).collect();

    let out = github.run(&["apply", "--output", "json"]).ok();
    assert_eq!(out.json()["status"], "applied", "{out:?}");
    assert_eq!(out.json()["download"], "full", "{out:?}");
    assert_eq!(asked(), [(200, false)]);
    let (group, rules) = group_rules().await;
    assert_eq!(rules, want);

    // Someone revokes a rule by hand. The document has not changed: the server answers 304, and the
    // run puts the rule back from the copy.
    aws.ec2
        .revoke_security_group_ingress()
        .group_id(&group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(IpRange::builder().cidr_ip(HOOKS_V4[0]).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = github.run(&["apply", "--output", "json"]).ok();
    assert_eq!(out.json()["status"], "applied", "{out:?}");
    assert_eq!(out.json()["download"], "not_modified", "{out:?}");
    assert_eq!(asked(), [(200, false), (304, true)]);
    assert_eq!(group_rules().await.1, want);
    // `ranges` asks too, and shows the copy's ranges.
    let out = github.run(&["ranges", "--output", "json"]).ok();
    assert_eq!(asked()[2], (304, true), "{out:?}");
    assert_eq!(out.json()["download"], "not_modified", "{out:?}");
    assert!(out.stdout.contains(HOOKS_V4[0]), "{out:?}");

    // A range withdrawn: the server sends the new document, which is applied.
    let mut changed: serde_json::Value = serde_json::from_slice(&meta).unwrap();
    changed["hooks"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c != HOOKS_V4[1]);
    files.put("/meta", serde_json::to_vec(&changed).unwrap());
    let out = github.run(&["apply", "--output", "json"]).ok();
    assert_eq!(out.json()["status"], "applied", "{out:?}");
    assert_eq!(out.json()["download"], "full", "{out:?}");
    assert_eq!(asked()[3], (200, true));
    let without: BTreeSet<String> = (want.iter())
        .filter(|r| !r.starts_with(HOOKS_V4[1]))
        .cloned()
        .collect();
    assert_eq!(group_rules().await.1, without);

    // The copy altered on disk (a range added to its body): not trusted, nothing asked, the
    // server's document applied as it is.
    let copy = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = String::from_utf8(std::fs::read(&copy).unwrap()).unwrap();
    assert!(text.contains("192.30.252.0/22"), "{text}");
    std::fs::write(&copy, text.replace("192.30.252.0/22", "0.0.0.0/0")).unwrap();
    let out = github.run(&["apply", "--output", "json"]).ok();
    assert_eq!(out.json()["status"], "unchanged", "{out:?}");
    assert!(
        out.stderr.contains("the cached copy is not used"),
        "{out:?}"
    );
    assert_eq!(asked()[4], (200, false));
    assert_eq!(group_rules().await.1, without);

    // A copy another user could have written is not trusted either.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = github.run(&["apply", "--output", "json"]).ok();
    assert!(
        out.stderr.contains("may be written by other users"),
        "{out:?}"
    );
    assert_eq!(asked()[5], (200, false));
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();

    // off: nothing is asked, nothing kept.
    let out = github
        .clone()
        .env("DOWNLOAD_CACHE", "off")
        .run(&["apply", "--output", "json"])
        .ok();
    assert_eq!(out.json()["status"], "unchanged", "{out:?}");
    assert_eq!(asked()[6], (200, false));
    assert_eq!(out.json()["download"], "full", "{out:?}");
    // A typo is refused before anything is read.
    let before = files.answers().len();
    let out = github
        .env("DOWNLOAD_CACHE", "cache")
        .run(&["apply", "--output", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("DOWNLOAD_CACHE"), "{out:?}");
    assert_eq!(files.answers().len(), before);
}
