"""The coordinator's gRPC layer: takes an analyst's query, fans it out, combines, stores and answers."""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime

import grpc
from grpc_health.v1 import health

from common.limits import (
    MAX_DEADLINE_SECONDS,
    MAX_QUERY_ID,
    MAX_RESULTS_LISTED,
    LimitExceeded,
    check_query_sizes,
    unique_districts,
)
from coordinator.access import as_seen_by, budget_for, may_read_result
from coordinator.admission import RETRY_AFTER_KEY, Admission, Refused
from coordinator.combine import combine
from coordinator.config import OUTBOUND, AnalystLimits, CoordinatorConfig, Quorum
from coordinator.coverage import coverage, latest_quorate_month, outcome_coverage, withhold_below_quorum
from coordinator.fanout import NodePool, NodeReply
from coordinator.outbound import Session, StreamLink
from coordinator.receipts import ReceiptBook, check_receipts
from coordinator.results import ResultStore
from coordinator.secure import SecureAbort, pool_fanout, run_round
from coordinator.secure_query import SecureRefused, abort_status, check_secure_query, secure_outcomes, secure_threshold
from protos.lsi.v1 import coordinator_pb2, coordinator_pb2_grpc, node_pb2, query_pb2
from protos.serde import canonical_query
from reference.geography import district
from security.pki import Role
from security.serving import start_server
from security.tls import Caller, TlsFiles, require_role

# Seconds kept back from the caller's own deadline, so the combined answer reaches it before it gives up.
REPLY_MARGIN_SECONDS = 0.5
# Status calls (Nodes, Budgets) are quick reads: a short deadline of their own, whatever queries are doing.
STATUS_DEADLINE_SECONDS = 5.0
# Verifying an audit chain reads and checks every signed entry: longer than a status call, still bounded.
AUDIT_DEADLINE_SECONDS = 60.0
# Roles that only read (stored results, node status, budgets); none of them may reach a call that spends.
READERS = (Role.ANALYST, Role.IG_OFFICER, Role.COUNTY_IG_OFFICER, Role.DASHBOARD)
# Server threads: a county query holds one while its districts answer (no thread per district), so this bounds
# county queries in flight; status calls and node streams need their own room beyond it.
SERVER_THREADS = 512

log = logging.getLogger(__name__)
SERVICE_NAME = "lsi.v1.Coordinator"
# When every district refuses a query for the same reason, that reason is the answer, not twelve gaps.
SHARED_REFUSALS = {
    "INVALID_ARGUMENT",
    "RESOURCE_EXHAUSTED",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "FAILED_PRECONDITION",
}


