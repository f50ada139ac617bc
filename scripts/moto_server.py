#!/usr/bin/env python3
"""moto_server, behaving as AWS does where sgsync depends on it and moto 5.2.5 does not.

1. Security-group rules are counted per IP family, and a prefix-list reference weighs the list's MaxEntries.
2. Customer-managed prefix lists enforce what EC2 enforces (sizes, versions, 100 changes per request), can
   be resized, keep their name, and answer GetManagedPrefixListAssociations.
3. RAM answers AssociateResourceShare and filters GetResourceShares by name.
4. WAF IP sets refuse what WAF refuses (names, descriptions, 10,000 addresses, duplicate names).

Sources for each rule are in docs/design.md ("What the emulator does not do"); the error codes and
texts are AWS's where they are documented, and marked where they are not.

## 1. Rules per family

AWS enforces "inbound (or outbound) rules per security group" separately for IPv4 and IPv6: a group
holds 60 IPv4 rules and, besides, 60 IPv6 rules; a rule that references a security group counts once in
each (Amazon VPC quotas). moto 5.2.5 adds all rules of a direction together
(moto/ec2/models/security_groups.py,
SecurityGroupBackend._verify_group_will_respect_rule_count_limit). This wrapper replaces that one method
and changes nothing else: the same limit (60 for VPC groups), the same error
(RulesPerSecurityGroupLimitExceeded), the same call sites (once per IpPermission of an authorize),
ingress and egress still apart. Then it runs moto's own server with the arguments given.

Counted per family: an existing CIDR rule in its family; an existing group reference in both; an
existing or new prefix-list reference in the list's family (both if unknown), weighing the list's
MaxEntries ("a rule that references a customer-managed prefix list counts as the maximum size of the
prefix list", Amazon VPC user guide); the new CIDRs in their families; new group references in both.

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


def _prefix_list_weight(backend, prefix_list_id):
    """The families a reference to the list counts in, and its weight (its MaxEntries; 1 if unknown)."""
    lists = getattr(backend, "managed_prefix_lists", {}) or {}
    pl = lists.get(prefix_list_id)
    family = (getattr(pl, "address_family", None) or "").lower()
    families = {"ipv4": ("v4",), "ipv6": ("v6",)}.get(family, ("v4", "v6"))
    try:
        weight = int(getattr(pl, "max_entries", None) or 1)
    except ValueError:
        weight = 1
    return families, weight


def _existing_counts(backend, group, egress):
    counts = {"v4": 0, "v6": 0}
    for rule in group.egress_rules if egress else group.ingress_rules:
        if rule.ip_range.get("CidrIpv6"):
            counts["v6"] += 1
        elif rule.ip_range.get("CidrIp"):
            counts["v4"] += 1
        elif rule.prefix_list_id:
            families, weight = _prefix_list_weight(backend, rule.prefix_list_id)
            for family in families:
                counts[family] += weight
        else:  # a group reference, or a shape we do not know: both families
            counts["v4"] += 1
            counts["v6"] += 1
    return counts


def _limit(group):
    return 60 if group.vpc_id else 100


def _verify_per_family(self, group, current_rule_nb, ip_ranges, source_groups=None, egress=False):
    counts = _existing_counts(self, group, egress)
    for ip_range in ip_ranges or []:
        family = _new_range_family(ip_range)
        if family:
            counts[family] += 1
    for _ in source_groups or []:
        counts["v4"] += 1
        counts["v6"] += 1
    if counts["v4"] > _limit(group) or counts["v6"] > _limit(group):
        raise RulesPerSecurityGroupLimitExceededError


def _counting_prefix_lists(original, egress):
    """Wraps authorize_security_group_{ingress,egress}: new prefix-list references count their weight."""

    def authorize(self, group_name_or_id, *args, **kwargs):
        new_lists = kwargs.get("prefix_list_ids") or []
        if new_lists:
            group = self.get_security_group_by_name_or_id(group_name_or_id, kwargs.get("vpc_id"))
            if group is not None:
                counts = _existing_counts(self, group, egress)
                for item in new_lists:
                    families, weight = _prefix_list_weight(self, item.get("PrefixListId"))
                    for family in families:
                        counts[family] += weight
                if counts["v4"] > _limit(group) or counts["v6"] > _limit(group):
                    raise RulesPerSecurityGroupLimitExceededError
        return original(self, group_name_or_id, *args, **kwargs)

    return authorize


SecurityGroupBackend.authorize_security_group_ingress = _counting_prefix_lists(
    SecurityGroupBackend.authorize_security_group_ingress, egress=False
)
SecurityGroupBackend.authorize_security_group_egress = _counting_prefix_lists(
    SecurityGroupBackend.authorize_security_group_egress, egress=True
)
SecurityGroupBackend._verify_group_will_respect_rule_count_limit = _verify_per_family

# ## 2. Customer-managed prefix lists
#
# EC2's rules (Amazon VPC user guide, "Work with customer-managed prefix lists"; the EC2 API reference
# for CreateManagedPrefixList / ModifyManagedPrefixList; error texts as AWS returns them, collected by
# terraform-provider-aws issues 17191, 26034, 35371, 43528):
# - MaxEntries is 1 to 1000; a list never holds more entries than it;
# - at most 100 entries added and 100 removed per request, not both with MaxEntries, not one CIDR in both;
# - CurrentVersion, when given, must be the list's version (PrefixListVersionMismatch);
# - a CIDR added twice, or removed while absent, is InvalidPrefixListModification;
# - a resize that a referencing group cannot take fails asynchronously: state modify-failed, a state
#   message naming the group, the previous size kept;
# - the name stays when a modification does not name it (moto 5.2.5 erases it).
# The code for "more entries than MaxEntries" is not documented: PrefixListMaxEntriesExceeded here.

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses import EC2Response


def _ec2_error(code, message):
    return EC2ClientError(code, message)


def _cidrs(entries):
    return [e.get("Cidr") for e in entries or []]


def _entries_now(pl):
    if not pl.entries:
        return []
    return list(pl.entries.get(pl.version) or list(pl.entries.values())[-1] or [])


def _create_managed_prefix_list(self):
    max_entries = self._get_param("MaxEntries")
    entries = self._get_param("Entries", [])
    try:
        size = int(max_entries)
    except (TypeError, ValueError):
        size = 0
    if not 1 <= size <= 1000:
        raise _ec2_error("InvalidParameterValue", "Must specify a max size between 1 and 1000")
    if len(entries) > 100:
        raise _ec2_error("InvalidParameterValue", "The number of entries per request cannot exceeds limit (100).")
    if len(entries) > size:
        raise _ec2_error("PrefixListMaxEntriesExceeded", f"{len(entries)} entries exceed the maximum of {size}")
    return _original_create(self)


def _weight_ok(backend, pl, new_size):
    """The first group referencing `pl` that could not take it at `new_size`, or None."""
    for groups in backend.groups.values():
        for group in groups.values():
            for egress in (False, True):
                rules = group.egress_rules if egress else group.ingress_rules
                if not any(r.prefix_list_id == pl.id for r in rules):
                    continue
                counts = _existing_counts(backend, group, egress)
                family = "v6" if (pl.address_family or "").lower() == "ipv6" else "v4"
                old = int(pl.max_entries or 1)
                refs = sum(1 for r in rules if r.prefix_list_id == pl.id)
                if counts[family] - refs * old + refs * new_size > _limit(group):
                    return group.id
    return None


def _modify_managed_prefix_list(self):
    backend = self.ec2_backend
    pl_id = self._get_param("PrefixListId")
    pl = backend.managed_prefix_lists.get(pl_id)
    if pl is None or pl.owner_id == "AWS":
        raise _ec2_error("InvalidPrefixListID.NotFound", f"The prefix list ID '{pl_id}' does not exist")
    add = self._get_param("AddEntries", [])
    remove = self._get_param("RemoveEntries", [])
    max_entries = self._get_param("MaxEntries")
    version = self._get_param("CurrentVersion")
    name = self._get_param("PrefixListName")
    if max_entries is not None and (add or remove):
        raise _ec2_error(
            "InvalidParameterCombination",
            "You cannot modify the entries and the maximum entries for the prefix list in the same request.",
        )
    if len(add) > 100 or len(remove) > 100:
        raise _ec2_error("InvalidParameterValue", "The number of entries per request cannot exceeds limit (100).")
    if version is not None and int(version) != int(pl.version):
        raise _ec2_error("PrefixListVersionMismatch", "The prefix list has the incorrect version number.")
    now = _cidrs(_entries_now(pl))
    for cidr in _cidrs(add):
        if cidr in _cidrs(remove):
            raise _ec2_error(
                "InvalidParameterValue",
                f"Request cannot contain Cidr {cidr} in both AddPrefixListEntries and RemovePrefixListEntries",
            )
        if cidr in now:
            raise _ec2_error("InvalidPrefixListModification", f"An entry with the CIDR ({cidr}) already exists.")
    for cidr in _cidrs(remove):
        if cidr not in now:
            raise _ec2_error("InvalidPrefixListModification", f"The entry with the CIDR ({cidr}) does not exist.")
    if len(now) - len(remove) + len(add) > int(pl.max_entries):
        raise _ec2_error(
            "PrefixListMaxEntriesExceeded",
            f"The prefix list would have {len(now) - len(remove) + len(add)} entries, more than its maximum of {pl.max_entries}",
        )
    if name is None:
        name = pl.prefix_list_name
    if max_entries is not None:
        size = int(max_entries)
        if not 1 <= size <= 1000 or size < len(now):
            raise _ec2_error("InvalidParameterValue", f"Must specify a max size between {max(1, len(now))} and 1000")
        if name:
            pl.prefix_list_name = name
        blocked = _weight_ok(backend, pl, size)
        if blocked:
            pl.state = "modify-failed"
            pl.state_message = f"The following resources do not support the new maximum size: {blocked}"
        else:
            pl.max_entries = str(size)
            pl.state = "modify-complete"
            pl.state_message = None
        return ActionResult({"PrefixList": pl})
    pl = backend.modify_managed_prefix_list(
        add_entry=add,
        prefix_list_id=pl_id,
        current_version=int(pl.version),
        prefix_list_name=name,
        remove_entry=remove,
    )
    pl.state_message = None
    return ActionResult({"PrefixList": pl})


def _get_managed_prefix_list_associations(self):
    backend = self.ec2_backend
    pl_id = self._get_param("PrefixListId")
    associations = []
    for groups in backend.groups.values():
        for group in groups.values():
            if any(r.prefix_list_id == pl_id for r in group.ingress_rules + group.egress_rules):
                associations.append({"ResourceId": group.id, "ResourceOwner": backend.account_id})
    return ActionResult({"PrefixListAssociations": associations})


_original_create = EC2Response.create_managed_prefix_list
EC2Response.create_managed_prefix_list = _create_managed_prefix_list
EC2Response.modify_managed_prefix_list = _modify_managed_prefix_list
EC2Response.get_managed_prefix_list_associations = _get_managed_prefix_list_associations


# ## 3. RAM
#
# AssociateResourceShare adds resources and principals to a share (moto 5.2.5 answers 404);
# GetResourceShares honours its name filter (moto ignores it).

import json

from moto.ram import urls as ram_urls
from moto.ram.responses import ResourceAccessManagerResponse


def _associate_resource_share(self):
    params = self.request_params
    arn = params.get("resourceShareArn")
    share = next((s for s in self.ram_backend.resource_shares if s.arn == arn), None)
    if share is None:
        from moto.ram.exceptions import UnknownResourceException

        raise UnknownResourceException(f"ResourceShare {arn} could not be found.")
    associations = []
    for principal in params.get("principals", []):
        if principal not in share.principals:
            share.add_principals([principal])
        associations.append({"resourceShareArn": arn, "associatedEntity": principal,
                             "associationType": "PRINCIPAL", "status": "ASSOCIATING"})
    for resource in params.get("resourceArns", []):
        if resource not in share.resource_arns:
            share.add_resources([resource])
        associations.append({"resourceShareArn": arn, "associatedEntity": resource,
                             "associationType": "RESOURCE", "status": "ASSOCIATING"})
    return json.dumps({"resourceShareAssociations": associations})


def _get_resource_shares(self):
    out = json.loads(_original_get_shares(self))
    name = self._get_param("name")
    if name is not None:
        out["resourceShares"] = [s for s in out["resourceShares"] if s.get("name") == name]
    return json.dumps(out)


_original_get_shares = ResourceAccessManagerResponse.get_resource_shares
ResourceAccessManagerResponse.get_resource_shares = _get_resource_shares
ResourceAccessManagerResponse.associate_resource_share = _associate_resource_share
ram_urls.url_paths["{0}/associateresourceshare$"] = ResourceAccessManagerResponse.dispatch


# ## 4. WAF IP sets
#
# The API reference's shapes: Name ^[\w\-]+$ (1 to 128), Description
# ^[\w+=:#@/\-,\.][\w+=:#@/\-,\.\s]+[\w+=:#@/\-,\.]$ (1 to 256), at most 10,000 addresses per set
# (WAF quotas), a name already used in the scope is WAFDuplicateItemException.

import re

from moto.wafv2.exceptions import WAFv2ClientError
from moto.wafv2.models import WAFV2Backend

_NAME = re.compile(r"^[\w\-]{1,128}$")
_DESCRIPTION = re.compile(r"^[\w+=:#@/\-,\.][\w+=:#@/\-,\.\s]+[\w+=:#@/\-,\.]$")


def _waf_error(code, message):
    return WAFv2ClientError(code, message)


def _check_ip_set(name, description, addresses):
    if not _NAME.match(name or ""):
        raise _waf_error("WAFInvalidParameterException", f"Error reason: invalid name {name!r}, field: NAME")
    if description is not None and (len(description) > 256 or not _DESCRIPTION.match(description)):
        raise _waf_error("WAFInvalidParameterException", f"Error reason: invalid description {description!r}, field: DESCRIPTION")
    if len(addresses or []) > 10000:
        raise _waf_error("WAFLimitsExceededException", "Operation would result in exceeding resource limits.")


_original_create_ip_set = WAFV2Backend.create_ip_set
_original_update_ip_set = WAFV2Backend.update_ip_set


def _create_ip_set(self, name, scope, description, ip_address_version, addresses, tags):
    _check_ip_set(name, description, addresses)
    if any(s.name == name and s.scope == scope for s in self.ip_sets.values()):
        raise _waf_error(
            "WAFDuplicateItemException",
            "AWS WAF couldn't perform the operation because some resource in your request is a duplicate of an existing one.",
        )
    return _original_create_ip_set(self, name, scope, description, ip_address_version, addresses, tags)


def _update_ip_set(self, name, scope, _id, description, addresses, lock_token):
    _check_ip_set(name, description, addresses)
    return _original_update_ip_set(self, name, scope, _id, description, addresses, lock_token)


WAFV2Backend.create_ip_set = _create_ip_set
WAFV2Backend.update_ip_set = _update_ip_set



def _exit_with_parent():
    """Ends this server when the process that started it is gone: a test binary that shares one server
    between its tests (held in a static, never dropped) must not leave it running."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    from moto.server import main

    _exit_with_parent()
    sys.exit(main(sys.argv[1:]))
