//! Other providers' ranges (`SOURCE`) through the same guarded sync, against moto: GitHub's webhook
//! ranges downloaded over HTTP into security groups and a WAF IP set beside a CloudFront deployment
//! of the same VPC; an unchanged document writes nothing although it has no version of its own; a
//! changed one is applied make-before-break; settings a source cannot take are refused before
//! anything is read.

use std::collections::BTreeSet;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn github_hooks_beside_cloudfront_in_one_vpc_and_an_unchanged_document_writes_nothing() {
    let aws = Aws::start().await;
    let files = FileServer::start();
    files.put("/meta", github_meta());
    // The origin opts in to both: CloudFront's deployment (AUTOUPDATE) and GitHub's (GITHUB).
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE GITHUB").await;

    // CloudFront first, as most VPCs have it.
    aws.apply_doc(&aws.sgsync(), &latest()).0.ok();
    let cloudfront: BTreeSet<String> = aws.interface_groups(&eni).await.into_iter().collect();

    let github = aws
        .sgsync()
        .env("SOURCE", "github")
        .env("SERVICE", "hooks")
        .env("PORTS", "443")
        .env("DEPLOYMENT_ID", "github-hooks")
        .env("KINDS", "security-groups,waf-ip-sets")
        .env("IP_RANGES_URL", &files.url("/meta"));
    let out = github.run(&["apply", "--output", "json"]).ok();
    let summary = out.json();
    assert_eq!(summary["status"], "applied", "{out:?}");
    assert_eq!(summary["service"], "github hooks");
    assert_eq!(files.hits("/meta"), 1);
    let groups = aws.managed_groups("GITHUB").await;
    let mine: Vec<_> = (groups.iter())
        .filter(|g| g.name.starts_with("GITHUB-github-hooks-"))
        .collect();
    assert_eq!(mine.len(), 1, "{groups:#?}");
    let want: BTreeSet<String> = HOOKS_V4.iter().map(|c| format!("{c} tcp/443")).collect();
    assert_eq!(mine[0].rules, want);
    let sets = aws.ip_sets().await;
    assert_eq!(sets.len(), 1, "{sets:#?}");
    assert_eq!(sets[0].name, "GITHUB-github-hooks-ipv4");
    let hooks: BTreeSet<String> = HOOKS_V4.iter().map(|c| c.to_string()).collect();
    assert_eq!(sets[0].addresses, hooks);
    // The target keeps CloudFront's groups and gains GitHub's.
    let now: BTreeSet<String> = aws.interface_groups(&eni).await.into_iter().collect();
    assert!(now.is_superset(&cloudfront), "{now:?}");
    assert!(now.contains(&mine[0].id));

    // A second later the same document, downloaded again: nothing to write, not even a tag.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    aws.proxy.clear();
    let out = github.run(&["apply", "--output", "json"]).ok();
    assert_eq!(out.json()["status"], "unchanged", "{out:?}");
    assert_eq!(writes(&aws.proxy.calls()), Vec::<String>::new());

    // One range withdrawn: applied, late, and the version moves on.
    let mut meta: serde_json::Value = serde_json::from_slice(&github_meta()).unwrap();
    let hooks_list = meta["hooks"].as_array_mut().unwrap();
    hooks_list.retain(|c| c != "143.55.64.0/20");
    files.put("/meta", serde_json::to_vec(&meta).unwrap());
    aws.proxy.clear();
    let out = github.run(&["apply", "--output", "json"]).ok();
    assert_eq!(out.json()["status"], "applied", "{out:?}");
    let want: BTreeSet<String> = want
        .into_iter()
        .filter(|r| !r.starts_with("143.55.64.0/20"))
        .collect();
    assert_make_before_break(&aws.proxy.calls(), &want);
    let groups = aws.managed_groups("GITHUB").await;
    let mine = groups
        .iter()
        .find(|g| g.name.starts_with("GITHUB-github-hooks-"))
        .unwrap();
    assert_eq!(mine.rules, want);
    // An approved plan of a source without versions: the apply downloads again a second later, and
    // applies exactly the plan (the document is pinned by its MD5, not by the time of a download).
    files.put("/meta", github_meta());
    let dir = tempfile::tempdir().unwrap();
    let approved = dir.path().join("plan.json");
    let approved = approved.to_str().unwrap();
    github.run(&["plan", "--out", approved]).ok();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = github
        .run(&["apply", "--plan", approved, "--output", "json"])
        .ok();
    assert_eq!(out.json()["status"], "applied", "{out:?}");
    // CloudFront's deployment never noticed: its next run writes nothing.
    aws.proxy.clear();
    let (out, calls) = aws.apply_doc(&aws.sgsync(), &latest());
    out.ok();
    assert_eq!(writes(&calls), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_a_source_cannot_take_are_refused_before_anything_is_read() {
    let aws = Aws::start().await;
    for (env, says) in [
        (
            vec![("SOURCE", "cloudflare"), ("SERVICE", "CLOUDFRONT")],
            "publishes one list",
        ),
        (vec![("SOURCE", "github")], "needs SERVICE"),
        (
            vec![("SOURCE", "azure"), ("SERVICE", "AzureFrontDoor.Backend")],
            "set IP_RANGES_URL",
        ),
        (
            vec![("SOURCE", "fastly"), ("SERVICE_REGIONS", "GLOBAL")],
            "has no regions",
        ),
        (vec![("SOURCE", "gcp")], "expected aws, google, github"),
    ] {
        let mut sgsync = aws.sgsync();
        for (k, v) in &env {
            sgsync = sgsync.env(k, v);
        }
        aws.proxy.clear();
        let out = sgsync.run(&["plan"]);
        assert_eq!(out.code, 1, "{env:?}: {out:?}");
        assert!(out.stderr.contains(says), "{env:?}: {out:?}");
        assert!(aws.proxy.calls().is_empty(), "{env:?} reached AWS");
    }
    // A document of another shape than SOURCE says is refused, naming what was expected.
    let dir = tempfile::tempdir().unwrap();
    let file = doc_file(&dir, "ip-ranges.json", latest());
    let out = aws
        .sgsync()
        .env("SOURCE", "google")
        .run(&["plan", "--ip-ranges", &file]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("google"), "{out:?}");
}