class CoordinatorServicer(coordinator_pb2_grpc.CoordinatorServicer):
    """Analysts submit queries; analysts and IG officers read node status and county budgets."""

    def __init__(
        self,
        pool: NodePool,
        results: ResultStore,
        deadline: float,
        tls: TlsFiles | None,
        *,
        plaintext: bool = False,
        limits: AnalystLimits | None = None,
        quorum: Quorum | None = None,
        secure_dropouts: int = 3,
    ) -> None:
        self.pool = pool
        self.quorum = quorum or Quorum()
        self.tls = tls
        self.results = results
        self.deadline = deadline
        self.plaintext = plaintext
        self.receipts = ReceiptBook(results.path)
        self.admission = Admission(limits or AnalystLimits())
        self.secure_dropouts = secure_dropouts
        # Query ids with a secure round under way: a concurrent duplicate would run a second round (new charges).
        self._secure_running: set[str] = set()
        self._secure_lock = threading.Lock()

    def _caller(self, context: grpc.ServicerContext, *allowed: Role) -> Caller:
        if self.plaintext:
            # Plaintext enforces no roles (see warn_plaintext): the caller is taken as the first role allowed.
            return Caller(name="plaintext-unauthenticated", role=allowed[0])
        return require_role(context, *allowed, files=self.tls)

    def _caller_name(self, context: grpc.ServicerContext, *allowed: Role) -> str:
        return self._caller(context, *allowed).name

    def Submit(
        self, request: coordinator_pb2.FederatedQuery, context: grpc.ServicerContext
    ) -> coordinator_pb2.FederatedResult:
        """Fan an analyst's query out to the selected districts, combine, store and answer (or replay)."""
        analyst = self._caller_name(context, Role.ANALYST)
        try:
            with self.admission.admit(analyst):
                return self._submit(request, context, analyst)
        except Refused as exc:
            context.set_trailing_metadata(((RETRY_AFTER_KEY, f"{exc.retry_after:g}"),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        raise AssertionError("context.abort always raises")

    def _submit(
        self, request: coordinator_pb2.FederatedQuery, context: grpc.ServicerContext, analyst: str
    ) -> coordinator_pb2.FederatedResult:
        try:
            check_query_sizes(request.query)
            codes = unique_districts(request.districts) or list(self.pool.nodes)
            if request.secure:
                check_secure_query(request.query)
        except LimitExceeded as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except SecureRefused as exc:
            context.abort(grpc.StatusCode[exc.code], str(exc))
        deadline = self._deadline(request.deadline_seconds, context)
        query = query_pb2.Query()
        query.CopyFrom(request.query)
        asked_id = bool(query.query_id)
        query.query_id = query.query_id or str(uuid.uuid4())
        query.analyst = analyst
        # Only an id the analyst chose can have been used before (a retry); a fresh one needs no store read.
        stored = self.results.get(query.query_id) if asked_id else None
        if stored is not None and (not same_question(as_asked(stored), query) or stored.secure != request.secure):
            context.abort(
                grpc.StatusCode.ALREADY_EXISTS,
                f"query id {query.query_id[:MAX_QUERY_ID]!r} was already used for a different query; "
                "use a new id for a new question",
            )
        # A secure result is final even with dropouts: asking again would be a new round, new noise, new charges.
        if stored is not None and (all(d.answered for d in stored.districts) or stored.secure):
            return as_replay(as_seen_by(stored, query))
        unknown = [c for c in codes if c not in self.pool.nodes]
        if unknown:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"districts: {', '.join(unknown)} not registered")
        # "Latest" is resolved here, once, so every district answers for the same month; a retry keeps it.
        latest = stored.coverage.latest if stored is not None else not query.months and not query.dataset
        if stored is not None:
            query.months[:] = stored.query.months
        elif latest:
            month = self._latest_month(codes, deadline)
            # No district said what it holds (all down, or out of time): ask as before, each node's own latest;
            # coverage then says month by month who answered.
            query.months[:] = [month] if month else []
            latest = month is not None
        if request.secure:
            return self._secure(query, codes, deadline, context, latest=latest)
        replies = check_receipts(
            self.receipts,
            self.pool,
            codes,
            query,
            deadline,
            on_start=lambda futures: _cancel_when_gone(context, futures),
        )
        _abort_on_shared_refusal(context, replies)
        answered = [r.message for r in replies if r.message is not None]
        cover = coverage(query.months, list(self.pool.nodes), replies, self.quorum, latest=latest)
        result = coordinator_pb2.FederatedResult(
            query_id=query.query_id,
            query=query,
            cells=withhold_below_quorum(combine(query, answered), cover),
            districts=[_outcome(r) for r in replies],
            complete=cover.complete,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            coverage=cover,
        )
        self.results.put(result)
        log.info("query %s by %s: %d of %d districts", query.query_id, analyst, len(answered), len(replies))
        return result

    def _latest_month(self, codes: list[str], deadline: float) -> str | None:
        """The latest month enough selected districts hold to meet the quorum (else the latest any holds)."""
        replies = self.pool.call(
            codes, "Describe", node_pb2.DescribeRequest(), min(deadline, STATUS_DEADLINE_SECONDS), kind="status"
        )
        held = {r.entry.district_code: list(r.message.months) for r in replies if r.message is not None}
        month = latest_quorate_month(held, list(self.pool.nodes), self.quorum)
        if month is None and any(held.values()):
            month = max(m for months in held.values() for m in months)
        return month

    def _secure(
        self,
        query: query_pb2.Query,
        codes: list[str],
        deadline: float,
        context: grpc.ServicerContext,
        *,
        latest: bool = False,
    ) -> coordinator_pb2.FederatedResult:
        """One secure round for a query id not yet answered: the county total only, with who contributed."""
        try:
            threshold = secure_threshold(len(codes), self.secure_dropouts)
        except SecureRefused as exc:
            context.abort(grpc.StatusCode[exc.code], str(exc))
        with self._secure_lock:
            if query.query_id in self._secure_running:
                context.abort(
                    grpc.StatusCode.ABORTED,
                    f"a secure round for query id {query.query_id[:MAX_QUERY_ID]!r} is already under way; "
                    "retry with the same id once it finishes to read its answer at no charge",
                )
            self._secure_running.add(query.query_id)
        try:
            # Rechecked under the guard: a round that finished while this call waited is answered from the store.
            stored = self.results.get(query.query_id)
            if stored is not None:
                return as_replay(as_seen_by(stored, query))
            # The three steps share the caller's deadline (coordinator/secure.STEP_WEIGHTS), not take it each.
            total = run_round(pool_fanout(self.pool, deadline), query, codes, threshold)
            outcomes = secure_outcomes(codes, total, _name)
            cover = outcome_coverage(query.months, list(self.pool.nodes), outcomes, self.quorum, latest=latest)
            result = coordinator_pb2.FederatedResult(
                query_id=query.query_id,
                query=query,
                cells=withhold_below_quorum(total.cells, cover),
                districts=outcomes,
                complete=cover.complete,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                secure=True,
                coverage=cover,
            )
            self.results.put(result)
        except SecureAbort as exc:
            code, message = abort_status(exc)
            context.abort(grpc.StatusCode[code], message)
        finally:
            with self._secure_lock:
                self._secure_running.discard(query.query_id)
        log.info(
            "secure query %s by %s: %d of %d districts contributed",
            query.query_id,
            query.analyst,
            len(total.contributors),
            len(codes),
        )
        return result

    def _deadline(self, asked: float, context: grpc.ServicerContext) -> float:
        """Seconds each node has: what the analyst asked (or the default), never past the analyst's own deadline."""
        if not (math.isfinite(asked) and 0 <= asked <= MAX_DEADLINE_SECONDS):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"deadline_seconds: {asked:.6g} is not a number of seconds up to {MAX_DEADLINE_SECONDS:g}; "
                "give a positive number, or 0 for the coordinator's default",
            )
        deadline = asked or self.deadline
        remaining = context.time_remaining()
        if remaining is not None:
            deadline = min(deadline, remaining - REPLY_MARGIN_SECONDS)
        if deadline <= 0:
            context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "the call's own deadline leaves no time to ask the districts; allow a few seconds more",
            )
        return deadline

    def Nodes(
        self, request: coordinator_pb2.NodesRequest, context: grpc.ServicerContext
    ) -> coordinator_pb2.NodesStatus:
        """Which registered nodes answer, with their public description."""
        self._caller_name(context, *READERS)
        codes = list(self.pool.nodes)
        replies = self.pool.call(
            codes, "Describe", node_pb2.DescribeRequest(), self._status_deadline(context), kind="status"
        )
        return coordinator_pb2.NodesStatus(
            nodes=[
                coordinator_pb2.NodeHealth(
                    district_code=r.entry.district_code,
                    district_name=_name(r.entry.district_code),
                    address=r.entry.address,
                    serving=r.message is not None,
                    # A failed call may carry no details (an empty gRPC status message): its code says why.
                    detail=(r.error or r.code)
                    if r.message is None
                    else f"{r.message.wards} wards, {len(r.message.months)} months",
                    months=list(r.message.months) if r.message else [],
                    certificate_name=r.entry.certificate_name,
                )
                for r in replies
            ]
        )

    def Budgets(
        self, request: coordinator_pb2.CountyBudgetRequest, context: grpc.ServicerContext
    ) -> coordinator_pb2.CountyBudget:
        """Every reachable node's budget (spending by analyst and purpose only to IG officers entitled to it)."""
        caller = self._caller(context, Role.COUNTY_IG_OFFICER, Role.IG_OFFICER, Role.ANALYST, Role.DASHBOARD)
        replies = self.pool.call(
            list(self.pool.nodes), "Budget", node_pb2.BudgetRequest(), self._status_deadline(context), kind="status"
        )
        return coordinator_pb2.CountyBudget(
            nodes=[budget_for(caller, r.message) for r in replies if r.message is not None],
            unreachable=[_outcome(r) for r in replies if r.message is None],
        )

    def Result(
        self, request: coordinator_pb2.ResultRequest, context: grpc.ServicerContext
    ) -> coordinator_pb2.FederatedResult:
        """A stored result by query id, to its analyst or an IG officer entitled to it; never a new release."""
        caller = self._caller(context, Role.COUNTY_IG_OFFICER, Role.IG_OFFICER, Role.ANALYST, Role.DASHBOARD)
        if len(request.query_id) > MAX_QUERY_ID:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"query_id: is {len(request.query_id):,} characters long; the limit is {MAX_QUERY_ID}",
            )
        stored = self.results.get(request.query_id)
        # Someone else's result is answered exactly as a missing one, so ids cannot be probed for existence.
        if stored is None or not may_read_result(caller, stored):
            context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no stored result for query id {request.query_id!r} that {caller.name!r} may read",
            )
            raise AssertionError("context.abort always raises")
        return stored

    def Results(
        self, request: coordinator_pb2.ResultsRequest, context: grpc.ServicerContext
    ) -> coordinator_pb2.ResultList:
        """The newest stored results whose ids start with a prefix, those the caller may read; never a release."""
        caller = self._caller(context, Role.COUNTY_IG_OFFICER, Role.IG_OFFICER, Role.ANALYST, Role.DASHBOARD)
        if not 0 < len(request.prefix) <= MAX_QUERY_ID:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"prefix: give the start of a query id, 1 to {MAX_QUERY_ID} characters (got {len(request.prefix):,})",
            )
        if not 0 < request.limit <= MAX_RESULTS_LISTED:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"limit: {request.limit} is not between 1 and {MAX_RESULTS_LISTED}",
            )
        found = self.results.newest(request.prefix, request.limit, lambda r: may_read_result(caller, r))
        return coordinator_pb2.ResultList(results=found)

    def Audits(
        self, request: coordinator_pb2.AuditsRequest, context: grpc.ServicerContext
    ) -> coordinator_pb2.AuditStatuses:
        """Each node's audit chain verification, through its link (dialled or outbound), for IG officers."""
        caller = self._caller(context, Role.COUNTY_IG_OFFICER, Role.IG_OFFICER, Role.DASHBOARD)
        codes = [c for c in self.pool.nodes if caller.role is not Role.IG_OFFICER or c == caller.district]
        remaining = context.time_remaining()
        deadline = AUDIT_DEADLINE_SECONDS if remaining is None else min(AUDIT_DEADLINE_SECONDS, remaining - 0.5)
        replies = self.pool.call(codes, "AuditVerify", node_pb2.AuditRequest(), deadline, kind="status")
        return coordinator_pb2.AuditStatuses(nodes=[_audit(r) for r in replies])

    def Connect(
        self, request_iterator: Iterator[coordinator_pb2.NodeMessage], context: grpc.ServicerContext
    ) -> Iterator[coordinator_pb2.CoordinatorMessage]:
        """An outbound-only node's stream: this district's registered node certificate only."""
        link = self._outbound_link(context)
        session = Session(context, None if self.plaintext else self.tls)
        link.attach(session)
        log.info("district %s connected (outbound)", link.entry.district_code)
        context.add_callback(session.close)
        threading.Thread(
            target=_read_replies,
            args=(request_iterator, session, link),
            name=f"outbound-{link.entry.district_code}",
            daemon=True,
        ).start()
        yield from session.messages()

    def _outbound_link(self, context: grpc.ServicerContext) -> StreamLink:
        caller = self._caller(context, Role.NODE)
        if self.plaintext:
            # Plaintext has no certificates: the node names its district in metadata (developer machines only).
            caller = Caller(caller.name, caller.role, dict(context.invocation_metadata() or ()).get("lsi-district"))
        link = self.pool.links.get(caller.district or "")
        entry = link.entry if link is not None else None
        if (
            entry is None
            or entry.mode != OUTBOUND
            or not isinstance(link, StreamLink)
            or (not self.plaintext and caller.name != entry.certificate_name)
        ):
            message = (
                f"{caller.name!r} (a node certificate for {caller.district or 'no district'}) is not registered "
                'here as an outbound node; register it with mode = "outbound" and its certificate_name'
            )
            log.warning("permission denied: %s", message)
            context.abort(grpc.StatusCode.PERMISSION_DENIED, message)
            raise AssertionError("context.abort always raises")
        return link

    def _status_deadline(self, context: grpc.ServicerContext) -> float:
        remaining = context.time_remaining()
        if remaining is None:
            return STATUS_DEADLINE_SECONDS
        return max(0.0, min(STATUS_DEADLINE_SECONDS, remaining - REPLY_MARGIN_SECONDS))


