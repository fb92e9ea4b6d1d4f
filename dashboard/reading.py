"""Reading for one signed-in user through the dashboard's own service connection; never a new release.

The dashboard holds no user's key. It calls the coordinator with its own certificate (role `dashboard`, which
every spending call refuses) and narrows each reply to the signed-in user's scope (dashboard.scope). Every
analysis in analysis/ takes a `submit`; the dashboard hands it `reading_submit`, which looks the query's
(deterministic) id up in the store instead of sending it, so no page can spend budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.client import CoordinatorClient
from analysis.coverage import MonthCover, combined, coverage_of
from analysis.federated import Fetch, Submit
from dashboard.auth import User
from dashboard.scope import audits_for, county_budget_for, readable, readable_all
from protos.lsi.v1 import coordinator_pb2


class NotStoredError(LookupError):
    """The result a page needs was never asked (or not by this user): the page says how to ask it."""

    def __init__(self, query_id: str) -> None:
        super().__init__(f"no stored result {query_id!r} that you may read")
        self.query_id = query_id


def reading_submit(fetch: Fetch) -> Submit:
    """A submit that only reads: the stored result under the query's id, or NotStoredError."""

    def submit(fq: coordinator_pb2.FederatedQuery) -> coordinator_pb2.FederatedResult:
        found = fetch(fq.query.query_id)
        if found is None:
            raise NotStoredError(fq.query.query_id)
        return found

    return submit


@dataclass(frozen=True)
class AuditStatus:
    """One node's audit chain check as an IG officer sees it."""

    district_code: str
    district_name: str
    ok: bool | None  # None: the node could not be asked
    detail: str


class Reader:
    """What one signed-in user may read, over the dashboard's own connection to the coordinator."""

    def __init__(self, client: CoordinatorClient, user: User) -> None:
        self.client = client
        self.user = user
        self.read: list[coordinator_pb2.FederatedResult] = []  # every result this reader returned (for coverage)

    def fetch(self, query_id: str) -> coordinator_pb2.FederatedResult | None:
        """A stored result by id, if it exists and the user may read it."""
        found = readable(self.user, self.client.fetch(query_id))
        if found is not None:
            self.read.append(found)
        return found

    def cover(self, month: str) -> MonthCover | None:
        """Issue 10's coverage of one month's figures, over every result read so far that holds that month."""
        return combined([c for r in self.read if (c := coverage_of(r).month(month)) is not None])

    @property
    def submit(self) -> Submit:
        return reading_submit(self.fetch)

    def recent(self, prefix: str, limit: int) -> list[coordinator_pb2.FederatedResult]:
        """The newest stored results under an id prefix that the user may read."""
        return readable_all(self.user, self.client.recent(prefix, limit))

    def months(self) -> list[str]:
        """Months every serving node holds."""
        return self.client.months()

    def budgets(self) -> coordinator_pb2.CountyBudget:
        """Every node's budget; spending by analyst and purpose, and its history, only where the user is entitled."""
        return county_budget_for(self.user, self.client.budgets())

    def audits(self) -> list[AuditStatus]:
        """Each node's audit verification, asked through the coordinator (outbound-only nodes included)."""
        return [
            AuditStatus(a.district_code, a.district_name, a.ok if a.checked else None, a.detail)
            for a in sorted(audits_for(self.user, self.client.audits()), key=lambda a: a.district_code)
        ]
