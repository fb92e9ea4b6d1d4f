"""Who may see what at the coordinator: stored results belong to their analyst, spending detail to IG officers.

A stored result carries its analyst's name and purpose text, and a node's budget breaks spending down by analyst
and purpose: both describe analysts' work, so they go only to those who govern it."""

from __future__ import annotations

from protos.lsi.v1 import coordinator_pb2, query_pb2
from security.pki import Role
from security.tls import Caller

# Read every stored result and every node's spending breakdown. The dashboard's service role reads for the users
# signed in to it, and narrows what each sees to what these rules give that user's own role (dashboard.scope).
COUNTY_READERS = frozenset({Role.COUNTY_IG_OFFICER, Role.DASHBOARD})


def may_read_result(caller: Caller, result: coordinator_pb2.FederatedResult) -> bool:
    """Whether the caller may read a stored result: its own analyst, the county IG officer, or the IG officer of a
    district the query was sent to (whose node's audit log already records its analyst and purpose)."""
    if caller.role is Role.ANALYST:
        return result.query.analyst == caller.name
    if caller.role in COUNTY_READERS:
        return True
    if caller.role is Role.IG_OFFICER:
        return any(d.district_code == caller.district for d in result.districts)
    return False


def sees_breakdown(caller: Caller, district_code: str) -> bool:
    """Whether the caller may see a district's spending by analyst and by purpose."""
    return caller.role in COUNTY_READERS or (caller.role is Role.IG_OFFICER and caller.district == district_code)


def budget_for(caller: Caller, status: query_pb2.BudgetStatus) -> query_pb2.BudgetStatus:
    """A node's budget as this caller may see it: totals always, the breakdown only if entitled."""
    out = query_pb2.BudgetStatus()
    out.CopyFrom(status)
    if not sees_breakdown(caller, status.district_code):
        del out.by_analyst[:]
        del out.by_purpose[:]
        del out.history[:]
    return out


def as_seen_by(stored: coordinator_pb2.FederatedResult, query: query_pb2.Query) -> coordinator_pb2.FederatedResult:
    """A stored result answered to `query`'s analyst: another analyst's name and purpose replaced by the asker's.

    The cells of an identical question are the same county release whoever asks (the nodes replay it at no charge),
    but who first asked it, and why, is not the second analyst's business."""
    out = coordinator_pb2.FederatedResult()
    out.CopyFrom(stored)
    if stored.query.analyst != query.analyst:
        out.query.analyst = query.analyst
        out.query.purpose = query.purpose
    return out