def _read_replies(replies: Iterator[coordinator_pb2.NodeMessage], session: Session, link: StreamLink) -> None:
    try:
        for message in replies:
            session.deliver(message)
    except grpc.RpcError:
        pass  # the node went away; its waiting calls fail below
    except Exception:  # noqa: BLE001 - malformed bytes from the node end its stream, not the coordinator
        log.exception("district %s: stream failed", link.entry.district_code)
    finally:
        log.info("district %s disconnected (outbound)", link.entry.district_code)
        link.detach(session)


def _cancel_when_gone(context: grpc.ServicerContext, futures: list[Future]) -> None:
    """Cancel the calls to the districts if the analyst goes away, so no node charges for an answer no one reads."""
    context.add_callback(lambda: [f.cancel() for f in futures])


def as_replay(stored: coordinator_pb2.FederatedResult) -> coordinator_pb2.FederatedResult:
    """A stored result as the answer to a retry: the same cells, every district marked replayed at no charge."""
    out = coordinator_pb2.FederatedResult()
    out.CopyFrom(stored)
    for d in out.districts:
        if d.answered:
            d.replayed = True
            d.charge.CopyFrom(
                query_pb2.Charge(rho=0.0, epsilon=0.0, delta=d.charge.delta, mechanism=d.charge.mechanism)
            )
    return out


