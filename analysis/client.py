"""Client connections (the CLI, later the dashboard): a coordinator or node stub over mutual TLS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from protos.lsi.v1 import coordinator_pb2_grpc, node_pb2_grpc
from security.tls import TlsFiles, channel_credentials, warn_plaintext


@dataclass(frozen=True)
class Endpoint:
    """Where to connect and as whom."""

    address: str
    pki_dir: Path | None
    identity: str | None
    server_name: str | None = None
    plaintext: bool = False

    def channel(self) -> grpc.Channel:
        """A channel with mutual TLS (or, only when asked for loudly, plaintext)."""
        if self.plaintext:
            warn_plaintext()
            return grpc.insecure_channel(self.address)
        if self.pki_dir is None or self.identity is None:
            raise ValueError("mutual TLS needs --pki DIR and --identity NAME (or LSI_PKI and LSI_IDENTITY)")
        files = TlsFiles.for_identity(self.pki_dir, self.identity)
        options = [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
        return grpc.secure_channel(self.address, channel_credentials(files), options=options)


def coordinator_stub(endpoint: Endpoint) -> coordinator_pb2_grpc.CoordinatorStub:
    """A stub for the county coordinator."""
    return coordinator_pb2_grpc.CoordinatorStub(endpoint.channel())


def node_stub(endpoint: Endpoint) -> node_pb2_grpc.NodeStub:
    """A stub for one district node (IG officers only)."""
    return node_pb2_grpc.NodeStub(endpoint.channel())
