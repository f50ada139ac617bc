//! The trust review's findings (docs/design.md, "Threat model"), each reproduced against moto as the
//! principal it names would: someone of the same account who may create groups, lists and IP sets
//! and write tags, but not change interfaces, load balancers or the function; or an unlucky operator.
//! Each test is named after its finding and failed on sgsync before the fix.

use crate::support::*;

/// Finding 1: attaching the managed groups opened all outbound traffic on an interface whose own
/// groups restrict it: EC2 gives every new VPC group "all traffic to 0.0.0.0/0" outbound, and sgsync
/// never removed it. Now it is revoked right after the create; one found later (a run stopped in
/// between, or added by hand) is revoked before the group reaches any target.
#[tokio::test(flavor = "multi_thread")]
async fn outbound_widening_on_attach() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync();
    let locked = aws.create_foreign_group("locked-down").await;
    aws.revoke_all_outbound(&locked).await;
    let eni = aws.create_interface(std::slice::from_ref(&locked)).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let (out, _) = aws.apply_doc(&sgsync, &latest());
    out.ok();
    for g in aws.interface_groups(&eni).await {
        assert!(
            aws.outbound(&g).await.is_empty(),
            "{g} on {eni} allows outbound traffic"
        );
    }

    // Someone adds an outbound rule to a managed group; a new interface opts in.
    let managed = aws.managed_groups("AUTOUPDATE").await;
    aws.add_outbound(&managed[1].id, "0.0.0.0/0").await;
    let second = aws.create_interface(std::slice::from_ref(&locked)).await;
    aws.tag_target(&second, "AUTOUPDATE").await;
    let (out, calls) = aws.apply_doc(&sgsync, &latest());
    out.ok();
    let w = writes(&calls);
    let revoke = w.iter().position(|a| a == "RevokeSecurityGroupEgress");
    let attach = w
        .iter()
        .position(|a| a == "ModifyNetworkInterfaceAttribute");
    assert!(
        revoke.is_some() && revoke < attach,
        "the outbound entry must go before the group reaches the new interface: {w:?}"
    );
    for eni in [&eni, &second] {
        for g in aws.interface_groups(eni).await {
            assert!(aws.outbound(&g).await.is_empty(), "{g} on {eni}");
        }
    }
}
