"""Specification of the checks on every peer's certificate, both directions: revocation, expiry, role, district,
and no certificate under an intermediate CA (the county CA may sign end-entity certificates only)."""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from collections.abc import Iterator  # noqa: E402
from concurrent import futures  # noqa: E402
from pathlib import Path  # noqa: E402

import grpc  # noqa: E402
import pytest  # noqa: E402
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: E402

from security import pki  # noqa: E402
from security.peers import UNREACHABLE, UNTRUSTED, ExpectedPeer, PeerVetting  # noqa: E402
from security.pki import PkiError, Role  # noqa: E402
from security.testing import (  # noqa: E402
    ASHFORD,
    MAIDSTONE,
    TestPki,
    backdate,
    make_test_pki,
    move_under_intermediate,
)
from security.tls import AccessDenied, TlsFiles, caller_from_context, server_credentials  # noqa: E402

NODE = "maidstone-node"
COORDINATOR = "county-coordinator"


@pytest.fixture
def county(tmp_path: Path) -> TestPki:
    return make_test_pki(tmp_path)


def _raw_server_credentials(test_pki: TestPki, name: str) -> grpc.ServerCredentials:
    """Server credentials straight from the files, skipping the checks TlsFiles.read does on our own side."""
    d = test_pki.directory
    return grpc.ssl_server_credentials(
        [((d / f"{name}.key").read_bytes(), (d / f"{name}.crt").read_bytes())],
        root_certificates=(d / pki.CA_CERT).read_bytes(),
        require_client_auth=True,
    )


@pytest.fixture
def serve(county: TestPki) -> Iterator:
    servers: list[grpc.Server] = []

    def start(credentials: grpc.ServerCredentials) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
        port = server.add_secure_port("127.0.0.1:0", credentials)
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(grace=None)


class _Context:
    """The part of a gRPC servicer context caller_from_context reads: the verified peer certificate."""

    def __init__(self, cert_pem: bytes) -> None:
        self._pem = cert_pem

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self._pem]}


def _node(address: str, district: str = MAIDSTONE) -> ExpectedPeer:
    return ExpectedPeer(address, "127.0.0.1", Role.NODE, district)


def _vetting(county: TestPki) -> PeerVetting:
    return PeerVetting(county.files(COORDINATOR), recheck_seconds=3600)


def _raw_health(address: str, test_pki: TestPki, name: str) -> None:
    d = test_pki.directory
    creds = grpc.ssl_channel_credentials(
        (d / pki.CA_CERT).read_bytes(), (d / f"{name}.key").read_bytes(), (d / f"{name}.crt").read_bytes()
    )
    with grpc.secure_channel(address, creds) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)


# --- the client checks the server it dials ----------------------------------------------------------------


def test_a_node_with_a_good_certificate_for_its_district_passes(county: TestPki, serve) -> None:
    address = serve(server_credentials(county.files(NODE)))
    assert _vetting(county).problem(_node(address)) is None


def test_our_own_tls_files_replaced_on_disk_are_used_at_the_next_check(county: TestPki, serve, tmp_path: Path) -> None:
    address = serve(server_credentials(county.files(NODE)))
    mine = tmp_path / "mine"
    mine.mkdir()
    files = TlsFiles(ca=mine / "ca.crt", cert=mine / "me.crt", key=mine / "me.key")
    for target, source in ((files.ca, county.ca), (files.cert, county.directory / f"{COORDINATOR}.crt")):
        target.write_bytes(source.read_bytes())
    files.key.write_bytes((county.directory / f"{COORDINATOR}.key").read_bytes())
    vetting = PeerVetting(files, recheck_seconds=0)
    assert vetting.problem(_node(address)) is None
    # Trusting another CA from now on: the cached TLS context must not keep trusting the county's.
    files.ca.write_bytes((county.foreign_directory / pki.CA_CERT).read_bytes() + b"\n")
    assert vetting.problem(_node(address)) is not None


def test_a_revoked_node_is_not_trusted_and_the_reason_says_so(county: TestPki, serve) -> None:
    address = serve(server_credentials(county.files(NODE)))
    county.revoke(NODE)
    problem = _vetting(county).problem(_node(address))
    assert problem is not None and problem.code == UNTRUSTED
    assert "revoked by the county CA" in problem.message


def test_a_node_revoked_after_passing_is_refused_at_the_next_check(county: TestPki, serve) -> None:
    address = serve(server_credentials(county.files(NODE)))
    vetting = _vetting(county)
    assert vetting.problem(_node(address)) is None
    county.revoke(NODE)
    problem = vetting.problem(_node(address))
    assert problem is not None and "revoked" in problem.message


