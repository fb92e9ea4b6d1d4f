"""Concurrent calls to every selected district node, each with a deadline; failures become 'missing'.

A node is reached through a link: dialled over its own channel (DialledLink) or over the stream an outbound-only
node keeps open (coordinator.outbound.StreamLink). Both start a call and hand back a future, so a county query
holds no thread per district while it waits, and a hung district costs nothing but its own deadline."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, TypeVar

import grpc
from google.protobuf.message import Message

from common.limits import bounded
from coordinator.config import OUTBOUND, NodeEntry
from coordinator.link import LinkError, Metadata
from coordinator.outbound import StreamLink
from protos.lsi.v1 import node_pb2_grpc
from security.peers import ExpectedPeer, PeerVetting
from security.pki import Role
from security.tls import TlsFiles, channel_credentials

log = logging.getLogger(__name__)
R = TypeVar("R")
# A node that comes back after an outage is tried again within a second (gRPC's default back-off grows to 120 s).
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
]
# Slack on top of a call's deadline before the coordinator stops waiting for its future (a stream call has
# no gRPC deadline of its own, so this is what ends it).
COLLECT_SLACK_SECONDS = 0.05


@dataclass(frozen=True)
class NodeReply(Generic[R]):
    """One node's reply: the message, or why there is none."""

    entry: NodeEntry
    message: R | None
    code: str = ""
    error: str = ""


class DialledLink:
    """A node the coordinator dials, over a channel kept for the coordinator's life (TLS costs only at open)."""

    def __init__(self, entry: NodeEntry, tls: TlsFiles | None, vetting: PeerVetting | None) -> None:
        self.entry = entry
        self._vetting = vetting
        self._vet_lock = threading.Lock()
        self._checks = 0
        self._last_verdict: LinkError | None = None
        if tls is None:
            self._channel = grpc.insecure_channel(entry.address, options=CHANNEL_OPTIONS)
        else:
            # The node's certificate must name it: a node answering with another district's certificate fails the
            # handshake.
            self._channel = grpc.secure_channel(
                entry.address,
                channel_credentials(tls),
                options=[("grpc.ssl_target_name_override", entry.certificate_name), *CHANNEL_OPTIONS],
            )
        self.stub = node_pb2_grpc.NodeStub(self._channel)

    def vet(self) -> LinkError | None:
        """Why this node must not be asked now (revoked, wrong role or district, unreachable), or None."""
        if self._vetting is None:
            return None
        # One check at a time per node: queries that arrive while one is under way wait for it and share its
        # verdict, instead of each opening a handshake (a hung node would otherwise be re-dialled by every
        # waiting query in turn). A query arriving after it checks afresh (passes are cached by the vetting).
        seen = self._checks
        with self._vet_lock:
            if self._checks != seen:
                return self._last_verdict
            problem = self._vetting.problem(self._expected())
            self._last_verdict = None if problem is None else LinkError(problem.code, problem.message)
            self._checks += 1
            return self._last_verdict

    def vetted(self) -> bool:
        """Whether the node passed a certificate check that still holds, so it may be asked without another."""
        return self._vetting is None or self._vetting.passed(self._expected())

    def _expected(self) -> ExpectedPeer:
        e = self.entry
        return ExpectedPeer(e.address, e.certificate_name, Role.NODE, e.district_code)

    def start(self, method: str, request: Message, timeout: float, metadata: Metadata) -> Future:
        """Start the call on the channel; gRPC's own future carries it, translated on completion."""
        out: Future = Future()
        # The node's certificate was just vetted over a fresh or recent handshake, so wait for the channel to be
        # ready rather than fail at once while it is still backing off from an outage the node has left.
        call = getattr(self.stub, method).future(request, timeout=timeout, metadata=metadata, wait_for_ready=True)

        def done(f: grpc.Future) -> None:
            try:
                out.set_result(f.result())
            except grpc.RpcError as exc:
                error = self._error(exc, timeout)
                if error.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED") and self._vetting is not None:
                    self._vetting.forget(self._expected())  # a node gone down is then found fast, by vetting
                out.set_exception(error)
            except grpc.FutureCancelledError:
                out.set_exception(LinkError("CANCELLED", "the county query was cancelled"))

        out.add_done_callback(lambda f: call.cancel() if f.cancelled() else None)
        call.add_done_callback(done)
        return out

    def _error(self, exc: grpc.RpcError, timeout: float) -> LinkError:
        status = exc.code()
        detail = bounded(exc.details() or "")
        if status == grpc.StatusCode.UNAVAILABLE:
            detail = f"unreachable at {self.entry.address} (down, or its certificate was refused): {detail}"
        elif status == grpc.StatusCode.DEADLINE_EXCEEDED:
            detail = f"no answer within {timeout:.3g} s"
        return LinkError(status.name, detail)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