def as_asked(stored: coordinator_pb2.FederatedResult) -> query_pb2.Query:
    """The query as the analyst asked it: a "latest" month the coordinator resolved is left unnamed again."""
    out = query_pb2.Query()
    out.CopyFrom(stored.query)
    if stored.coverage.latest:
        del out.months[:]
    return out


def same_question(a: query_pb2.Query, b: query_pb2.Query) -> bool:
    """Whether two queries ask the same thing, whoever asked and why (the vocabulary's canonical form)."""
    return canonical_query(a) == canonical_query(b)


def _name(code: str) -> str:
    try:
        return district(code).name
    except KeyError:
        return code


def _outcome(reply: NodeReply) -> coordinator_pb2.DistrictOutcome:
    out = coordinator_pb2.DistrictOutcome(
        district_code=reply.entry.district_code,
        district_name=_name(reply.entry.district_code),
        answered=reply.message is not None,
        error=reply.error,
        error_code=reply.code,
    )
    if reply.message is not None and isinstance(reply.message, query_pb2.Release):
        out.charge.CopyFrom(reply.message.charge)
        out.budget.CopyFrom(reply.message.budget)
        out.replayed = reply.message.replayed
    return out


def _audit(reply: NodeReply) -> coordinator_pb2.NodeAudit:
    out = coordinator_pb2.NodeAudit(
        district_code=reply.entry.district_code, district_name=_name(reply.entry.district_code)
    )
    report = reply.message
    if not isinstance(report, node_pb2.AuditReport):
        out.detail = reply.error or reply.code or "no answer"
        return out
    out.checked, out.ok, out.entries, out.first_bad_seq = True, report.ok, report.entries, report.first_bad_seq
    out.detail = (
        f"{report.entries:,} entries verified"
        if report.ok
        else f"broken at entry {report.first_bad_seq}: {report.reason}"
    )
    return out


