"""The node's gRPC layer: checks the caller's role, translates to and from the engine, maps errors to codes."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable
from typing import TypeVar

import grpc
from grpc_health.v1 import health

from node.config import NodeConfig
from node.engine import Caller, NodeEngine
from node.query import QueryError
from privacy.audit import verify_chain
from privacy.ledger import BudgetExceeded, MechanismNotAllowed, PeriodClosed, QueryIdReused
from privacy.policy import PolicyError
from protos.lsi.v1 import node_pb2, node_pb2_grpc, query_pb2
from security.pki import Role
from security.serving import start_server
from security.tls import TlsFiles, require_role

log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE_NAME = "lsi.v1.Node"


class NodeServicer(node_pb2_grpc.NodeServicer):
    """Only the coordinator may query; IG officers may read the budget, change policy and verify the audit."""

    def __init__(self, engine: NodeEngine, tls: TlsFiles | None, *, plaintext: bool = False) -> None:
        self.engine = engine
        self.tls = tls
        self.plaintext = plaintext

    def _caller(self, context: grpc.ServicerContext, *allowed: Role) -> Caller:
        if self.plaintext:
            return Caller(name="plaintext-unauthenticated", role=allowed[0].value)
        who = require_role(context, *allowed, files=self.tls)
        return Caller(name=who.name, role=who.role.value)

    def Describe(self, request: node_pb2.DescribeRequest, context: grpc.ServicerContext) -> node_pb2.NodeDescription:
        """The node's public facts: months held, schema, ward count (never data)."""
        caller = self._caller(context, Role.COORDINATOR, Role.IG_OFFICER)
        e = self.engine
        # An exact count of rows set aside is about households, so it goes to the IG officer, not the county.
        quarantined = sum(len(s.quarantined) for s in e.snapshots.values()) if caller.role == Role.IG_OFFICER else 0
        return node_pb2.NodeDescription(
            district_code=e.district.code,
            district_name=e.district.name,
            months=e.months,
            columns=[
                node_pb2.ColumnInfo(name=c.name, kind=c.kind, description=c.description,
                                    categories=list(c.categories), derived=c.derived)
                for c in e.columns.values()
            ],
            wards=len(e.wards),
            quarantined_rows=quarantined,
            version=_version(),
        )

    def Query(self, request: query_pb2.Query, context: grpc.ServicerContext) -> query_pb2.Release:
        """Answer one query from the coordinator with a DP release, charged first."""
        caller = self._caller(context, Role.COORDINATOR)
        release = _guarded(context, lambda: self.engine.answer(request, caller), f"query {request.query_id!r}")
        release.receipt.CopyFrom(self.engine.receipt(receipt_seq(context)))  # the county checks the ledger's head
        log.info("query %s: %d cells, rho %.4g%s", request.query_id, len(release.cells), release.charge.rho,
                 " (replayed)" if release.replayed else "")
        return release

    def Budget(self, request: node_pb2.BudgetRequest, context: grpc.ServicerContext) -> query_pb2.BudgetStatus:
        """The node's budget as its ledger has it now."""
        self._caller(context, Role.COORDINATOR, Role.IG_OFFICER)
        return _guarded(context, self.engine.budget, "budget")

    def SetPolicy(self, request: node_pb2.SetPolicyRequest, context: grpc.ServicerContext) -> query_pb2.BudgetStatus:
        """Put an IG officer's new policy in force (audited); returns the budget under it."""
        caller = self._caller(context, Role.IG_OFFICER)
        return _guarded(context, lambda: self.engine.set_policy(request.policy_toml, changed_by=caller.name),
                        "policy change")

    def AuditVerify(self, request: node_pb2.AuditRequest, context: grpc.ServicerContext) -> node_pb2.AuditReport:
        """Check the audit log's hash chain and signatures for an IG officer."""
        self._caller(context, Role.IG_OFFICER)
        report = _guarded(context, lambda: verify_chain(self.engine.store.path, self.engine.store.signer.public_key),
                          "audit verification")
        return node_pb2.AuditReport(ok=report.ok, entries=report.entries,
                                    first_bad_seq=report.first_bad_seq or 0, reason=report.reason or "")


def _version() -> str:
    try:
        return importlib.metadata.version("kent-lsi")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def receipt_seq(context: grpc.ServicerContext) -> int:
    """The audit seq the coordinator last saw from this node (metadata lsi-receipt-seq); 0 if none or unreadable."""
    value = dict(context.invocation_metadata() or ()).get("lsi-receipt-seq", "0")
    return int(value) if isinstance(value, str) and value.isdigit() else 0


def _guarded(context: grpc.ServicerContext, call: Callable[[], T], what: str) -> T:
    """Run a call, mapping the engine's exceptions to the gRPC status an officer would expect."""
    try:
        return call()
    except (QueryError, PolicyError, MechanismNotAllowed) as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except BudgetExceeded as exc:
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
    except QueryIdReused as exc:
        context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))
    except PeriodClosed as exc:
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    except Exception:
        # gRPC would send an unexpected exception's text to the caller, and one raised near the data (e.g. an
        # exact cell that does not fit in 64 bits) can carry an unnoised value: it stays in this node's log.
        log.exception("%s failed", what)
        context.abort(grpc.StatusCode.INTERNAL,
                      f"{what} failed at this node with an internal error; the node's operator will find the cause "
                      "in its log.")
    raise AssertionError("context.abort always raises")


def build_server(engine: NodeEngine, config: NodeConfig, *, plaintext: bool = False,
                 max_workers: int = 8) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A started gRPC server for the node; returns it with its bound port and health servicer."""
    servicer = NodeServicer(engine, config.tls, plaintext=plaintext)
    return start_server(lambda server: node_pb2_grpc.add_NodeServicer_to_server(servicer, server),
                        listen=config.listen, tls=config.tls, service_name=SERVICE_NAME, plaintext=plaintext,
                        max_workers=max_workers)
