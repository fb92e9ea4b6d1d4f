"""Specification of mutual TLS over real gRPC on loopback: who gets in, who is refused, and why."""

from __future__ import annotations

import os

# Handshake failures are the point of several tests; keep gRPC's own logging of them quiet.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import logging  # noqa: E402
import socket  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from concurrent import futures  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import grpc  # noqa: E402
import pytest  # noqa: E402
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: E402

from security import pki  # noqa: E402
from security.pki import PkiError, Role  # noqa: E402
from security.testing import TestPki, make_test_pki  # noqa: E402
from security.tls import (  # noqa: E402
    PLAINTEXT_FLAG,
    TlsFiles,
    Verdict,
    caller_from_context,
    channel_credentials,
    diagnose,
    diagnose_connection,
    insecure_channel,
    require_role,
    server_credentials,
)

NODE = "maidstone-node"
COORDINATOR_ONLY = "/lsi.test.Probe/CoordinatorOnly"
WHO_AM_I = "/lsi.test.Probe/WhoAmI"


@dataclass(frozen=True)
class Running:
    pki: TestPki
    address: str
    server_files: TlsFiles


def _probe_handler(files: TlsFiles) -> grpc.GenericRpcHandler:
    def coordinator_only(request: bytes, context: grpc.ServicerContext) -> bytes:
        return require_role(context, Role.COORDINATOR, files=files).name.encode()

    def who_am_i(request: bytes, context: grpc.ServicerContext) -> bytes:
        caller = caller_from_context(context, files=files)
        return f"{caller.name}/{caller.role.value}".encode()

    # No (de)serialisers: requests and responses are raw bytes, so no generated stubs are needed.
    return grpc.method_handlers_generic_handler(
        "lsi.test.Probe",
        {
            "CoordinatorOnly": grpc.unary_unary_rpc_method_handler(coordinator_only),
            "WhoAmI": grpc.unary_unary_rpc_method_handler(who_am_i),
        },
    )


def _start(files: TlsFiles) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    server.add_generic_rpc_handlers((_probe_handler(files),))
    port = server.add_secure_port("127.0.0.1:0", server_credentials(files))
    server.start()
    return server, port


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    test_pki = make_test_pki(tmp_path)
    files = test_pki.files(NODE)
    server, port = _start(files)
    try:
        yield Running(test_pki, f"127.0.0.1:{port}", files)
    finally:
        server.stop(grace=None)


def _channel(address: str, credentials: grpc.ChannelCredentials) -> grpc.Channel:
    return grpc.secure_channel(address, credentials)


def _health(address: str, credentials: grpc.ChannelCredentials) -> int:
    with _channel(address, credentials) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status


def _call(address: str, files: TlsFiles, method: str, metadata: tuple[tuple[str, str], ...] = ()) -> bytes:
    with _channel(address, channel_credentials(files)) as channel:
        return channel.unary_unary(method)(b"", timeout=5, metadata=metadata)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- who can connect -------------------------------------------------------------------------------


def test_client_with_a_county_certificate_connects(running: Running) -> None:
    credentials = channel_credentials(running.pki.files("county-coordinator"))
    assert _health(running.address, credentials) == health_pb2.HealthCheckResponse.SERVING


def test_client_certificate_from_a_foreign_ca_is_rejected(running: Running) -> None:
    intruder = running.pki.intruder
    # The intruder trusts the county CA (so it accepts the server) but presents a foreign certificate;
    # raw grpc credentials, because channel_credentials() would already refuse this mix locally.
    credentials = grpc.ssl_channel_credentials(
        root_certificates=running.pki.ca.read_bytes(),
        private_key=intruder.key_path.read_bytes(),
        certificate_chain=intruder.cert_path.read_bytes(),
    )
    with pytest.raises(grpc.RpcError) as excinfo:
        _health(running.address, credentials)
    assert excinfo.value.code() is grpc.StatusCode.UNAVAILABLE


def test_client_without_a_certificate_is_rejected(running: Running) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=running.pki.ca.read_bytes())
    with pytest.raises(grpc.RpcError) as excinfo:
        _health(running.address, credentials)
    assert excinfo.value.code() is grpc.StatusCode.UNAVAILABLE


def test_client_refuses_a_server_whose_certificate_is_from_a_foreign_ca(running: Running) -> None:
    with pytest.raises(grpc.RpcError) as excinfo:
        _health(running.address, channel_credentials(running.pki.files("intruder")))
    assert excinfo.value.code() is grpc.StatusCode.UNAVAILABLE


# --- who may do what -------------------------------------------------------------------------------


def test_caller_identity_comes_from_the_certificate(running: Running) -> None:
    answer = _call(running.address, running.pki.files("analyst-alice"), WHO_AM_I)
    assert answer == b"analyst-alice/analyst"


def test_require_role_admits_an_allowed_role(running: Running) -> None:
    answer = _call(running.address, running.pki.files("county-coordinator"), COORDINATOR_ONLY)
    assert answer == b"county-coordinator"


def test_require_role_denies_another_role_naming_caller_role_and_allowed_roles(running: Running) -> None:
    with pytest.raises(grpc.RpcError) as excinfo:
        _call(running.address, running.pki.files("analyst-alice"), COORDINATOR_ONLY)
    assert excinfo.value.code() is grpc.StatusCode.PERMISSION_DENIED
    details = excinfo.value.details()
    assert "analyst-alice" in details and "'analyst'" in details and "coordinator" in details


