"""The node's gRPC layer: checks the caller's role, translates to and from the engine, maps errors to codes."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable
from typing import TypeVar

import grpc
from grpc_health.v1 import health

from common.limits import MAX_POLICY_TOML, LimitExceeded, bounded, bounded_budget, check_query_sizes
from node.config import NodeConfig
from node.engine import Caller, NodeEngine
from node.outbound import OutboundLink
from node.query import LossLimits, QueryError, check_loss_limits
from node.secure import SecureRoundError, SecureRounds, SigningIdentity
from privacy.audit import verify_chain
from privacy.ledger import BudgetExceeded, MechanismNotAllowed, PeriodClosed, QueryIdReused
from privacy.policy import PolicyError
from protos.lsi.v1 import node_pb2, node_pb2_grpc, query_pb2
from protos.serde import quarantine_to_wire
from reference.geography import district as district_named
from security import pki
from security.pki import PkiError, Role
from security.serving import start_server
from security.tls import Caller as Peer
from security.tls import TlsFiles, require_role

log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE_NAME = "lsi.v1.Node"


class NodeServicer(node_pb2_grpc.NodeServicer):
    """Only the coordinator may query; this district's IG officer reads the budget, sets policy and verifies the
    audit; the county IG officer may read and verify (never set) on every node."""

    def __init__(self, engine: NodeEngine, tls: TlsFiles | None, *, plaintext: bool = False) -> None:
        self.engine = engine
        self.tls = tls
        self.plaintext = plaintext
        self._secure: SecureRounds | None = None

    @property
    def secure(self) -> SecureRounds:
        """The node's secure rounds, opened at first use (plaintext nodes sign nothing and check no keys)."""
        if self._secure is None:
            identity = None if self.plaintext or self.tls is None else SigningIdentity.from_pem(*self.tls.read())
            self._secure = SecureRounds(self.engine, identity)
        return self._secure

    def SecureSetup(self, request: node_pb2.SecureSetupRequest, context: grpc.ServicerContext) -> node_pb2.SignedKey:
        """Round 0 of a secure county sum: a fresh signed ephemeral key (nothing charged)."""
        self._peer(context, Role.COORDINATOR)
        _guarded(context, lambda: check_query_sizes(request.query), "secure setup")
        return _guarded(context, lambda: self.secure.setup(request), "secure setup")

    def SecureShare(self, request: node_pb2.SecureShareRequest, context: grpc.ServicerContext) -> node_pb2.SecureShares:
        """Round 1: charge first, then the district's noisy vector as sealed Shamir shares."""
        peer = self._peer(context, Role.COORDINATOR)
        caller = Caller(name=peer.name, role=peer.role.value)
        if not context.is_active():
            context.abort(grpc.StatusCode.CANCELLED, "the caller went away before the round was run; nothing charged")
        reply = _guarded(context, lambda: self.secure.share(request, caller), "secure share")
        reply.budget.CopyFrom(bounded_budget(reply.budget))
        return reply

    def SecureSum(self, request: node_pb2.SecureSumRequest, context: grpc.ServicerContext) -> node_pb2.SummedShare:
        """Round 2: this district's summed share over the contributor set, answered once per round."""
        self._peer(context, Role.COORDINATOR)
        return _guarded(context, lambda: self.secure.sum(request), "secure sum")

    def _peer(self, context: grpc.ServicerContext, *allowed: Role) -> Peer:
        if self.plaintext:
            return Peer(name="plaintext-unauthenticated", role=allowed[0], district=self.engine.district.code)
        return require_role(context, *allowed, files=self.tls)

    def _own_officer(self, context: grpc.ServicerContext, *allowed: Role, what: str) -> Peer:
        """The caller, if allowed and (as a district IG officer) of this node's own district; else abort."""
        peer = self._peer(context, *allowed)
        if peer.role is Role.IG_OFFICER and peer.district != self.engine.district.code:
            message = other_district_message(peer, self.engine.district.code, what)
            log.warning("permission denied: %s", message)
            context.abort(grpc.StatusCode.PERMISSION_DENIED, message)
        return peer

    def Describe(self, request: node_pb2.DescribeRequest, context: grpc.ServicerContext) -> node_pb2.NodeDescription:
        """The node's public facts: months held, schema, ward count (never data)."""
        peer = self._peer(context, Role.COORDINATOR, Role.IG_OFFICER, Role.COUNTY_IG_OFFICER)
        e = self.engine
        # An exact count of rows set aside is about households: it goes to this district's own IG officer only,
        # never to the coordinator, the county or another district.
        own_officer = peer.role is Role.IG_OFFICER and peer.district == e.district.code
        quarantined = sum(e.quarantined_by_month.values()) if own_officer else 0
        return node_pb2.NodeDescription(
            district_code=e.district.code,
            district_name=e.district.name,
            months=e.months,
            columns=[
                node_pb2.ColumnInfo(
                    name=c.name,
                    kind=c.kind,
                    description=c.description,
                    categories=list(c.categories),
                    derived=c.derived,
                )
                for c in e.columns.values()
            ],
            wards=len(e.wards),
            quarantined_rows=quarantined,
            version=_version(),
        )

    def DataProblems(
        self, request: node_pb2.DataProblemsRequest, context: grpc.ServicerContext
    ) -> node_pb2.DataProblemsReport:
        """Files skipped and rows set aside at load, for this district's own IG officer only.

        Exact counts about the district's households: they stay with the district (the county IG officer, like the
        coordinator, is outside the node boundary)."""
        self._own_officer(context, Role.IG_OFFICER, what="see its data problems")
        e = self.engine
        return node_pb2.DataProblemsReport(
            skipped_files=list(e.skipped_files), quarantined=quarantine_to_wire(e.quarantined_by_month)
        )

    def Query(self, request: query_pb2.Query, context: grpc.ServicerContext) -> query_pb2.Release:
        """Answer one query from the coordinator with a DP release, charged first."""
        peer = self._peer(context, Role.COORDINATOR)
        caller = Caller(name=peer.name, role=peer.role.value)
        _guarded(context, lambda: self._check_limits(request), "query")
        if not context.is_active():
            # The caller has gone (its deadline passed or it cancelled): nothing is charged for no one.
            context.abort(grpc.StatusCode.CANCELLED, "the caller went away before the query was run; nothing charged")
        release = _guarded(context, lambda: self.engine.answer(request, caller), f"query {request.query_id[:128]!r}")
        release.budget.CopyFrom(bounded_budget(release.budget))
        release.receipt.CopyFrom(self.engine.receipt(receipt_seq(context)))  # the county checks the ledger's head
        log.info(
            "query %s: %d cells, rho %.4g%s",
            request.query_id,
            len(release.cells),
            release.charge.rho,
            " (replayed)" if release.replayed else "",
        )
        return release

    def Budget(self, request: node_pb2.BudgetRequest, context: grpc.ServicerContext) -> query_pb2.BudgetStatus:
        """The node's budget with spending by analyst and purpose, for the coordinator and IG officers entitled."""
        # The coordinator gets the breakdown too: it stamped every analyst and purpose on the queries it forwarded,
        # so it learns nothing new, and it needs them to answer the county IG officer (it strips them for others).
        self._own_officer(
            context, Role.COORDINATOR, Role.IG_OFFICER, Role.COUNTY_IG_OFFICER, what="read its detailed budget"
        )
        return bounded_budget(_guarded(context, self.engine.budget, "budget"))

    def _check_limits(self, request: query_pb2.Query) -> None:
        check_query_sizes(request)
        policy = self.engine.policy
        check_loss_limits(request, LossLimits(policy.min_query_rho, policy.min_query_epsilon, policy.max_clamp_abs))

    def SetPolicy(self, request: node_pb2.SetPolicyRequest, context: grpc.ServicerContext) -> query_pb2.BudgetStatus:
        """Put this district's IG officer's new policy in force (audited); returns the budget under it."""
        peer = self._own_officer(context, Role.IG_OFFICER, what="change its policy")
        if len(request.policy_toml) > MAX_POLICY_TOML:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"policy_toml: is {len(request.policy_toml):,} characters long; the limit is {MAX_POLICY_TOML:,}",
            )
        change = lambda: self.engine.set_policy(request.policy_toml, changed_by=peer.name)  # noqa: E731
        return bounded_budget(_guarded(context, change, "policy change"))

    def AuditVerify(self, request: node_pb2.AuditRequest, context: grpc.ServicerContext) -> node_pb2.AuditReport:
        """Check the audit log's hash chain and signatures for this district's (or the county's) IG officer, or for
        the coordinator, which passes the outcome on to IG officers (and reaches outbound-only nodes)."""
        self._own_officer(
            context, Role.COORDINATOR, Role.IG_OFFICER, Role.COUNTY_IG_OFFICER, what="verify its audit log"
        )
        report = _guarded(
            context,
            lambda: verify_chain(self.engine.store.path, self.engine.store.signer.public_key),
            "audit verification",
        )
        return node_pb2.AuditReport(
            ok=report.ok, entries=report.entries, first_bad_seq=report.first_bad_seq or 0, reason=report.reason or ""
        )


