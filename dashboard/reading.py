"""Reading as the signed-in user: stored results, budgets, node health and audits; never a new release.

Every analysis in analysis/ takes a `submit`; the dashboard hands it `reading_submit`, which looks the query's
(deterministic) id up with the coordinator's Result RPC instead of sending it, so no page can spend budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from analysis.client import CoordinatorClient, Endpoint
from analysis.federated import Fetch, Submit
from protos.lsi.v1 import coordinator_pb2, node_pb2, node_pb2_grpc
from security.tls import TlsFiles, channel_credentials


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
class Coverage:
    """Which districts a figure covers and which are missing (with why)."""

    answered: tuple[str, ...]
    missing: tuple[tuple[str, str], ...]  # (district name, reason)


def coverage_of(results: Sequence[coordinator_pb2.FederatedResult]) -> Coverage:
    """Districts in every one of these results, and those missing from any (from FederatedResult.districts).

    Issue 10 adds a Coverage message to FederatedResult; until it lands this derives the same from the
    per-district outcomes."""
    names: dict[str, str] = {}
    missing: dict[str, str] = {}
    for r in results:
        for d in r.districts:
            names[d.district_code] = d.district_name or d.district_code
            if not d.answered:
                missing.setdefault(d.district_code, d.error or d.error_code or "no answer")
    answered = tuple(sorted(names[c] for c in names if c not in missing))
    return Coverage(answered, tuple(sorted((names[c], why) for c, why in missing.items())))


@dataclass(frozen=True)
class AuditStatus:
    """One node's audit chain check as an IG officer sees it."""

    district_code: str
    district_name: str
    ok: bool | None  # None: the node could not be asked
    detail: str


class Reader:
    """The reading calls one signed-in user may make, over mutual TLS with that user's certificate."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.client = CoordinatorClient.connect(endpoint)

    @property
    def fetch(self) -> Fetch:
        return self.client.fetch

    @property
    def submit(self) -> Submit:
        return reading_submit(self.client.fetch)

    def months(self) -> list[str]:
        """Months every serving node holds."""
        return self.client.months()

    def budgets(self) -> coordinator_pb2.CountyBudget:
        """Every node's budget (the coordinator shows spending by analyst and purpose only to IG officers)."""
        return self.client.budgets()

    def audits(self) -> list[AuditStatus]:
        """Each dialled node's audit verification, asked directly of the node as this user."""
        nodes = self.client.stub.Nodes(coordinator_pb2.NodesRequest(), timeout=30).nodes
        return [self._audit(n) for n in sorted(nodes, key=lambda n: n.district_code)]

    def _audit(self, node: coordinator_pb2.NodeHealth) -> AuditStatus:
        if not node.address or not node.serving:
            why = "outbound-only node: verify at the district (lsi audit verify)" if node.serving else node.detail
            return AuditStatus(node.district_code, node.district_name, None, why or "not serving")
        pki, identity = self.endpoint.pki_dir, self.endpoint.identity
        assert pki is not None and identity is not None
        creds = channel_credentials(TlsFiles.for_identity(Path(pki), identity))
        with grpc.secure_channel(node.address, creds) as channel:
            try:
                report = node_pb2_grpc.NodeStub(channel).AuditVerify(node_pb2.AuditRequest(), timeout=30)
            except grpc.RpcError as exc:
                detail = exc.details() or str(exc.code())
                return AuditStatus(node.district_code, node.district_name, None, detail)
        detail = (
            f"{report.entries:,} entries verified"
            if report.ok
            else f"broken at entry {report.first_bad_seq}: {report.reason}"
        )
        return AuditStatus(node.district_code, node.district_name, report.ok, detail)
