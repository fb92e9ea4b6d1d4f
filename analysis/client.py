"""Client connections (the CLI, later the dashboard): a coordinator or node stub over mutual TLS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from protos.lsi.v1 import coordinator_pb2, coordinator_pb2_grpc, node_pb2_grpc
from security.tls import TlsFiles, channel_credentials, warn_plaintext


@dataclass(frozen=True)
class Endpoint:
    """Where to connect and as whom."""

    address: str
    pki_dir: Path | None
    identity: str | None
    server_name: str | None = None
    plaintext: bool = False
    tls: TlsFiles | None = None  # files named one by one (a client profile); else found in pki_dir by identity

    def channel(self) -> grpc.Channel:
        """A channel with mutual TLS (or, only when asked for loudly, plaintext)."""
        if self.plaintext:
            warn_plaintext()
            return grpc.insecure_channel(self.address)
        if self.tls is not None:
            files = self.tls
        elif self.pki_dir is None or self.identity is None:
            raise ValueError(
                "mutual TLS needs --pki DIR and --identity NAME (or LSI_PKI and LSI_IDENTITY, or a client profile)"
            )
        else:
            files = TlsFiles.for_identity(self.pki_dir, self.identity)
        options = [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
        return grpc.secure_channel(self.address, channel_credentials(files), options=options)


def coordinator_stub(endpoint: Endpoint) -> coordinator_pb2_grpc.CoordinatorStub:
    """A stub for the county coordinator."""
    return coordinator_pb2_grpc.CoordinatorStub(endpoint.channel())


def node_stub(endpoint: Endpoint) -> node_pb2_grpc.NodeStub:
    """A stub for one district node (IG officers only)."""
    return node_pb2_grpc.NodeStub(endpoint.channel())


class NoServingNodeError(RuntimeError):
    """The coordinator reaches no district node that is serving."""


class CoordinatorClient:
    """The calls the analyses need from the county coordinator, over one stub."""

    def __init__(self, stub: Any) -> None:
        self.stub = stub

    @classmethod
    def connect(cls, endpoint: Endpoint) -> CoordinatorClient:
        """The coordinator at an endpoint (ValueError when mutual TLS lacks its files)."""
        return cls(coordinator_stub(endpoint))

    def submit(self, fq: coordinator_pb2.FederatedQuery) -> coordinator_pb2.FederatedResult:
        """Ask a question county-wide (may spend budget at the nodes)."""
        return self.stub.Submit(fq, timeout=120)

    def fetch(self, query_id: str) -> coordinator_pb2.FederatedResult | None:
        """A stored result by id, or None if that id was never asked (spends nothing)."""
        try:
            return self.stub.Result(coordinator_pb2.ResultRequest(query_id=query_id), timeout=30)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    def recent(self, prefix: str, limit: int) -> list[coordinator_pb2.FederatedResult]:
        """The newest stored results whose ids start with `prefix` that this caller may read (spends nothing)."""
        reply = self.stub.Results(coordinator_pb2.ResultsRequest(prefix=prefix, limit=limit), timeout=30)
        return list(reply.results)

    def audits(self) -> coordinator_pb2.AuditStatuses:
        """Each node's audit chain verification, asked through the coordinator (IG officers; spends nothing)."""
        return self.stub.Audits(coordinator_pb2.AuditsRequest(), timeout=90)

    def budgets(self) -> coordinator_pb2.CountyBudget:
        """Every node's budget (spends nothing)."""
        return self.stub.Budgets(coordinator_pb2.CountyBudgetRequest(), timeout=60)

    def months(self) -> list[str]:
        """Months every serving node holds."""
        nodes = [n for n in self.stub.Nodes(coordinator_pb2.NodesRequest(), timeout=30).nodes if n.serving]
        if not nodes:
            raise NoServingNodeError("no district node is serving")
        common = set(nodes[0].months).intersection(*(set(n.months) for n in nodes[1:]))
        return sorted(common)
