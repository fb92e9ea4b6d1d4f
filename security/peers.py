"""Checks on the servers we dial: revocation, expiry, role and district of the certificate a server presents.

gRPC lets a client say which CA and which name to trust, but gives it no hook into the server's certificate, so a
revoked node would still be trusted. Before a channel is used, a stdlib TLS handshake (same CA, same client
certificate, same name) fetches the server's certificate and these checks run on it. A server that passes is
trusted until the CRL file changes or (at the most) `recheck_seconds` pass; a server that fails is checked again on
every call, so a node that comes back (or is reissued a certificate) is used again straight away."""

from __future__ import annotations

import datetime as dt
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from security import pki
from security.pki import PkiError, Role
from security.tls import TlsFiles, Verdict, current_crl, diagnose, split_address

# A status name for the coordinator's "missing" list: the server was reached but its certificate is not one we
# may use. Deliberately not one a node itself returns, so it is never mistaken for the node refusing the query.
UNTRUSTED = "UNAUTHENTICATED"
UNREACHABLE = "UNAVAILABLE"
_NOT_REACHED = frozenset(
    {
        Verdict.REFUSED,
        Verdict.TIMEOUT,
        Verdict.UNRESOLVED,
        Verdict.UNREACHABLE,
        Verdict.BAD_ADDRESS,
        Verdict.NOT_TLS,
        Verdict.TLS_FAILED,
    }
)


@dataclass(frozen=True)
class ExpectedPeer:
    """Whom we mean to reach: the address, the name its certificate must carry, its role and its district."""

    address: str
    server_name: str
    role: Role
    district: str | None = None


@dataclass(frozen=True)
class PeerProblem:
    """Why a server must not be used: a gRPC status name and a sentence for the officer reading the gap."""

    code: str
    message: str


def certificate_problem(
    cert_pem: bytes,
    expected: ExpectedPeer,
    ca: x509.Certificate,
    crl: x509.CertificateRevocationList | None,
    now: dt.datetime,
) -> str | None:
    """What is wrong with a server's (already chain-verified) certificate for this peer, or None."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    name = cert.subject.rfc4514_string()
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return f"its certificate ({name}) was not issued directly by the county CA (an intermediate CA is not allowed)"
    if crl is not None and pki.is_revoked_by(crl, cert_pem):
        return f"its certificate ({name}) has been revoked by the county CA"
    if cert.not_valid_after_utc < now:
        return f"its certificate ({name}) expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    if cert.not_valid_before_utc > now:
        return f"its certificate ({name}) is not valid until {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    try:
        role, district = pki.read_role(cert_pem), pki.read_district(cert_pem)
    except PkiError as exc:
        return f"its certificate carries no usable identity: {exc}"
    if role is not expected.role:
        return f"its certificate is for role {role.value!r}, not {expected.role.value!r}"
    if district != expected.district:
        return (
            f"its certificate is for district {district or 'none'}, but it is registered as "
            f"{expected.district or 'county-wide'}"
        )
    return None


def fetch_server_certificate(expected: ExpectedPeer, files: TlsFiles, timeout: float) -> bytes:
    """The PEM certificate the server at expected.address presents, verified against the county CA and name."""
    host, port = split_address(expected.address)
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        _contexts.get(files).wrap_socket(sock, server_hostname=expected.server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server presented no certificate")
    return ssl.DER_cert_to_PEM_cert(der).encode()


_Stamp = tuple[tuple[int, int, int], ...]


def _stamp(*paths: Path | str) -> _Stamp:
    """Inode, mtime and size of each file: a replaced or rewritten file (a reissued certificate) changes it."""
    stats = [os.stat(p) for p in paths]
    return tuple((s.st_ino, s.st_mtime_ns, s.st_size) for s in stats)


class _FileCache:
    """One value built from some files, rebuilt whenever any of them changes.

    A coordinator vets 300 nodes every recheck; building an SSL context (reading and parsing the CA, our
    certificate and key) or parsing the CA for each check was most of a check's CPU outside the handshake."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[object, ...], tuple[_Stamp, object]] = {}

    def get(self, key: tuple[object, ...], paths: tuple[Path | str, ...], build: Callable[[], object]) -> object:
        stamp = _stamp(*paths)
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        value = build()
        with self._lock:
            self._entries[key] = (stamp, value)
        return value


