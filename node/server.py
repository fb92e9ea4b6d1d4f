"""The node's gRPC layer: checks the caller's role, translates to and from the engine, maps errors to codes."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from typing import TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from node.config import NodeConfig
from node.engine import Caller, NodeEngine
from node.query import QueryError
from privacy.audit import verify_chain
from privacy.ledger import BudgetExceeded, QueryIdReused
from privacy.policy import PolicyError
from protos.lsi.v1 import node_pb2, node_pb2_grpc, query_pb2
from security.pki import Role
from security.tls import TlsFiles, require_role, server_credentials, warn_plaintext

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
        self._caller(context, Role.COORDINATOR, Role.IG_OFFICER)
        e = self.engine
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
            quarantined_rows=sum(len(s.quarantined) for s in e.snapshots.values()),
            version="0.1.0",
        )

    def Query(self, request: query_pb2.Query, context: grpc.ServicerContext) -> query_pb2.Release:
        caller = self._caller(context, Role.COORDINATOR)
        release = _guarded(context, lambda: self.engine.answer(request, caller))
        log.info("query %s: %d cells, rho %.4g%s", request.query_id, len(release.cells), release.charge.rho,
                 " (replayed)" if release.replayed else "")
        return release

    def Budget(self, request: node_pb2.BudgetRequest, context: grpc.ServicerContext) -> query_pb2.BudgetStatus:
        self._caller(context, Role.COORDINATOR, Role.IG_OFFICER)
        return self.engine.budget()

    def SetPolicy(self, request: node_pb2.SetPolicyRequest, context: grpc.ServicerContext) -> query_pb2.BudgetStatus:
        caller = self._caller(context, Role.IG_OFFICER)
        return _guarded(context, lambda: self.engine.set_policy(request.policy_toml, changed_by=caller.name))

    def AuditVerify(self, request: node_pb2.AuditRequest, context: grpc.ServicerContext) -> node_pb2.AuditReport:
        self._caller(context, Role.IG_OFFICER)
        report = verify_chain(self.engine.store.path, self.engine.store.signer.public_key)
        return node_pb2.AuditReport(ok=report.ok, entries=report.entries,
                                    first_bad_seq=report.first_bad_seq or 0, reason=report.reason or "")


def _guarded(context: grpc.ServicerContext, call: Callable[[], T]) -> T:
    """Run a call, mapping the engine's exceptions to the gRPC status an officer would expect."""
    try:
        return call()
    except QueryError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except PolicyError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except BudgetExceeded as exc:
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
    except QueryIdReused as exc:
        context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))
    raise AssertionError("context.abort always raises")


def build_server(engine: NodeEngine, config: NodeConfig, *, plaintext: bool = False,
                 max_workers: int = 8) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A started gRPC server for the node; returns it with its bound port and health servicer."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="node"))
    node_pb2_grpc.add_NodeServicer_to_server(NodeServicer(engine, config.tls, plaintext=plaintext), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if plaintext:
        warn_plaintext()
        port = server.add_insecure_port(config.listen)
    else:
        if config.tls is None:
            raise ValueError("the node configuration has no [tls] section; mutual TLS is required "
                             "(plaintext only with --insecure-plaintext-dangerous)")
        port = server.add_secure_port(config.listen, server_credentials(config.tls))
    if port == 0:
        raise OSError(f"could not listen on {config.listen}: the address is in use or not available")
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


def serve_forever(server: grpc.Server, health_servicer: health.HealthServicer,
                  on_stop: Callable[[], None] | None = None) -> None:
    """Block until SIGTERM or SIGINT, then drain in-flight calls and stop."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    health_servicer.enter_graceful_shutdown()
    server.stop(grace=5).wait()
    if on_stop:
        on_stop()
