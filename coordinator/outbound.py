"""The coordinator's side of an outbound-only node: calls sent down the stream the node opened, replies matched.

A node behind a firewall that refuses inbound connections dials the coordinator's Connect RPC over mutual TLS.
Its certificate must be a node certificate for the district, and its name the one registered for it; each call
re-checks it against the current CRL, as a dialled node's is. To the fan-out it is one more link."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future

from google.protobuf.message import Message

from common.limits import bounded
from coordinator.config import NodeEntry
from coordinator.link import LinkError, Metadata
from protos.lsi.v1 import coordinator_pb2, node_pb2, query_pb2
from security.tls import AccessDenied, TlsFiles, caller_from_certificate, peer_certificate

log = logging.getLogger(__name__)
# The reply type of each Node method a node answers over its stream (only what the coordinator itself calls).
REPLIES: dict[str, type[Message]] = {
    "Describe": node_pb2.NodeDescription,
    "Query": query_pb2.Release,
    "SecureSetup": node_pb2.SignedKey,
    "SecureShare": node_pb2.SecureShares,
    "SecureSum": node_pb2.SummedShare,
    "Budget": query_pb2.BudgetStatus,
    "AuditVerify": node_pb2.AuditReport,
}
UNTRUSTED = "PERMISSION_DENIED"
# Calls waiting for their replies on one stream: bounded, so a node that never answers cannot grow memory.
MAX_PENDING = 4_096


class Session:
    """One open stream from a node: outgoing calls queued for it, replies awaited by call id."""

    def __init__(self, context: object, tls: TlsFiles | None) -> None:
        self.context = context
        self.tls = tls
        # The node's certificate is fixed for the stream's life (it was verified in the handshake); it is read once,
        # and checked again (expiry, the CRL) before every call.
        self.peer_pem = peer_certificate(context) if tls is not None else None
        self.outgoing: queue.Queue[coordinator_pb2.CoordinatorMessage | None] = queue.Queue()
        self._pending: dict[int, tuple[str, Future]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.closed = threading.Event()

    def send(self, method: str, request: Message, timeout: float, metadata: Metadata) -> Future:
        """Queue one call for the node; the future completes when its reply arrives."""
        out: Future = Future()
        with self._lock:
            if self.closed.is_set() or len(self._pending) >= MAX_PENDING:
                out.set_exception(_error("UNAVAILABLE", "its stream to the coordinator is closed or full"))
                return out
            call_id = next(self._ids)
            self._pending[call_id] = (method, out)
        out.add_done_callback(lambda _: self._forget(call_id))
        self.outgoing.put(
            coordinator_pb2.CoordinatorMessage(
                call_id=call_id,
                method=method,
                request=request.SerializeToString(),
                timeout_seconds=timeout,
                metadata=[coordinator_pb2.MetadataEntry(key=k, value=v) for k, v in metadata],
            )
        )
        return out

    def deliver(self, message: coordinator_pb2.NodeMessage) -> None:
        """Complete the call a reply answers (a reply to no waiting call, e.g. one past its deadline, is dropped)."""
        with self._lock:
            method, future = self._pending.get(message.call_id, ("", None))
        if future is None or future.done():
            return
        if message.error_code:
            future.set_exception(_error(message.error_code, bounded(message.error)))
            return
        try:
            future.set_result(REPLIES[method].FromString(message.reply))
        except Exception:  # noqa: BLE001 - a node sending bytes that do not parse is a broken reply, not a crash
            future.set_exception(_error("INTERNAL", "the node's reply was not a valid message"))

    def messages(self) -> Iterator[coordinator_pb2.CoordinatorMessage]:
        """The calls to send down the stream, until the session closes."""
        while True:
            item = self.outgoing.get()
            if item is None:
                return
            yield item

    def close(self) -> None:
        """End the stream: every waiting call fails as unavailable."""
        with self._lock:
            self.closed.set()
            waiting = [f for _, f in self._pending.values()]
        self.outgoing.put(None)
        for f in waiting:
            if not f.done():
                f.set_exception(_error("UNAVAILABLE", "its stream to the coordinator closed before it answered"))

    def _forget(self, call_id: int) -> None:
        with self._lock:
            self._pending.pop(call_id, None)


def _error(code: str, detail: str) -> LinkError:

    return LinkError(code, detail)


class StreamLink:
    """A registered outbound node: calls go over its current stream, if it has one open."""

    def __init__(self, entry: NodeEntry, tls: TlsFiles | None) -> None:
        self.entry = entry
        self.tls = tls
        self._session: Session | None = None
        self._lock = threading.Lock()

    def attach(self, session: Session) -> None:
        """Make a newly opened stream the node's current one (an older one is closed)."""
        with self._lock:
            old, self._session = self._session, session
        if old is not None:
            old.close()

    def detach(self, session: Session) -> None:
        """Forget a stream that ended, unless a newer one already replaced it."""
        with self._lock:
            if self._session is session:
                self._session = None
        session.close()

    @property
    def session(self) -> Session | None:
        """The node's current stream, if it has one open."""
        return self._session

    def vet(self) -> LinkError | None:
        """Why the node must not be asked now: no stream open, or its certificate revoked or expired since."""
        session = self._session
        if session is None:
            return _error(
                "UNAVAILABLE",
                f"not connected: the outbound node {self.entry.certificate_name} has no stream open to the coordinator",
            )
        if self.tls is None:
            return None
        try:
            caller_from_certificate(session.peer_pem, files=self.tls)
        except AccessDenied as exc:
            return _error(UNTRUSTED, f"not asked: {exc}")
        return None

    def start(self, method: str, request: Message, timeout: float, metadata: Metadata) -> Future:
        """Send the call down the node's stream."""
        session = self._session
        if session is None:
            out: Future = Future()
            out.set_exception(_error("UNAVAILABLE", "not connected"))
            return out
        return session.send(method, request, timeout, metadata)

    def close(self) -> None:
        """Close the current stream, if any."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()
