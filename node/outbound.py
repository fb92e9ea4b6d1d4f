"""The node's side of outbound-only mode: dial the coordinator, keep a stream open, answer the calls sent on it.

Many council firewalls refuse inbound connections. Such a node dials the coordinator's Connect RPC over mutual
TLS and answers each call on the stream through the very same NodeServicer methods a dialled node runs, so the
checks, charging, replay and receipts are the same. Before each connection the node vets the coordinator as the
coordinator vets a dialled node (county CA, name, role coordinator, the CRL), and every call is checked again
by the servicer's own role check on the coordinator's certificate. A lost stream is re-dialled with back-off."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import grpc
from google.protobuf.message import Message

from common.limits import bounded
from protos.lsi.v1 import coordinator_pb2, coordinator_pb2_grpc, node_pb2, query_pb2
from security.peers import ExpectedPeer, PeerVetting, fetch_server_certificate
from security.pki import Role
from security.tls import TlsFiles, channel_credentials

log = logging.getLogger(__name__)
# Requests a coordinator may send over the stream: only the calls it makes of a dialled node.
REQUESTS: dict[str, type[Message]] = {
    "Describe": node_pb2.DescribeRequest,
    "Query": query_pb2.Query,
    "SecureSetup": node_pb2.SecureSetupRequest,
    "SecureShare": node_pb2.SecureShareRequest,
    "SecureSum": node_pb2.SecureSumRequest,
    "Budget": node_pb2.BudgetRequest,
    "AuditVerify": node_pb2.AuditRequest,
}
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class Aborted(Exception):
    """What context.abort raises for a call answered over the stream."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class StreamContext:
    """A servicer context for one call that came over the stream: the coordinator's verified certificate as the
    peer, its metadata and its deadline."""

    def __init__(self, coordinator_pem: bytes, metadata: tuple[tuple[str, str], ...], timeout: float) -> None:
        self._pem = coordinator_pem
        self._metadata = metadata
        self._end = time.monotonic() + timeout

    def auth_context(self) -> dict[str, list[bytes]]:
        """The peer's certificate, as gRPC gives it to a server."""
        return {"x509_pem_cert": [self._pem]} if self._pem else {}

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        """The call's metadata."""
        return self._metadata

    def time_remaining(self) -> float:
        """Seconds left before the coordinator stops waiting."""
        return max(0.0, self._end - time.monotonic())

    def is_active(self) -> bool:
        """Whether the coordinator still waits for the answer."""
        return time.monotonic() < self._end

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        """End the call with a status, as gRPC's abort does."""
        raise Aborted(code, details)