def test_role_claimed_in_metadata_is_ignored(running: Running) -> None:
    metadata = (("x-lsi-role", "coordinator"), ("x-lsi-name", "county-coordinator"))
    with pytest.raises(grpc.RpcError) as excinfo:
        _call(running.address, running.pki.files("analyst-alice"), COORDINATOR_ONLY, metadata)
    assert excinfo.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_revoked_client_is_denied_without_restarting_the_server(running: Running) -> None:
    coordinator = running.pki.files("county-coordinator")
    assert _call(running.address, coordinator, COORDINATOR_ONLY) == b"county-coordinator"
    running.pki.revoke("county-coordinator")
    with pytest.raises(grpc.RpcError) as excinfo:
        _call(running.address, coordinator, COORDINATOR_ONLY)
    assert excinfo.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "revoked" in excinfo.value.details()


def test_missing_revocation_list_fails_closed(running: Running) -> None:
    assert running.server_files.crl is not None
    running.server_files.crl.unlink()
    with pytest.raises(grpc.RpcError) as excinfo:
        _call(running.address, running.pki.files("county-coordinator"), COORDINATOR_ONLY)
    assert excinfo.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "crl.pem" in excinfo.value.details()


# --- telling failures apart ------------------------------------------------------------------------


def test_diagnose_reports_nothing_listening(tmp_path: Path) -> None:
    test_pki = make_test_pki(tmp_path)
    diagnosis = diagnose(f"127.0.0.1:{_free_port()}", test_pki.files("county-coordinator"), timeout=2)
    assert diagnosis.verdict is Verdict.REFUSED
    assert "Nothing is listening" in diagnosis.message


def test_diagnose_reports_an_untrusted_server_certificate(running: Running) -> None:
    diagnosis = diagnose(running.address, running.pki.files("intruder"), timeout=2)
    assert diagnosis.verdict is Verdict.SERVER_UNTRUSTED
    assert "TLS handshake" in diagnosis.message and "not trusted" in diagnosis.message


def test_diagnose_reports_a_rejected_client_certificate(tmp_path: Path) -> None:
    test_pki = make_test_pki(tmp_path)
    node = test_pki.nodes[NODE]
    # A misconfigured node: its own certificate is fine, but it trusts the wrong CA for its clients.
    credentials = grpc.ssl_server_credentials(
        [(node.key_path.read_bytes(), node.cert_path.read_bytes())],
        root_certificates=(test_pki.foreign_directory / "ca.crt").read_bytes(),
        require_client_auth=True,
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        diagnosis = diagnose(f"127.0.0.1:{port}", test_pki.files("county-coordinator"), timeout=2)
    finally:
        server.stop(grace=None)
    assert diagnosis.verdict is Verdict.CLIENT_REJECTED
    assert "does not accept this client certificate" in diagnosis.message


def test_diagnose_reports_a_server_certificate_without_the_dialled_name(tmp_path: Path) -> None:
    test_pki = make_test_pki(tmp_path)
    pki.issue(test_pki.directory, "remote-node", Role.NODE, hosts=("remote.example.gov.uk",), district="E07000113")
    server, port = _start(TlsFiles.for_identity(test_pki.directory, "remote-node"))
    try:
        diagnosis = diagnose(f"127.0.0.1:{port}", test_pki.files("county-coordinator"), timeout=2)
    finally:
        server.stop(grace=None)
    assert diagnosis.verdict is Verdict.NAME_MISMATCH
    assert "127.0.0.1" in diagnosis.message


def test_diagnose_checks_the_overridden_server_name(running: Running) -> None:
    files = running.pki.files("county-coordinator")
    diagnosis = diagnose(running.address, files, timeout=2, server_name="maidstone.example.gov.uk")
    assert diagnosis.verdict is Verdict.NAME_MISMATCH
    assert "maidstone.example.gov.uk" in diagnosis.message


def test_diagnose_confirms_a_working_connection(running: Running) -> None:
    message = diagnose_connection(running.address, running.pki.files("county-coordinator"), timeout=2)
    assert message.startswith("TLS to") and "works" in message


def test_diagnose_warns_that_a_working_but_revoked_certificate_will_be_refused(running: Running) -> None:
    running.pki.revoke("county-coordinator")
    diagnosis = diagnose(running.address, running.pki.files("county-coordinator"), timeout=2)
    assert diagnosis.verdict is Verdict.REVOKED
    assert "revocation list" in diagnosis.message


def test_diagnose_explains_an_address_without_a_port(running: Running) -> None:
    diagnosis = diagnose("127.0.0.1", running.pki.files("county-coordinator"), timeout=2)
    assert diagnosis.verdict is Verdict.BAD_ADDRESS
    assert "needs a port" in diagnosis.message


# --- configuration mistakes ------------------------------------------------------------------------


def test_missing_key_file_is_named_in_the_error(running: Running) -> None:
    files = running.pki.files("analyst-alice")
    files.key.unlink()
    with pytest.raises(PkiError, match="analyst-alice.key does not exist"):
        channel_credentials(files)


def test_key_that_does_not_match_the_certificate_is_refused(running: Running) -> None:
    alice = running.pki.analyst
    files = TlsFiles(ca=running.pki.ca, cert=alice.cert_path, key=running.pki.coordinator.key_path)
    with pytest.raises(PkiError, match="does not belong"):
        server_credentials(files)


def test_plaintext_channel_needs_the_dangerous_flag() -> None:
    with pytest.raises(ValueError, match=PLAINTEXT_FLAG):
        insecure_channel("127.0.0.1:1", flag="--insecure")


def test_plaintext_channel_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), insecure_channel("127.0.0.1:1", flag=PLAINTEXT_FLAG):
        pass
    assert "NO AUTHENTICATION" in caplog.text
