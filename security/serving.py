"""Starting and stopping a gRPC server: mutual TLS unless plaintext is asked for loudly, health, graceful drain."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from security.tls import TlsFiles, server_credentials, warn_plaintext


def start_server(
    add_servicers: Callable[[grpc.Server], None], *, listen: str, tls: TlsFiles | None, service_name: str,
    plaintext: bool = False, max_workers: int = 8,
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A started server with its services and the standard health service; returns it, its port and health."""
    if not plaintext and tls is None:
        raise ValueError("the configuration has no [tls] section; mutual TLS is required "
                         "(plaintext only with --insecure-plaintext-dangerous)")
    # gRPC shares ports (SO_REUSEPORT) by default: a second server on the same port would silently take half the
    # calls. Off, a clash fails here instead.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=service_name),
                         options=[("grpc.so_reuseport", 0)])
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


def serve_forever(server: grpc.Server, health_servicer: health.HealthServicer,
                  on_stop: Callable[[], None] | None = None) -> None:
    """Block until SIGTERM or SIGINT, then mark NOT_SERVING, drain in-flight calls and stop."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    health_servicer.enter_graceful_shutdown()
    server.stop(grace=5).wait()
    if on_stop:
        on_stop()
