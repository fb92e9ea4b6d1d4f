"""Starting and stopping a gRPC server: mutual TLS unless plaintext is asked for loudly, health, graceful drain."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from common.limits import bounded
from security.tls import TlsFiles, server_credentials, warn_plaintext

log = logging.getLogger(__name__)
# Seconds in-flight calls get to finish after SIGTERM; with the rest of the stop, well inside 5 s.
STOP_GRACE_SECONDS = 3.0
# The most calls a server runs at once; beyond it gRPC answers RESOURCE_EXHAUSTED at once rather than queueing.
MAX_CONCURRENT_RPCS = 1_000


class Malformed:
    """What a request that is not valid protobuf bytes deserializes to, so it can be refused as INVALID_ARGUMENT
    (gRPC itself answers INTERNAL when a deserializer fails)."""


MALFORMED = Malformed()


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # noqa: BLE001 - any parse failure is the caller's malformed bytes
            return MALFORMED

    return parse


MALFORMED_MESSAGE = "the request is not a valid message for this call (malformed protobuf bytes)"


class BoundedContext:
    """A servicer context whose error messages are cut to a bounded size, so none outgrows gRPC's metadata."""

    def __init__(self, context: grpc.ServicerContext) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        """Abort with the message bounded."""
        self._context.abort(code, bounded(details))

    def set_details(self, details: str) -> None:
        """Set the message, bounded."""
        self._context.set_details(bounded(details))


def _unary(behaviour: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def run(request: Any, context: grpc.ServicerContext) -> Any:
        if request is MALFORMED:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED_MESSAGE)
        return behaviour(request, BoundedContext(context))

    return run


def _streaming(behaviour: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def run(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        def checked() -> Iterator[Any]:
            for request in requests:
                if request is MALFORMED:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED_MESSAGE)
                yield request

        return behaviour(checked(), BoundedContext(context))

    return run


class InputGuard(grpc.ServerInterceptor):
    """Malformed bytes get INVALID_ARGUMENT, and every error message sent is bounded in size."""

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        """Wrap the method's handler (the health service's too)."""
        handler = continuation(handler_call_details)
        if handler is None or not hasattr(handler, "_replace"):
            return handler
        parse = _tolerant(handler.request_deserializer)
        if handler.unary_unary is not None:
            return handler._replace(request_deserializer=parse, unary_unary=_unary(handler.unary_unary))
        if handler.unary_stream is not None:
            return handler._replace(request_deserializer=parse, unary_stream=_unary(handler.unary_stream))
        if handler.stream_stream is not None:
            return handler._replace(request_deserializer=parse, stream_stream=_streaming(handler.stream_stream))
        if handler.stream_unary is not None:
            return handler._replace(request_deserializer=parse, stream_unary=_streaming(handler.stream_unary))
        return handler


def start_server(
    add_servicers: Callable[[grpc.Server], None],
    *,
    listen: str,
    tls: TlsFiles | None,
    service_name: str,
    plaintext: bool = False,
    max_workers: int = 8,
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A started server with its services and the standard health service; returns it, its port and health."""
    if not plaintext and tls is None:
        raise ValueError(
            "the configuration has no [tls] section; mutual TLS is required "
            "(plaintext only with --insecure-plaintext-dangerous)"
        )
    # gRPC shares ports (SO_REUSEPORT) by default: a second server on the same port would silently take half the
    # calls. Off, a clash fails here instead.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=service_name),
        options=[("grpc.so_reuseport", 0)],
        interceptors=[InputGuard()],
        maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
    )
    add_servicers(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if plaintext:
        warn_plaintext()
        port = server.add_insecure_port(listen)
    else:
        assert tls is not None
        port = server.add_secure_port(listen, server_credentials(tls))
    if port == 0:
        raise OSError(f"could not listen on {listen}: the address is in use or not available")
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(service_name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


def serve_forever(
    server: grpc.Server, health_servicer: health.HealthServicer, on_stop: Callable[[], None] | None = None
) -> None:
    """Block until SIGTERM or SIGINT, then mark NOT_SERVING, drain in-flight calls and stop (within 5 s)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    health_servicer.enter_graceful_shutdown()
    server.stop(grace=STOP_GRACE_SECONDS).wait()
    if on_stop:
        on_stop()
    # A handler still running after the grace (e.g. waiting on a hung district) would keep the process alive,
    # since Python joins worker threads at exit. Every ledger write is one SQLite transaction, which an exit
    # mid-way rolls back whole, so leaving now loses nothing and half-writes nothing.
    log.info("stopped")
    logging.shutdown()
    os._exit(0)