def _abort_on_shared_refusal(context: grpc.ServicerContext, replies: list[NodeReply]) -> None:
    if any(r.message is not None for r in replies):
        return
    codes = Counter(r.code for r in replies)
    code, _ = codes.most_common(1)[0]
    if code in SHARED_REFUSALS and len(codes) == 1:
        first = replies[0]
        context.abort(grpc.StatusCode[code], f"{_name(first.entry.district_code)}: {first.error}")


def build_server(
    config: CoordinatorConfig, *, plaintext: bool = False, max_workers: int = SERVER_THREADS
) -> tuple[grpc.Server, int, health.HealthServicer, NodePool]:
    """A started coordinator server with its node pool; returns the server, bound port and health servicer."""
    if not plaintext and config.tls is None:
        raise ValueError(
            "the coordinator configuration has no [tls] section; mutual TLS is required "
            "(plaintext only with --insecure-plaintext-dangerous)"
        )
    pool = NodePool(config.nodes, None if plaintext else config.tls)
    servicer = CoordinatorServicer(
        pool,
        ResultStore(config.state_db),
        config.deadline_seconds,
        config.tls,
        plaintext=plaintext,
        limits=config.limits,
        quorum=config.quorum,
        secure_dropouts=config.secure_dropouts,
    )
    server, port, health_servicer = start_server(
        lambda server: coordinator_pb2_grpc.add_CoordinatorServicer_to_server(servicer, server),
        listen=config.listen,
        tls=config.tls,
        service_name=SERVICE_NAME,
        plaintext=plaintext,
        max_workers=max_workers,
    )
    return server, port, health_servicer, pool
