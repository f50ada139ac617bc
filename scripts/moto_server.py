#!/usr/bin/env python3
"""moto_server, counting security-group rules per IP family as AWS does.

AWS enforces "inbound (or outbound) rules per security group" separately for IPv4 and IPv6: a group
holds 60 IPv4 rules and, besides, 60 IPv6 rules; a rule that references a security group counts once in
each (Amazon VPC quotas). moto 5.2.5 adds all rules of a direction together
(moto/ec2/models/security_groups.py,
SecurityGroupBackend._verify_group_will_respect_rule_count_limit). This wrapper replaces that one method
and changes nothing else: the same limit (60 for VPC groups), the same error
(RulesPerSecurityGroupLimitExceeded), the same call sites (once per IpPermission of an authorize),
ingress and egress still apart. Then it runs moto's own server with the arguments given.

Counted per family: an existing CIDR rule in its family; an existing group reference in both; an
existing prefix-list reference in the list's family (both if unknown); the new CIDRs in their families;
new group references in both. New prefix-list references are not counted (moto never passes them here).

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""
import sys

from moto.ec2.exceptions import RulesPerSecurityGroupLimitExceededError
from moto.ec2.models.security_groups import SecurityGroupBackend


def _new_range_family(ip_range):
    if isinstance(ip_range, dict):
        if ip_range.get("CidrIpv6"):
            return "v6"
        if ip_range.get("CidrIp"):
            return "v4"
        return None
    if isinstance(ip_range, str):
        return "v6" if ":" in ip_range else "v4"
    return None


def _prefix_list_families(backend, prefix_list_id):
    lists = getattr(backend, "managed_prefix_lists", {}) or {}
    family = (getattr(lists.get(prefix_list_id), "address_family", None) or "").lower()
    return {"ipv4": ("v4",), "ipv6": ("v6",)}.get(family, ("v4", "v6"))


def _verify_per_family(self, group, current_rule_nb, ip_ranges, source_groups=None, egress=False):
    limit = 60 if group.vpc_id else 100
    counts = {"v4": 0, "v6": 0}
    for rule in group.egress_rules if egress else group.ingress_rules:
        if rule.ip_range.get("CidrIpv6"):
            counts["v6"] += 1
        elif rule.ip_range.get("CidrIp"):
            counts["v4"] += 1
        elif rule.prefix_list_id:
            for family in _prefix_list_families(self, rule.prefix_list_id):
                counts[family] += 1
        else:  # a group reference, or a shape we do not know: both families
            counts["v4"] += 1
            counts["v6"] += 1
    for ip_range in ip_ranges or []:
        family = _new_range_family(ip_range)
        if family:
            counts[family] += 1
    for _ in source_groups or []:
        counts["v4"] += 1
        counts["v6"] += 1
    if counts["v4"] > limit or counts["v6"] > limit:
        raise RulesPerSecurityGroupLimitExceededError


SecurityGroupBackend._verify_group_will_respect_rule_count_limit = _verify_per_family

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