def _label(code: str | None) -> str:
    if code is None:
        return "no district"
    try:
        return f"{district_named(code).name} ({code})"
    except KeyError:
        return code


def other_district_message(peer: Peer, node_district: str, what: str) -> str:
    """Why an IG officer of another district (or of none) is refused at this node, naming both districts."""
    return (
        f"{peer.name!r} is an IG officer for {_label(peer.district)}, but this node serves "
        f"{_label(node_district)}: only {_label(node_district)}'s IG officer may {what}."
    )


def check_certificate(config: NodeConfig) -> None:
    """Refuse to serve with a certificate that is not a node certificate for the configured district."""
    if config.tls is None:
        return
    _, cert_pem, _ = config.tls.read()
    role, code = pki.read_role(cert_pem), pki.read_district(cert_pem)
    if role is not Role.NODE or code != config.district_code:
        raise PkiError(
            f"The certificate {config.tls.cert} is for role {role.value!r} and {_label(code)}, but this node is "
            f"configured for {_label(config.district_code)}; use that district's node certificate (issue one with "
            f"`lsi pki issue --role node --district {config.district_code}`)."
        )


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
    except (QueryError, PolicyError, MechanismNotAllowed, LimitExceeded) as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, bounded(str(exc)))
    except BudgetExceeded as exc:
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, bounded(str(exc)))
    except QueryIdReused as exc:
        context.abort(grpc.StatusCode.ALREADY_EXISTS, bounded(str(exc)))
    except SecureRoundError as exc:
        context.abort(getattr(grpc.StatusCode, exc.code), bounded(str(exc)))
    except PeriodClosed as exc:
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, bounded(str(exc)))
    except Exception:
        # gRPC would send an unexpected exception's text to the caller, and one raised near the data (e.g. an
        # exact cell that does not fit in 64 bits) can carry an unnoised value: it stays in this node's log.
        log.exception("%s failed", what)
        context.abort(
            grpc.StatusCode.INTERNAL,
            f"{what} failed at this node with an internal error; the node's operator will find the cause in its log.",
        )
    raise AssertionError("context.abort always raises")


def build_server(
    engine: NodeEngine, config: NodeConfig, *, plaintext: bool = False, max_workers: int = 8
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A started gRPC server for the node; returns it with its bound port and health servicer."""
    if not plaintext:
        check_certificate(config)
    servicer = NodeServicer(engine, config.tls, plaintext=plaintext)
    return start_server(
        lambda server: node_pb2_grpc.add_NodeServicer_to_server(servicer, server),
        listen=config.listen,
        tls=config.tls,
        service_name=SERVICE_NAME,
        plaintext=plaintext,
        max_workers=max_workers,
    )


def connect_outbound(engine: NodeEngine, config: NodeConfig, *, plaintext: bool = False) -> OutboundLink | None:
    """For a node configured with a coordinator address (outbound mode): start dialling it; else None."""
    if config.coordinator is None:
        return None
    if not plaintext:
        check_certificate(config)
    servicer = NodeServicer(engine, config.tls, plaintext=plaintext)
    tls = None if plaintext else config.tls
    return OutboundLink(servicer, config.coordinator, config.coordinator_name, tls).start()