class NodePool:
    """The links to the registered nodes, and concurrent calls over them with one deadline."""

    def __init__(self, nodes: Sequence[NodeEntry], tls: TlsFiles | None, *, recheck_seconds: float = 30.0) -> None:
        self.nodes = {n.district_code: n for n in nodes}
        self.tls = tls
        # gRPC checks only the CA and name of a node's certificate; revocation, expiry, role and district are
        # checked before each use (cached until the CRL changes or recheck_seconds pass).
        vetting = PeerVetting(tls, recheck_seconds=recheck_seconds) if tls is not None else None
        self.links: dict[str, DialledLink | StreamLink] = {
            n.district_code: StreamLink(n, tls) if n.mode == OUTBOUND else DialledLink(n, tls, vetting) for n in nodes
        }
        # Vetting a dialled node can take a TLS handshake; queries and status calls vet on separate pools, so a
        # district that hangs handshakes slows neither `lsi status` nor another analyst's query.
        self._vetters = {
            kind: ThreadPoolExecutor(max_workers=4 * max(1, len(nodes)), thread_name_prefix=f"vet-{kind}")
            for kind in ("query", "status")
        }
        # At most one check per node and pool is under way; every query that needs it shares it. Were each query to
        # queue its own, a node whose handshakes hang (a frozen process still accepts connections) would fill the
        # pool with checks waiting on it, and the other districts' checks would queue behind them past the deadline.
        self._checking: dict[tuple[str, str], Future] = {}
        self._checking_lock = threading.Lock()

    def call(
        self,
        codes: Sequence[str],
        method: str,
        request: Message | Callable[[str], Message],
        deadline: float,
        *,
        metadata: Callable[[str], Metadata] | None = None,
        kind: str = "query",
        on_start: Callable[[list[Future]], None] | None = None,
    ) -> list[NodeReply]:
        """Call `method` on each selected node at once, within `deadline` seconds; replies in the order asked."""
        end = time.monotonic() + deadline
        # A node whose last check still holds is asked at once, from this thread: handing each of 300 cached
        # verdicts to the vetting pool and back costs two thread switches, each up to the interpreter's 5 ms
        # switch interval when the process is busy.
        checking = {code: self._check(code, kind) for code in codes if self._needs_handshake(code)}
        started: dict[str, Future | NodeReply] = {}
        for code in codes:
            try:
                if code in checking:
                    problem = checking[code].result(timeout=max(0.0, end - time.monotonic()))
                else:
                    problem = self._vet_held(code)
            except FutureTimeout:
                # A handshake that hangs (a frozen process still accepts connections) costs no more than the
                # deadline; the check goes on in the background and its result is cached for next time.
                problem = LinkError(
                    "DEADLINE_EXCEEDED", f"no answer within {deadline:.3g} s (its certificate check did not finish)"
                )
            if problem is not None:
                log.warning("district %s: %s %s", code, problem.code, problem.detail)
                started[code] = NodeReply(self.nodes[code], None, code=problem.code, error=problem.detail)
                continue
            body = request(code) if callable(request) else request
            started[code] = self.links[code].start(
                method, body, max(0.0, end - time.monotonic()), metadata(code) if metadata else ()
            )
        if on_start is not None:
            on_start([f for f in started.values() if isinstance(f, Future)])
        return [self._collect(code, started[code], deadline, end) for code in codes]

    def _needs_handshake(self, code: str) -> bool:
        """Whether the node must be checked over a fresh handshake (a dialled node whose last check has lapsed)."""
        link = self.links[code]
        return isinstance(link, DialledLink) and not link.vetted()

    def _vet_held(self, code: str) -> LinkError | None:
        """The check that needs no network: an outbound node's open stream (its certificate, already verified in
        the handshake, against the CRL now); a dialled node whose check still holds passes."""
        link = self.links[code]
        return link.vet() if isinstance(link, StreamLink) else None

    def _check(self, code: str, kind: str) -> Future:
        """The node's handshake check under way in this pool, started if none is."""
        key = (kind, code)
        with self._checking_lock:
            running = self._checking.get(key)
            if running is not None:
                return running
            future = self._vetters[kind].submit(self.links[code].vet)
            self._checking[key] = future

        def finished(f: Future) -> None:
            with self._checking_lock:
                if self._checking.get(key) is f:
                    del self._checking[key]

        future.add_done_callback(finished)
        return future

    def _collect(self, code: str, started: Future | NodeReply, deadline: float, end: float) -> NodeReply:
        if isinstance(started, NodeReply):
            return started
        entry = self.nodes[code]
        try:
            return NodeReply(entry, started.result(timeout=max(0.0, end - time.monotonic()) + COLLECT_SLACK_SECONDS))
        except FutureTimeout:
            started.cancel()
            error = LinkError("DEADLINE_EXCEEDED", f"no answer within {deadline:.3g} s")
        except LinkError as exc:
            timed_out = exc.code == "DEADLINE_EXCEEDED"
            error = LinkError(exc.code, f"no answer within {deadline:.3g} s") if timed_out else exc
        except Exception as exc:  # noqa: BLE001 - a cancelled future, or a link's bug: the district is missing
            error = LinkError("CANCELLED" if started.cancelled() else "UNKNOWN", bounded(str(exc)) or "cancelled")
        log.warning("district %s: %s %s", code, error.code, error.detail)
        return NodeReply(entry, None, code=error.code, error=error.detail)

    def close(self) -> None:
        """Close every link and the vetting pools."""
        for executor in self._vetters.values():
            executor.shutdown(wait=False, cancel_futures=True)
        for link in self.links.values():
            link.close()
