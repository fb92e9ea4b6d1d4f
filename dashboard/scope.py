"""What a signed-in user may see, enforced by the dashboard itself from their signed token.

The dashboard reads the coordinator under its own read-only service certificate, which sees every stored result
and every node's spending breakdown; it narrows each reply to exactly what the coordinator would give the user's
own certificate, by applying the coordinator's own access rules to the user the token names."""

from __future__ import annotations

from collections.abc import Iterable

from coordinator.access import budget_for, may_read_result
from dashboard.auth import User
from protos.lsi.v1 import coordinator_pb2
from security.pki import Role
from security.tls import Caller


class OutOfScopeError(PermissionError):
    """The signed-in user's role does not give them this (the page answers 403)."""


def caller_of(user: User) -> Caller:
    """The user as the coordinator's access rules see a caller."""
    return Caller(name=user.name, role=Role(user.role), district=user.district)


def readable(user: User, result: coordinator_pb2.FederatedResult | None) -> coordinator_pb2.FederatedResult | None:
    """A stored result if the user may read it (their own as an analyst, their district's as its IG officer)."""
    return result if result is not None and may_read_result(caller_of(user), result) else None


def readable_all(
    user: User, results: Iterable[coordinator_pb2.FederatedResult]
) -> list[coordinator_pb2.FederatedResult]:
    """The results among these the user may read, in the same order."""
    return [r for r in results if readable(user, r) is not None]


def county_budget_for(user: User, county: coordinator_pb2.CountyBudget) -> coordinator_pb2.CountyBudget:
    """Every node's budget as the user may see it: totals always; breakdown and history only where entitled."""
    caller = caller_of(user)
    return coordinator_pb2.CountyBudget(
        nodes=[budget_for(caller, b) for b in county.nodes], unreachable=list(county.unreachable)
    )


def audits_for(user: User, audits: coordinator_pb2.AuditStatuses) -> list[coordinator_pb2.NodeAudit]:
    """The audit checks the user may see: every node for the county IG officer, their own for a district's."""
    if user.role == Role.COUNTY_IG_OFFICER:
        return list(audits.nodes)
    if user.role == Role.IG_OFFICER:
        return [a for a in audits.nodes if a.district_code == user.district]
    raise OutOfScopeError("audit status is for IG officers only")
