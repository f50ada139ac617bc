//! API economy against moto: read and write calls per run (recorded by the test proxy) and wall time,
//! next to the minimum a run can make for the change it applies. Prints one JSON object;
//! `make bench` turns it into a table in BENCHMARKS.md.
//!
//! The derived minimum of a run, from the groups before and after it: per group, one authorize if it
//! gained rules and one revoke if it lost any (a deleted group's rules are revoked too, so that every
//! removed rule is named in a request: invariant 7 of docs/design.md); one create per new group, one
//! revoke of the outbound rule EC2 gives it (a managed group allows no outbound traffic) and one write
//! of the deployment's record (what it made: ownership), one delete and one record write per
//! deleted group, one call per target whose groups changed, one tag write when the recorded
//! synctoken of a surviving group changes, and one write of what the groups hold (for the event path)
//! when any group's rules changed. A no-op run's minimum is 0 writes. The deployment's lease, which a
//! changing run takes and gives back (docs/design.md §8: a put and a delete in Parameter Store, and
//! the reads of a second plan under it), is bookkeeping beside the writes that change access: its
//! writes are not counted, its reads are.

// The integration tests' support (moto, the recording proxy, the binary); the benchmark uses a part of it.
#[allow(dead_code, unused_imports)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::json;
use support::*;

type Snapshot = BTreeMap<String, (BTreeSet<String>, Option<String>)>;

async fn snapshot(aws: &Aws) -> Snapshot {
    aws.managed_groups("AUTOUPDATE")
        .await
        .into_iter()
        .map(|g| (g.id, (g.rules, g.tags.get("sgsync:synctoken").cloned())))
        .collect()
}

fn minimum(before: &Snapshot, after: &Snapshot, targets_changed: usize) -> usize {
    let mut n = targets_changed;
    for (id, (rules, _)) in after {
        match before.get(id) {
            None => n += 3 + usize::from(!rules.is_empty()),
            Some((old, _)) => {
                n += usize::from(!rules.is_subset(old)) + usize::from(!old.is_subset(rules));
            }
        }
    }
    for (id, (old, _)) in before {
        if !after.contains_key(id) {
            n += 2 + usize::from(!old.is_empty());
        }
    }
    let retagged = after
        .iter()
        .any(|(id, (_, tag))| before.get(id).is_some_and(|(_, old)| old != tag));
    let rules = |s: &Snapshot| -> BTreeMap<String, BTreeSet<String>> {
        s.iter()
            .map(|(id, (r, _))| (id.clone(), r.clone()))
            .collect()
    };
    n + usize::from(retagged) + usize::from(rules(before) != rules(after))
}

struct Run {
    reads: usize,
    writes: usize,
    minimum: usize,
    wall_ms: f64,
}

async fn run(aws: &Aws, sgsync: &Sgsync, file: &str, targets: &[&str]) -> Run {
    let before = snapshot(aws).await;
    let before_targets = target_groups(aws, targets).await;
    aws.proxy.clear();
    let t = Instant::now();
    sgsync.run(&["apply", "--ip-ranges", file]).ok();
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    let calls = aws.proxy.calls();
    let after = snapshot(aws).await;
    let after_targets = target_groups(aws, targets).await;
    let changed = before_targets
        .iter()
        .zip(&after_targets)
        .filter(|(a, b)| a != b)
        .count();
    Run {
        reads: calls.iter().filter(|c| !c.is_write()).count(),
        writes: calls
            .iter()
            .filter(|c| c.is_write() && !c.is_lease())
            .count(),
        minimum: minimum(&before, &after, changed),
        wall_ms,
    }
}

async fn target_groups(aws: &Aws, targets: &[&str]) -> Vec<BTreeSet<String>> {
    let mut out = Vec::new();
    for t in targets {
        out.push(aws.groups_on(t).await);
    }
    out
}

