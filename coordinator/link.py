"""How the coordinator reaches one node, whichever side dialled: the link interface and its error."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from google.protobuf.message import Message

from coordinator.config import NodeEntry

Metadata = tuple[tuple[str, str], ...]


class LinkError(Exception):
    """Why a call to a node failed: a gRPC status name and a sentence."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class NodeLink(Protocol):
    """How the coordinator reaches one node, whichever side dialled."""

    entry: NodeEntry

    def start(self, method: str, request: Message, timeout: float, metadata: Metadata) -> Future:
        """Start one call; the future holds the reply message or raises LinkError."""
        ...

    def close(self) -> None:
        """Release the link's connection."""
        ...