def test_a_node_presenting_another_districts_certificate_is_not_trusted(county: TestPki, serve) -> None:
    address = serve(server_credentials(county.files(NODE)))
    problem = _vetting(county).problem(_node(address, district=ASHFORD))
    assert problem is not None and problem.code == UNTRUSTED
    assert MAIDSTONE in problem.message and ASHFORD in problem.message


def test_a_server_with_a_certificate_for_another_role_is_not_trusted_as_a_node(county: TestPki, serve) -> None:
    pki.issue(county.directory, "impostor", Role.COORDINATOR)
    address = serve(server_credentials(TlsFiles.for_identity(county.directory, "impostor")))
    problem = _vetting(county).problem(_node(address))
    assert problem is not None and "role 'coordinator'" in problem.message


def test_a_node_with_an_expired_certificate_is_not_trusted(county: TestPki, serve) -> None:
    backdate(county.directory, NODE)
    address = serve(_raw_server_credentials(county, NODE))
    problem = _vetting(county).problem(_node(address))
    assert problem is not None and problem.code == UNTRUSTED
    assert "expired" in problem.message


def test_a_node_with_a_certificate_under_an_intermediate_ca_is_not_trusted(county: TestPki, serve) -> None:
    move_under_intermediate(county.directory, NODE)
    address = serve(_raw_server_credentials(county, NODE))
    problem = _vetting(county).problem(_node(address))
    assert problem is not None and problem.code == UNTRUSTED
    assert "path length" in problem.message


def test_a_node_that_is_down_is_reported_unreachable(county: TestPki, serve) -> None:
    address = serve(server_credentials(county.files(NODE)))
    port = int(address.rsplit(":", 1)[1])
    problem = _vetting(county).problem(_node(f"127.0.0.1:{port + 1 if port < 65535 else port - 1}"))
    assert problem is not None and problem.code == UNREACHABLE


def test_a_missing_revocation_list_fails_closed(county: TestPki, serve) -> None:
    address = serve(server_credentials(county.files(NODE)))
    vetting = _vetting(county)
    (county.directory / pki.CRL_FILE).unlink()
    problem = vetting.problem(_node(address))
    assert problem is not None and "revocation list" in problem.message


# --- the server checks the client that calls ------------------------------------------------------------


def test_a_server_refuses_a_client_with_an_expired_certificate(county: TestPki, serve) -> None:
    address = serve(server_credentials(county.files(NODE)))
    backdate(county.directory, COORDINATOR)
    with pytest.raises(grpc.RpcError) as err:
        _raw_health(address, county, COORDINATOR)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_caller_with_a_certificate_under_an_intermediate_ca_is_denied(county: TestPki) -> None:
    # gRPC's TLS library lets such a chain through the handshake, so the check is in caller_from_context.
    move_under_intermediate(county.directory, COORDINATOR)
    context = _Context((county.directory / f"{COORDINATOR}.crt").read_bytes())
    with pytest.raises(AccessDenied, match="intermediate CA"):
        caller_from_context(context, files=county.files(NODE))  # type: ignore[arg-type]


def test_a_caller_with_a_certificate_from_the_county_ca_itself_is_admitted(county: TestPki) -> None:
    context = _Context((county.directory / f"{COORDINATOR}.crt").read_bytes())
    assert caller_from_context(context, files=county.files(NODE)).name == COORDINATOR  # type: ignore[arg-type]


def test_a_server_accepts_the_same_client_before_it_is_tampered_with(county: TestPki, serve) -> None:
    address = serve(server_credentials(county.files(NODE)))
    _raw_health(address, county, COORDINATOR)


# --- our own side ----------------------------------------------------------------------------------------


def test_our_own_expired_certificate_is_refused_before_dialling(county: TestPki) -> None:
    backdate(county.directory, COORDINATOR)
    with pytest.raises(PkiError, match="expired"):
        county.files(COORDINATOR).read()


def test_our_own_certificate_under_an_intermediate_ca_is_refused(county: TestPki) -> None:
    move_under_intermediate(county.directory, COORDINATOR)
    with pytest.raises(PkiError, match="not issued by the CA"):
        county.files(COORDINATOR).read()


def test_a_passed_check_is_never_trusted_longer_than_recheck_seconds(county: TestPki, serve) -> None:
    address = serve(server_credentials(county.files(NODE)))
    now = [0.0]
    vetting = PeerVetting(county.files(COORDINATOR), recheck_seconds=30, clock=lambda: now[0])
    held = []
    for _ in range(20):  # each pass holds for a random part of recheck_seconds, spreading a county's rechecks
        now[0] += 1000.0
        assert vetting.problem(_node(address)) is None
        start = now[0]
        while vetting.passed(_node(address)):
            now[0] += 0.5
        held.append(now[0] - start)
    assert all(15.0 <= h <= 30.0 for h in held)
    assert len(set(held)) > 1
