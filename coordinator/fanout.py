"""Concurrent calls to every selected district node, each with a deadline; failures become 'missing'."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import grpc

from coordinator.config import NodeEntry
from protos.lsi.v1 import node_pb2_grpc
from security.peers import ExpectedPeer, PeerVetting
from security.pki import Role
from security.tls import TlsFiles, channel_credentials

log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass(frozen=True)
class NodeReply(Generic[R]):
    """One node's reply: the message, or why there is none."""

    entry: NodeEntry
    message: R | None
    code: str = ""
    error: str = ""


class NodePool:
    """Open channels to the registered nodes, kept for the coordinator's life (TLS costs only at open)."""

    def __init__(self, nodes: Sequence[NodeEntry], tls: TlsFiles | None, *, recheck_seconds: float = 30.0) -> None:
        self.nodes = {n.district_code: n for n in nodes}
        # gRPC checks only the CA and name of a node's certificate; revocation, expiry, role and district are
        # checked here before each use (cached until the CRL changes or recheck_seconds pass).
        self._vetting = PeerVetting(tls, recheck_seconds=recheck_seconds) if tls is not None else None
        self._channels: dict[str, grpc.Channel] = {}
        self.stubs: dict[str, node_pb2_grpc.NodeStub] = {}
        creds = channel_credentials(tls) if tls is not None else None
        for n in nodes:
            if creds is None:
                channel = grpc.insecure_channel(n.address)
            else:
                # The node's certificate must name it: a node answering with another district's certificate
                # fails the handshake.
                channel = grpc.secure_channel(
                    n.address, creds, options=[("grpc.ssl_target_name_override", n.certificate_name)]
                )
            self._channels[n.district_code] = channel
            self.stubs[n.district_code] = node_pb2_grpc.NodeStub(channel)
        # Room for a few county queries at once (the server runs up to 8 handlers), so one analyst's query does
        # not queue behind another's calls; each call mostly waits on the network.
        self._executor = ThreadPoolExecutor(max_workers=4 * max(1, len(nodes)), thread_name_prefix="fanout")

    def call(
        self, codes: Sequence[str], method: Callable[[node_pb2_grpc.NodeStub, float], R], deadline: float
    ) -> list[NodeReply[R]]:
        """Call `method` on each selected node at once; every reply comes back, in the order asked."""
        futures = {code: self._executor.submit(self._one, code, method, deadline) for code in codes}
        return [futures[code].result() for code in codes]

    def _one(self, code: str, method: Callable[[node_pb2_grpc.NodeStub, float], R], deadline: float) -> NodeReply[R]:
        entry = self.nodes[code]
        if self._vetting is not None:
            problem = self._vetting.problem(
                ExpectedPeer(entry.address, entry.certificate_name, Role.NODE, entry.district_code))
            if problem is not None:
                log.warning("district %s: %s %s", code, problem.code, problem.message)
                return NodeReply(entry, None, code=problem.code, error=problem.message)
        try:
            return NodeReply(entry, method(self.stubs[code], deadline))
        except grpc.RpcError as exc:
            status = exc.code()  # type: ignore[attr-defined]
            detail = exc.details() or ""  # type: ignore[attr-defined]
            if status == grpc.StatusCode.UNAVAILABLE:
                detail = f"unreachable at {entry.address} (down, or its certificate was refused): {detail}"
            elif status == grpc.StatusCode.DEADLINE_EXCEEDED:
                detail = f"no answer within {deadline:g} s"
            log.warning("district %s: %s %s", code, status.name, detail)
            return NodeReply(entry, None, code=status.name, error=detail)

    def close(self) -> None:
        """Close every channel and the worker pool."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        for channel in self._channels.values():
            channel.close()