fn row(name: &str, r: &Run) -> serde_json::Value {
    json!({"scenario": name, "reads": r.reads, "writes": r.writes, "minimum_writes": r.minimum, "wall_ms": r.wall_ms})
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` builds and starts benches too; this one runs only under
        // `cargo bench` (which passes --bench): it takes minutes and measures, it does not test.
        eprintln!("api_economy: run it with `cargo bench --bench api_economy` (make bench)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };
    let latest = std::fs::read(fixture("ip-ranges/latest.json")).unwrap();
    let base = write("base.json", &latest);
    // `BENCH_ONLY=fleet`: the fleet part alone, to measure it without the rest.
    if std::env::var("BENCH_ONLY").as_deref() == Ok("fleet") {
        println!("{}", json!({"fleet": fleet(&base).await}));
        return;
    }
    let incremental = write(
        "incremental.json",
        &edited_document(&latest, 1787411826, &["13.32.0.0/15"], &["15.230.8.0/24"]),
    );
    let grown = write(
        "grown.json",
        &edited_document(
            &latest,
            1787411827,
            &["13.32.0.0/15"],
            &["15.230.8.0/24", "15.230.11.0/24", "44.192.9.0/24"],
        ),
    );

    let aws = Aws::start().await;
    let sgsync = aws.sgsync();
    let mut rows = Vec::new();
    let initial = run(&aws, &sgsync, &base, &[]).await;
    rows.push(row("initial sync (180 rules)", &initial));
    let foreign = aws.create_foreign_group("admin").await;
    let ids: Vec<String> = aws
        .managed_groups("AUTOUPDATE")
        .await
        .into_iter()
        .map(|g| g.id)
        .collect();
    let eni = aws
        .create_interface(&[vec![foreign.clone()], ids.clone()].concat())
        .await;
    let alb = aws
        .create_alb("origin", &[vec![foreign.clone()], ids].concat())
        .await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    aws.tag_target(&alb, "AUTOUPDATE").await;
    let targets = [eni.as_str(), alb.as_str()];
    rows.push(row("no-op", &run(&aws, &sgsync, &base, &targets).await));
    rows.push(row(
        "incremental (1 prefix replaced)",
        &run(&aws, &sgsync, &incremental, &targets).await,
    ));
    rows.push(row(
        "growth into a new group (2 targets)",
        &run(&aws, &sgsync, &grown, &targets).await,
    ));
    rows.push(event_run(&aws, &sgsync, dir.path()).await);

    // The real series, from scratch, one interface (carrying the groups, opted in) from the second version.
    aws.reset();
    let sgsync = aws.sgsync().env("VPC_ID", &aws.default_vpc().await);
    let foreign = aws.create_foreign_group("admin").await;
    let mut eni = String::new();
    let (mut reads, mut writes, mut minimum, mut walls, mut at_minimum) = (0, 0, 0, Vec::new(), 0);
    let files = replay_files();
    for (i, file) in files.iter().enumerate() {
        let targets: Vec<&str> = if eni.is_empty() {
            vec![]
        } else {
            vec![eni.as_str()]
        };
        let r = run(&aws, &sgsync, file.to_str().unwrap(), &targets).await;
        reads += r.reads;
        writes += r.writes;
        minimum += r.minimum;
        at_minimum += usize::from(r.writes == r.minimum);
        walls.push(r.wall_ms);
        if i == 0 {
            let ids: Vec<String> = aws
                .managed_groups("AUTOUPDATE")
                .await
                .into_iter()
                .map(|g| g.id)
                .collect();
            eni = aws
                .create_interface(&[vec![foreign.clone()], ids].concat())
                .await;
            aws.tag_target(&eni, "AUTOUPDATE").await;
        }
    }
    walls.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let replay = json!({
        "versions": files.len(),
        "reads": reads,
        "writes": writes,
        "minimum_writes": minimum,
        "steps_at_minimum": at_minimum,
        "wall_ms_median": walls[walls.len() / 2],
        "wall_ms_max": walls[walls.len() - 1],
    });
    let kinds = kinds(&base, &incremental).await;
    let fleet = fleet(&base).await;
    println!(
        "{}",
        json!({"scenarios": rows, "replay": replay, "kinds": kinds, "fleet": fleet})
    );
}

/// Peak RSS (kB) and wall time (ms) of one `sgsync` process, under GNU time when it is installed.
fn timed(sgsync: &Sgsync, args: &[&str]) -> (f64, Option<u64>) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let path = out.path().to_str().unwrap().to_string();
    let wrapper: Vec<&str> = if std::path::Path::new("/usr/bin/time").exists() {
        vec!["/usr/bin/time", "-f", "%M", "-o", &path]
    } else {
        Vec::new()
    };
    let t = Instant::now();
    sgsync.run_under(&wrapper, args).ok();
    let wall = t.elapsed().as_secs_f64() * 1000.0;
    let rss = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.lines().last()?.trim().parse::<u64>().ok());
    (wall, rss)
}

/// A fleet of 200 VPCs (20 accounts × 10 regions, their default VPCs) against moto with 50 ms added
/// to every call, as real AWS is tens of milliseconds away: a first sync and a no-op run, against one
/// VPC's first sync alone.
async fn fleet(base: &str) -> serde_json::Value {
    const REGIONS: [&str; 10] = [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-central-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
    ];
    let aws = Aws::start().await;
    aws.proxy.set_faults(
        support::proxy::Faults {
            latency: std::time::Duration::from_millis(50),
            ..support::proxy::Faults::default()
        },
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, entries: &[(String, &str)]| {
        let mut text = String::from("role_name = \"sgsync\"\nconcurrency = 16\n");
        for (account, region) in entries {
            text.push_str(&format!(
                "[[vpc]]\naccount = \"{account}\"\nregion = \"{region}\"\n"
            ));
        }
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let one = file("one.toml", &[("100000000000".to_string(), "us-east-1")]);
    let all: Vec<(String, &str)> = (1..=20)
        .flat_map(|a| {
            REGIONS
                .iter()
                .map(move |r| (format!("1000000000{a:02}"), *r))
        })
        .collect();
    let many = file("fleet.toml", &all);
    let sgsync = aws.sgsync();
    let (single_ms, _) = timed(
        &sgsync.clone().env("FLEET", &one),
        &["apply", "--ip-ranges", base],
    );
    aws.proxy.clear();
    let fleet = sgsync.env("FLEET", &many);
    let (first_ms, first_rss) = timed(&fleet, &["apply", "--ip-ranges", base]);
    let first_calls = aws.proxy.calls().len();
    aws.proxy.clear();
    let (noop_ms, noop_rss) = timed(&fleet, &["apply", "--ip-ranges", base]);
    let noop_calls = aws.proxy.calls().len();
    json!({
        "vpcs": all.len(),
        "concurrency": 16,
        "latency_ms": 50,
        "single_vpc_first_sync_ms": single_ms,
        "first_sync": {"wall_ms": first_ms, "calls": first_calls, "peak_rss_kb": first_rss},
        "no_op": {"wall_ms": noop_ms, "calls": noop_calls, "peak_rss_kb": noop_rss},
    })
}

/// A launched instance whose interface opts in, and its `EC2 Instance State-change Notification`
/// (running): the attach run, without a document. Minimum: one write (the interface's groups).
async fn event_run(aws: &Aws, sgsync: &Sgsync, dir: &std::path::Path) -> serde_json::Value {
    let (instance, eni) = aws.launch_instance(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let mut event: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture("events/ec2-instance-running.json")).unwrap(),
    )
    .unwrap();
    event["detail"]["instance-id"] = serde_json::Value::String(instance);
    let path = dir.join("running.json");
    std::fs::write(&path, event.to_string()).unwrap();
    aws.proxy.clear();
    let t = Instant::now();
    sgsync
        .run(&["apply", "--event", path.to_str().unwrap()])
        .ok();
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    let calls = aws.proxy.calls();
    row(
        "event: a launched instance's interface opts in (no document)",
        &Run {
            reads: calls.iter().filter(|c| !c.is_write()).count(),
            writes: calls
                .iter()
                .filter(|c| c.is_write() && !c.is_lease())
                .count(),
            minimum: 1,
            wall_ms,
        },
    )
}

/// The lists (name → entries, synctoken) and the sets (name → addresses, synctoken).
type KindSnapshot = (Snapshot, Snapshot);

async fn kind_snapshot(aws: &Aws) -> KindSnapshot {
    let lists = aws
        .prefix_lists("AUTOUPDATE")
        .await
        .into_iter()
        .map(|l| (l.name, (l.entries, l.tags.get("sgsync:synctoken").cloned())))
        .collect();
    let sets = aws
        .ip_sets()
        .await
        .into_iter()
        .map(|s| {
            (
                s.name,
                (s.addresses, s.tags.get("sgsync:synctoken").cloned()),
            )
        })
        .collect();
    (lists, sets)
}

/// The fewest writes that take the lists and sets from `before` to `after`: per new list one create
/// (empty), one record write, and a modification per 100 entries; per changed list one modification
/// per 100 entries added or removed; per deleted list one delete and one record write; one tag call
/// for the lists' new synctoken; per new set a create (empty), a record write and an update; per
/// changed set one call; one tag call per set whose synctoken changed.
fn kind_minimum(before: &KindSnapshot, after: &KindSnapshot) -> usize {
    let per_100 = |n: usize| n.div_ceil(100);
    let mut n = 0;
    for (name, (entries, _)) in &after.0 {
        match before.0.get(name) {
            None => n += 2 + per_100(entries.len()),
            Some((old, _)) => {
                n += per_100(
                    entries
                        .difference(old)
                        .count()
                        .max(old.difference(entries).count()),
                )
            }
        }
    }
    n += 2 * before
        .0
        .keys()
        .filter(|k| !after.0.contains_key(*k))
        .count();
    let retagged = |b: &Snapshot, a: &Snapshot| {
        a.iter()
            .filter(|(k, (_, tag))| b.get(*k).is_some_and(|(_, old)| old != tag))
            .count()
    };
    n += usize::from(retagged(&before.0, &after.0) > 0);
    for (name, (addresses, _)) in &after.1 {
        n += match before.1.get(name) {
            None => 2 + usize::from(!addresses.is_empty()),
            Some((old, _)) => usize::from(old != addresses),
        };
    }
    n + retagged(&before.1, &after.1)
}

/// Prefix lists and WAF IP sets (`KINDS=prefix-lists,waf-ip-sets`): the first sync, a no-op and
/// one replaced prefix.
async fn kinds(base: &str, incremental: &str) -> Vec<serde_json::Value> {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync().env("KINDS", "prefix-lists,waf-ip-sets");
    let mut rows = Vec::new();
    for (name, file) in [
        ("lists + WAF sets: initial sync (180 CIDRs)", base),
        ("lists + WAF sets: no-op", base),
        (
            "lists + WAF sets: incremental (1 prefix replaced)",
            incremental,
        ),
    ] {
        let before = kind_snapshot(&aws).await;
        aws.proxy.clear();
        let t = Instant::now();
        sgsync.run(&["apply", "--ip-ranges", file]).ok();
        let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
        let calls = aws.proxy.calls();
        let after = kind_snapshot(&aws).await;
        let r = Run {
            reads: calls.iter().filter(|c| !c.is_write()).count(),
            writes: calls
                .iter()
                .filter(|c| c.is_write() && !c.is_lease())
                .count(),
            minimum: kind_minimum(&before, &after),
            wall_ms,
        };
        rows.push(row(name, &r));
    }
    rows
}
