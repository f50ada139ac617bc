//! The planner over the real history: random windows of the 170 published versions in
//! tests/fixtures/ip-ranges/replay (with versions skipped, as when notifications are lost), random
//! ports, IP versions, quotas and foreign groups. Every run must keep every invariant
//! (checked call by call by `testkit::groups::check_run`, which drives the real `apply`) and refuse
//! only what does not fit.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use ipnet::{Ipv4Net, Ipv6Net};
use proptest::prelude::*;

use sgsync::addresses::Addresses;
use sgsync::ranges::{IpVersions, Selection, select};
use sgsync::rule::{PerFamily, PortRange, Rule, desired_rules};
use sgsync::security_groups::{Desired, Observed, PlanError, Quotas, TargetId, plan};
use sgsync::testkit::groups::{World, check_run};
use sgsync::testkit::replay_files;

struct Version {
    synctoken: u64,
    v4: Vec<Ipv4Net>,
    v6: Vec<Ipv6Net>,
}

/// Every replay version's CLOUDFRONT ranges, IPv4 and IPv6, parsed once.
fn history() -> &'static [Version] {
    static HISTORY: OnceLock<Vec<Version>> = OnceLock::new();
    HISTORY.get_or_init(|| {
        let selection = Selection {
            services: vec!["CLOUDFRONT".into()],
            regions: None,
            ip_versions: IpVersions { v4: true, v6: true },
        };
        replay_files()
            .iter()
            .map(|f| {
                let bytes = std::fs::read(f).unwrap();
                let set =
                    select(&bytes, &selection).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                Version {
                    synctoken: set.synctoken,
                    v4: set.ipv4,
                    v6: set.ipv6,
                }
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
struct Scenario {
    start: usize,
    steps: Vec<usize>,
    ports: Vec<PortRange>,
    v6: bool,
    quotas: Quotas,
    foreign: usize,
    load_balancer: bool,
    /// Every run with `--repack` (pack into as few groups as the quotas allow).
    repack: bool,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        0usize..170,
        prop::collection::vec(1usize..4, 1..25),
        prop::sample::select(vec![vec![80u16], vec![443], vec![80, 443]]),
        any::<bool>(),
        (20usize..=60, 1usize..=5),
        0usize..3,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(start, steps, ports, v6, (rpg, gpt), foreign, load_balancer, repack)| Scenario {
                start,
                steps,
                ports: ports.into_iter().map(PortRange::single).collect(),
                v6,
                quotas: Quotas {
                    rules_per_group: rpg,
                    groups_per_target: gpt,
                },
                foreign,
                load_balancer,
                repack,
            },
        )
}

fn desired_at(v: &Version, s: &Scenario) -> Desired {
    let v6: &[Ipv6Net] = if s.v6 { &v.v6 } else { &[] };
    Desired {
        rules: desired_rules(&v.v4, v6, &s.ports),
        synctoken: v.synctoken,
        group_stem: "AUTOUPDATE-cloudfront".into(),
        repack: s.repack,
        published: None,
    }
}

/// The rules the groups hold that `d` no longer has as such but whose addresses it partly still
/// publishes on their port, per family.
fn superseded(observed: &Observed, d: &Desired) -> PerFamily {
    let published = |ports: PortRange| {
        let nets: Vec<_> = (d.rules.iter())
            .filter(|r| r.ports == ports)
            .map(|r| r.net)
            .collect();
        Addresses::of(&nets)
    };
    PerFamily::of(
        (observed.groups.iter())
            .flat_map(|g| &g.rules)
            .filter(|r| !d.rules.contains(r) && published(r.ports).overlaps(&r.net)),
    )
}

fn attach_target(world: &mut World, s: &Scenario) {
    let mut ids: Vec<String> = (0..s.foreign).map(|i| format!("sg-foreign{i}")).collect();
    ids.extend(world.groups.values().map(|g| g.id.clone()));
    if ids.len() <= s.quotas.groups_per_target {
        let id = if s.load_balancer {
            TargetId::LoadBalancer(
                "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1".into(),
            )
        } else {
            TargetId::Interface("eni-origin".into())
        };
        world.targets.insert(id, ids);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn real_history_windows_keep_every_invariant(s in scenario()) {
        let history = history();
        let mut observed = Observed { quotas: s.quotas, ..Observed::default() };
        let mut index = s.start;
        let mut attached = false;
        for step in std::iter::once(0).chain(s.steps.iter().copied()) {
            index += step;
            if index >= history.len() {
                break;
            }
            let d = desired_at(&history[index], &s);
            match plan(&d, &observed) {
                Ok(p) => {
                    prop_assert!(!PerFamily::of(&d.rules).exceeds(observed.capacity().max_rules));
                    let mut world = check_run(&observed, &d, &p)
                        .map_err(|e| TestCaseError::fail(format!("version {index}: {e}")))?;
                    if !attached {
                        attach_target(&mut world, &s);
                        attached = true;
                    }
                    observed = world.observe();
                }
                Err(PlanError::OverCapacity { rules, .. }) => {
                    // An aggregate that split or merged keeps its slot until its replacement is in
                    // place (make-before-break by address): the peak is what must fit.
                    let peak = rules.plus(superseded(&observed, &d));
                    prop_assert!(
                        peak.exceeds(observed.capacity().max_rules),
                        "refused {rules} rules (peak {peak}) that fit"
                    );
                }
                Err(e) => return Err(TestCaseError::fail(format!("version {index}: {e}"))),
            }
        }
    }
}

/// The whole series in order at the default quotas, from nothing, one version after another: each
/// version lands exactly and a version whose ranges did not change costs at most the bookkeeping tag.
fn whole_series(s: &Scenario) {
    let mut observed = Observed {
        quotas: s.quotas,
        ..Observed::default()
    };
    let mut previous: Option<BTreeSet<Rule>> = None;
    for (i, v) in history().iter().enumerate() {
        let d = desired_at(v, s);
        let p = plan(&d, &observed).unwrap_or_else(|e| panic!("version {i}: {e}"));
        if previous.as_ref() == Some(&d.rules) {
            assert!(
                !p.changes_access(),
                "version {i}: unchanged ranges but {:?}",
                p.actions
            );
        }
        let mut world = check_run(&observed, &d, &p).unwrap_or_else(|e| panic!("version {i}: {e}"));
        if i == 0 {
            attach_target(&mut world, s);
        }
        let groups = world.groups.len();
        let needed = s.quotas.groups_for(PerFamily::of(&d.rules));
        assert!(
            groups >= needed,
            "version {i}: {groups} groups for {needed}"
        );
        observed = world.observe();
        previous = Some(d.rules);
    }
}

fn series(v6: bool) -> Scenario {
    Scenario {
        start: 0,
        steps: vec![1; 169],
        ports: vec![PortRange::single(80)],
        v6,
        quotas: Quotas::default(),
        foreign: 1,
        load_balancer: false,
        repack: false,
    }
}

/// IPv4 on port 80, the blog's setting.
#[test]
fn the_whole_series_in_order_with_default_quotas() {
    whole_series(&series(false));
}

/// Dual stack on port 80, each family against its own quota of 60 per group.
#[test]
fn the_whole_series_dual_stack_with_per_family_quotas() {
    whole_series(&series(true));
}