class OutboundLink:
    """Keeps this node's stream to the coordinator open and answers its calls; runs on a daemon thread."""

    def __init__(
        self,
        servicer: Any,
        address: str,
        server_name: str,
        tls: TlsFiles | None,
        *,
        workers: int = 8,
        max_backoff: float = 5.0,
    ) -> None:
        self.servicer = servicer
        self.address = address
        self.server_name = server_name
        self.tls = tls
        self.max_backoff = max_backoff
        self._stop = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="outbound-call")
        self._vetting = PeerVetting(tls) if tls is not None else None
        self._channel: grpc.Channel | None = None
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbound-link", daemon=True)

    def start(self) -> OutboundLink:
        """Start dialling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the stream and stop re-dialling."""
        self._stop.set()
        channel = self._channel
        if channel is not None:
            channel.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        backoff = 0.25
        while not self._stop.is_set():
            try:
                if self._session():
                    backoff = 0.25  # it was up: dial again at once
            except Exception:  # noqa: BLE001 - whatever ends a session, the node keeps trying
                log.exception("stream to the coordinator at %s failed", self.address)
            self.connected.clear()
            if self._stop.wait(backoff * random.uniform(0.5, 1.0)):
                return
            backoff = min(self.max_backoff, backoff * 2)

    def _session(self) -> bool:
        """One connection: vet the coordinator, open the stream, answer until it ends; whether it was opened."""
        pem = self._coordinator_certificate()
        if pem is None:
            return False
        metadata: tuple[tuple[str, str], ...]
        if self.tls is None:
            channel = grpc.insecure_channel(self.address, options=CHANNEL_OPTIONS)
            metadata = (("lsi-district", getattr(self.servicer.engine.district, "code", "")),)
        else:
            channel = grpc.secure_channel(
                self.address,
                channel_credentials(self.tls),
                options=[("grpc.ssl_target_name_override", self.server_name), *CHANNEL_OPTIONS],
            )
            metadata = ()
        self._channel = channel
        outgoing: queue.Queue[coordinator_pb2.NodeMessage | None] = queue.Queue()
        try:
            calls = coordinator_pb2_grpc.CoordinatorStub(channel).Connect(iter(outgoing.get, None), metadata=metadata)
            for i, call in enumerate(calls):
                if i == 0:
                    log.info("connected to the coordinator at %s (outbound)", self.address)
                self.connected.set()
                self._executor.submit(self._answer, call, pem, outgoing.put)
        except grpc.RpcError as exc:
            log.warning(
                "stream to the coordinator at %s ended: %s %s",
                self.address,
                exc.code().name,
                bounded(exc.details() or ""),
            )
        except RuntimeError:
            pass  # the executor was shut down by stop()
        finally:
            outgoing.put(None)
            channel.close()
        return True

    def _coordinator_certificate(self) -> bytes | None:
        """The coordinator's certificate if it passes every check (else None, logged), or b"" in plaintext."""
        if self.tls is None or self._vetting is None:
            return b""
        expected = ExpectedPeer(self.address, self.server_name, Role.COORDINATOR, None)
        problem = self._vetting.problem(expected)
        if problem is not None:
            log.warning("not connecting to the coordinator at %s: %s", self.address, problem.message)
            return None
        try:
            return fetch_server_certificate(expected, self.tls, timeout=3.0)
        except (OSError, ValueError) as exc:
            log.warning("not connecting to the coordinator at %s: %s", self.address, exc)
            return None

    def _answer(
        self, call: coordinator_pb2.CoordinatorMessage, pem: bytes, send: Callable[[coordinator_pb2.NodeMessage], None]
    ) -> None:
        send(answer(self.servicer, call, pem))


def answer(servicer: Any, call: coordinator_pb2.CoordinatorMessage, pem: bytes) -> coordinator_pb2.NodeMessage:
    """The node's reply to one call from the stream, through the same servicer method a dialled call runs."""
    request_type = REQUESTS.get(call.method)
    if request_type is None:
        return _failed(call, grpc.StatusCode.UNIMPLEMENTED, f"{call.method[:64]!r} is not a call a node answers")
    try:
        request = request_type.FromString(call.request)
    except Exception:  # noqa: BLE001 - malformed bytes are the sender's error
        return _failed(call, grpc.StatusCode.INVALID_ARGUMENT, "the request is not a valid message for this call")
    context = StreamContext(pem, tuple((m.key, m.value) for m in call.metadata), call.timeout_seconds)
    if not context.is_active():
        return _failed(call, grpc.StatusCode.DEADLINE_EXCEEDED, "the call's deadline had passed")
    try:
        reply = getattr(servicer, call.method)(request, context)
    except Aborted as exc:
        return _failed(call, exc.code, exc.details)
    except Exception:  # noqa: BLE001 - as gRPC would: the node's log has it, the caller gets INTERNAL
        log.exception("outbound call %s failed", call.method)
        return _failed(call, grpc.StatusCode.INTERNAL, f"{call.method} failed at this node with an internal error")
    return coordinator_pb2.NodeMessage(call_id=call.call_id, reply=reply.SerializeToString())


def _failed(
    call: coordinator_pb2.CoordinatorMessage, code: grpc.StatusCode, details: str
) -> coordinator_pb2.NodeMessage:
    return coordinator_pb2.NodeMessage(call_id=call.call_id, error_code=code.name, error=bounded(details))