class _ClientContexts:
    """A client SSL context per set of TLS files (SSLContext is safe to share between threads)."""

    def __init__(self) -> None:
        self._cache = _FileCache()

    def get(self, files: TlsFiles) -> ssl.SSLContext:
        paths = (files.ca, files.cert, files.key)
        context = self._cache.get(("context", *paths), paths, lambda: _client_context(files))
        assert isinstance(context, ssl.SSLContext)
        return context

    def ca(self, files: TlsFiles) -> x509.Certificate:
        """The county CA certificate, parsed once per version of the file."""
        ca = self._cache.get(
            ("ca", files.ca), (files.ca,), lambda: x509.load_pem_x509_certificate(Path(files.ca).read_bytes())
        )
        assert isinstance(ca, x509.Certificate)
        return ca


def _client_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Chain, expiry, path length and the name are all checked by OpenSSL here, as gRPC does for the channel.
    context.load_verify_locations(cafile=str(files.ca))
    context.load_cert_chain(certfile=str(files.cert), keyfile=str(files.key))
    context.set_alpn_protocols(["h2"])
    return context


_contexts = _ClientContexts()


class PeerVetting:
    """Cached checks of dialled servers; thread-safe, since the coordinator fans out from a pool."""

    def __init__(
        self,
        files: TlsFiles,
        *,
        recheck_seconds: float = 30.0,
        timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.files = files
        self.recheck_seconds = recheck_seconds
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        # peer -> (the CRL object it was checked against, when it must be checked again): the CRL cache hands out a
        # new object on change.
        self._passed: dict[ExpectedPeer, tuple[object, float]] = {}

    def problem(self, expected: ExpectedPeer) -> PeerProblem | None:
        """Why this server must not be used now, or None if its certificate passes every check."""
        try:
            crl = current_crl(self.files)
        except PkiError as exc:
            # Fail closed, as servers do for callers: without the CRL we cannot tell a revoked node from a good one.
            return PeerProblem(
                UNTRUSTED, f"not asked: cannot check its certificate against the revocation list ({exc})"
            )
        if self._fresh(expected, crl):
            return None
        found = self._check(expected, crl)
        with self._lock:
            if found is None:
                # Each check holds for a random 50-100% of recheck_seconds (never longer), so a coordinator with
                # hundreds of nodes rechecks them spread out, not all in the same county query.
                holds = self.recheck_seconds * (0.5 + random.random() / 2)
                self._passed[expected] = (crl, self._clock() + holds)
            else:
                self._passed.pop(expected, None)
        return found

    def passed(self, expected: ExpectedPeer) -> bool:
        """Whether this server passed a check that still holds (same CRL, within recheck_seconds): no handshake."""
        try:
            crl = current_crl(self.files)
        except PkiError:
            return False  # problem() says why
        return self._fresh(expected, crl)

    def _fresh(self, expected: ExpectedPeer, crl: x509.CertificateRevocationList | None) -> bool:
        with self._lock:
            passed = self._passed.get(expected)
        return passed is not None and passed[0] is crl and self._clock() < passed[1]

    def forget(self, expected: ExpectedPeer) -> None:
        """Check this peer afresh next time (e.g. after a call to it failed as unreachable)."""
        with self._lock:
            self._passed.pop(expected, None)

    def _check(self, expected: ExpectedPeer, crl: x509.CertificateRevocationList | None) -> PeerProblem | None:
        try:
            cert_pem = fetch_server_certificate(expected, self.files, self.timeout)
        except (OSError, ValueError):
            # ssl.SSLError is an OSError. diagnose repeats the attempt only on this failure path, to say why.
            reason = diagnose(expected.address, self.files, self.timeout, server_name=expected.server_name)
            code = UNREACHABLE if reason.verdict in _NOT_REACHED else UNTRUSTED
            return PeerProblem(code, f"not asked: {reason.message}")
        ca = _contexts.ca(self.files)
        found = certificate_problem(cert_pem, expected, ca, crl, dt.datetime.now(dt.UTC))
        if found is None:
            return None
        return PeerProblem(UNTRUSTED, f"not asked: the server at {expected.address} is not trusted: {found}")
