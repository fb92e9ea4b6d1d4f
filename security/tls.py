"""Mutual TLS for gRPC: credentials, caller identity from the peer certificate, and connection diagnosis."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import ssl
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import cast

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from security import pki
from security.pki import PkiError, Role

logger = logging.getLogger(__name__)

PLAINTEXT_FLAG = "--insecure-plaintext-dangerous"


class AccessDenied(Exception):
    """The caller's certificate does not entitle it to this call; the message says why."""


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files one process needs for mutual TLS, plus the CRL it checks callers against."""

    ca: Path
    cert: Path
    key: Path
    crl: Path | None = None

    @classmethod
    def for_identity(cls, pki_dir: Path, name: str) -> TlsFiles:
        """Files for identity `name` in a PKI folder laid out by security.pki (crl.pem used if present)."""
        pki_dir = Path(pki_dir)
        crl = pki_dir / pki.CRL_FILE
        return cls(
            ca=pki_dir / pki.CA_CERT,
            cert=pki_dir / f"{name}.crt",
            key=pki_dir / f"{name}.key",
            crl=crl if crl.exists() else None,
        )

    def read(self) -> tuple[bytes, bytes, bytes]:
        """Read (ca, cert, key) PEM bytes, checking up front what gRPC would only report as UNAVAILABLE."""
        ca_pem = _read(self.ca, "CA certificate")
        cert_pem = _read(self.cert, "certificate")
        key_pem = _read(self.key, "private key")
        try:
            ca = x509.load_pem_x509_certificate(ca_pem)
            cert = x509.load_pem_x509_certificate(cert_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise PkiError(f"Cannot read the TLS files {self.ca}, {self.cert}, {self.key}: {exc}") from exc
        if _public_der(key.public_key()) != _public_der(cert.public_key()):
            raise PkiError(
                f"The private key {self.key} does not belong to the certificate {self.cert}; copy the "
                "matching .key and .crt pair from the PKI folder."
            )
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise PkiError(
                f"The certificate {self.cert} was not issued by the CA in {self.ca} "
                f"({ca.subject.rfc4514_string()}); every party must use the same county ca.crt."
            ) from exc
        if cert.not_valid_after_utc < dt.datetime.now(dt.UTC):
            raise PkiError(
                f"The certificate {self.cert} expired on {cert.not_valid_after_utc:%Y-%m-%d}; ask the county "
                "PKI administrator to issue a new one (`lsi pki issue --force`)."
            )
        return ca_pem, cert_pem, key_pem


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise PkiError(
            f"The {what} file {path} does not exist; check the configured path, or issue it with `lsi pki`."
        ) from None
    except PermissionError:
        raise PkiError(
            f"No permission to read the {what} file {path}; run as the service account that owns it."
        ) from None


def _public_der(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Server credentials that demand a client certificate signed by the county CA."""
    ca_pem, cert_pem, key_pem = files.read()
    return grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=ca_pem, require_client_auth=True)


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    """Channel credentials that present our certificate and trust only the county CA."""
    ca_pem, cert_pem, key_pem = files.read()
    return grpc.ssl_channel_credentials(root_certificates=ca_pem, private_key=key_pem, certificate_chain=cert_pem)


@dataclass(frozen=True)
class Caller:
    """Who is calling, as proven by their TLS client certificate."""

    name: str
    role: Role
    district: str | None = None


_Stamp = tuple[int, int, int]


class _CrlCache:
    """Verified CRLs, re-read whenever the file is replaced so revocation needs no restart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[_Stamp, x509.CertificateRevocationList]] = {}

    def get(self, crl_path: Path, ca_path: Path) -> x509.CertificateRevocationList:
        # Keyed by the paths' text and stat'ed through os: this runs on every call a server takes, and pathlib's
        # parsing and hashing cost more than the stat itself.
        crl, ca = os.fspath(crl_path), os.fspath(ca_path)
        try:
            stat = os.stat(crl)
        except FileNotFoundError:
            raise PkiError(
                f"The revocation list {crl_path} is configured but missing; copy crl.pem from the county "
                "PKI folder. Calls are refused until it is back, so a revoked certificate cannot slip in."
            ) from None
        # Inode and size as well as mtime: revoke() replaces the file, and two writes inside one mtime tick
        # would otherwise look unchanged.
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        key = (crl, ca)
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        loaded = pki.load_crl(Path(crl), _read(Path(ca), "CA certificate"))
        with self._lock:
            self._entries[key] = (stamp, loaded)
        return loaded


_crl_cache = _CrlCache()


def current_crl(files: TlsFiles) -> x509.CertificateRevocationList | None:
    """The verified CRL these files name (re-read when the file changes), or None if they name none."""
    return None if files.crl is None else _crl_cache.get(files.crl, files.ca)


_unchecked_warned = threading.Event()


@dataclass(frozen=True)
class _Verified:
    """What one certificate's bytes were found to say, once the county CA's signature on them checked out."""

    name: str
    role: Role
    district: str | None
    not_valid_after: dt.datetime
    cert: x509.Certificate


class _VerifiedCache:
    """Identities read from certificates already verified against the CA file as it stands (by inode, mtime, size).

    Parsing a certificate and checking the CA's signature on it cost about a millisecond on every call, and a
    peer presents the same bytes on every call of a connection. The verdict depends only on those bytes and the
    CA file, so it is kept per (bytes, CA file version); expiry and revocation are still checked on every call."""

    MAX_ENTRIES = 4_096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[bytes, str, _Stamp], _Verified] = {}

    def get(self, cert_pem: bytes, ca_path: Path | None) -> _Verified:
        ca = "" if ca_path is None else os.fspath(ca_path)
        key = (cert_pem, ca, _stamp(ca) if ca else (0, 0, 0))
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None:
            return hit
        verified = _verify(cert_pem, ca_path)
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()  # a county has hundreds of certificates, not thousands: never reached in use
            self._entries[key] = verified
        return verified


def _stamp(path: str) -> _Stamp:
    try:
        stat = os.stat(path)
    except OSError:
        return (0, 0, 0)  # a missing CA file is reported by _verify's read, never cached as verified
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _verify(cert_pem: bytes, ca_path: Path | None) -> _Verified:
    try:
        name = pki.read_name(cert_pem)
        role = pki.read_role(cert_pem)
        district = pki.read_district(cert_pem)
    except PkiError as exc:
        raise AccessDenied(f"The caller's certificate carries no usable identity: {exc}") from exc
    cert = x509.load_pem_x509_certificate(cert_pem)
    if ca_path is not None:
        _require_directly_issued(cert, name, ca_path)
    return _Verified(name, role, district, cert.not_valid_after_utc, cert)


_verified_cache = _VerifiedCache()


class _RevocationVerdicts:
    """Whether each certificate is on the CRL, kept for one CRL object: the CRL cache hands out a new object
    whenever the file changes, so a revocation is seen on the next call, as before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._crl: x509.CertificateRevocationList | None = None
        self._verdicts: dict[bytes, bool] = {}

    def revoked(self, crl: x509.CertificateRevocationList, cert_pem: bytes, cert: x509.Certificate) -> bool:
        with self._lock:
            if self._crl is not crl:
                self._crl, self._verdicts = crl, {}
            verdict = self._verdicts.get(cert_pem)
        if verdict is None:
            verdict = pki.lists(crl, cert)
            with self._lock:
                if self._crl is crl:
                    self._verdicts[cert_pem] = verdict
        return verdict


_revocations = _RevocationVerdicts()


def peer_certificate(context: grpc.ServicerContext) -> bytes | None:
    """The client certificate gRPC verified in the handshake (PEM), or None if the caller presented none."""
    # Only the certificate gRPC verified during the handshake counts: metadata is whatever the client typed.
    pems = context.auth_context().get("x509_pem_cert") or []
    return pems[0] if pems else None


def caller_from_context(context: grpc.ServicerContext, *, files: TlsFiles | None = None) -> Caller:
    """The caller's name and role from its verified client certificate; AccessDenied if unusable/revoked."""
    return caller_from_certificate(peer_certificate(context), files=files)


def caller_from_certificate(cert_pem: bytes | None, *, files: TlsFiles | None = None) -> Caller:
    """caller_from_context for a certificate already taken from a handshake (an open stream's peer)."""
    if not cert_pem:
        raise AccessDenied(
            "The caller presented no client certificate (is the server running in plaintext mode?); "
            "only callers with a county-issued certificate may use this service."
        )
    verified = _verified_cache.get(cert_pem, files.ca if files is not None else None)
    name, role, district = verified.name, verified.role, verified.district
    # The handshake already refuses an expired certificate; checking again here keeps that true even if the
    # TLS library's time check is ever switched off or a call outlives the certificate.
    if verified.not_valid_after < dt.datetime.now(dt.UTC):
        raise AccessDenied(
            f"The certificate for {name!r} expired on {verified.not_valid_after:%Y-%m-%d}; ask for a new one."
        )
    if files is None or files.crl is None:
        # Not an error (a PKI may have no CRL yet), but a server that forgets files= silently ignores
        # revocation; say so once per process so it shows up in the logs.
        if not _unchecked_warned.is_set():
            _unchecked_warned.set()
            logger.warning(
                "revocation is NOT being checked for callers: pass files=TlsFiles(..., crl=...) to "
                "require_role / caller_from_context so revoked certificates are refused"
            )
    else:
        try:
            crl = _crl_cache.get(files.crl, files.ca)
        except PkiError as exc:
            # Fail closed: if we cannot tell whether the caller is revoked, we must not let it in.
            logger.error("refusing %s (%s): %s", name, role.value, exc)
            raise AccessDenied(f"Cannot check revocation for {name!r}: {exc}") from exc
        if _revocations.revoked(crl, cert_pem, verified.cert):
            raise AccessDenied(
                f"The certificate for {name!r} (role {role.value}) has been revoked by the county CA; "
                "ask the PKI administrator for a new one if this caller should still have access."
            )
    return Caller(name=name, role=role, district=district)


def _require_directly_issued(cert: x509.Certificate, name: str, ca_path: Path) -> None:
    """Refuse a certificate the county CA did not sign itself: gRPC's TLS library accepts a leaf under an
    intermediate CA even though the county CA's path length of 0 forbids one, so it is checked here."""
    try:
        ca = x509.load_pem_x509_certificate(_read(ca_path, "CA certificate"))
        cert.verify_directly_issued_by(ca)
    except PkiError as exc:
        raise AccessDenied(f"Cannot check who issued {name!r}'s certificate: {exc}") from exc
    except (ValueError, TypeError, InvalidSignature):
        raise AccessDenied(
            f"The certificate for {name!r} was not issued directly by the county CA (it sits under an "
            "intermediate CA, which the county CA does not allow); ask the county PKI administrator for one."
        ) from None


def require_role(context: grpc.ServicerContext, *allowed: Role, files: TlsFiles | None = None) -> Caller:
    """Return the caller if its role is allowed, otherwise abort the RPC with PERMISSION_DENIED."""
    if not allowed:
        raise ValueError("require_role needs at least one allowed role")
    try:
        caller = caller_from_context(context, files=files)
    except AccessDenied as exc:
        message = str(exc)
    else:
        if caller.role in allowed:
            return caller
        roles = ", ".join(role.value for role in allowed)
        message = f"{caller.name!r} has role {caller.role.value!r}, but this operation is allowed only for: {roles}."
    logger.warning("permission denied: %s", message)
    context.abort(grpc.StatusCode.PERMISSION_DENIED, message)
    # context.abort raises; this keeps the function safe if handed a context whose abort does not.
    raise AccessDenied(message)


def warn_plaintext() -> None:
    """Log a loud warning that this process talks gRPC without TLS."""
    banner = "!" * 78
    logger.warning(
        "\n%s\n"
        "!! %s: gRPC WITHOUT TLS.\n"
        "!! No encryption and NO AUTHENTICATION: anyone who can reach this port can send queries and\n"
        "!! read results, and roles and revocation are NOT enforced. Use only on a developer machine,\n"
        "!! never with real household data or on a council network.\n"
        "%s",
        banner,
        PLAINTEXT_FLAG,
        banner,
    )


def _check_plaintext_flag(flag: str) -> None:
    if flag != PLAINTEXT_FLAG:
        raise ValueError(
            f"Plaintext gRPC is only available when explicitly requested with {PLAINTEXT_FLAG}; "
            "configure TLS files instead (see `lsi pki`)."
        )
    warn_plaintext()


def insecure_channel(address: str, *, flag: str) -> grpc.Channel:
    """An unencrypted, unauthenticated channel; flag must be PLAINTEXT_FLAG, as given on the command line."""
    _check_plaintext_flag(flag)
    return grpc.insecure_channel(address)


def insecure_server_port(server: grpc.Server, address: str, *, flag: str) -> int:
    """Bind an unencrypted, unauthenticated port; flag must be PLAINTEXT_FLAG, as given on the CLI."""
    _check_plaintext_flag(flag)
    return server.add_insecure_port(address)


class Verdict(StrEnum):
    """What diagnose found at an address."""

    OK = "ok"
    REVOKED = "revoked"
    BAD_ADDRESS = "bad-address"
    LOCAL_FILES = "local-files"
    UNRESOLVED = "unresolved"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    NOT_TLS = "not-tls"
    SERVER_UNTRUSTED = "server-untrusted"
    NAME_MISMATCH = "name-mismatch"
    CLIENT_REJECTED = "client-rejected"
    TLS_FAILED = "tls-failed"


@dataclass(frozen=True)
class Diagnosis:
    """The outcome of diagnose: a machine-readable verdict and a sentence for a person."""

    verdict: Verdict
    message: str

    @property
    def ok(self) -> bool:
        """Whether the connection and both certificates were accepted."""
        return self.verdict is Verdict.OK


# gRPC speaks HTTP/2: after the handshake we send the client preface and an empty SETTINGS frame so that a
# server which accepted our certificate answers, and one which rejected it (TLS 1.3 says so only after the
# client thinks the handshake is over) sends its alert.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_CLIENT_REJECTED_REASONS = (
    "CERTIFICATE_REQUIRED",
    "UNKNOWN_CA",
    "BAD_CERTIFICATE",
    "CERTIFICATE_REVOKED",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_UNKNOWN",
    "UNSUPPORTED_CERTIFICATE",
    "DECRYPT_ERROR",
    "HANDSHAKE_FAILURE",
)
_NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST")
# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH_CODES = (62, 64)


def split_address(address: str) -> tuple[str, int]:
    """Host and port of a gRPC target such as "dns:///host:50051" or "127.0.0.1:50051"."""
    target = address
    for prefix in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if target.startswith(prefix):
            target = target[len(prefix) :]
            break
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"Address {address!r} needs a port, like 'maidstone.example.gov.uk:50051'.")
    return host.strip("[]"), int(port)


def _ssl_reason(exc: ssl.SSLError) -> str:
    return (exc.reason or str(exc)).upper()


def _client_rejected(address: str, files: TlsFiles, detail: str) -> Diagnosis:
    return Diagnosis(
        Verdict.CLIENT_REJECTED,
        f"TLS handshake with {address} failed: the server does not accept this client certificate "
        f"({files.cert}; {detail}). It was probably issued by a different CA than the one the server "
        "trusts, or it has expired; get a certificate from the county CA.",
    )


def diagnose(address: str, files: TlsFiles, timeout: float = 3.0, *, server_name: str | None = None) -> Diagnosis:
    """Tell apart why a gRPC connection fails, which the client alone sees only as UNAVAILABLE."""
    try:
        files.read()
    except PkiError as exc:
        return Diagnosis(Verdict.LOCAL_FILES, f"Cannot try {address}: this side's TLS files are unusable. {exc}")
    try:
        host, port = split_address(address)
    except ValueError as exc:
        return Diagnosis(Verdict.BAD_ADDRESS, str(exc))
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror:
        return Diagnosis(Verdict.UNRESOLVED, f"Cannot find the host {host!r} (name lookup failed); check the address.")
    except ConnectionRefusedError:
        return Diagnosis(
            Verdict.REFUSED,
            f"Nothing is listening at {address} (connection refused): the service is not running there, "
            "or the port is wrong.",
        )
    except TimeoutError:
        return Diagnosis(
            Verdict.TIMEOUT,
            f"No answer from {address} within {timeout:g} s: the machine may be off, or a firewall is "
            "dropping the connection.",
        )
    except OSError as exc:
        return Diagnosis(Verdict.UNREACHABLE, f"Cannot reach {address}: {exc.strerror or exc}.")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(files.ca))
    context.load_cert_chain(certfile=str(files.cert), keyfile=str(files.key))
    context.set_alpn_protocols(["h2"])
    with sock:
        try:
            # server_name mirrors grpc.ssl_target_name_override: the name to expect on the certificate.
            expected = server_name or host
            tls = context.wrap_socket(sock, server_hostname=expected)
        except ssl.SSLCertVerificationError as exc:
            if exc.verify_code in _NAME_MISMATCH_CODES:
                return Diagnosis(
                    Verdict.NAME_MISMATCH,
                    f"TLS handshake with {address} failed: the server's certificate does not cover the name "
                    f"{expected!r} ({exc.verify_message}). Dial it by a name it was issued for, or reissue "
                    f"the server certificate with {expected!r} among its hosts.",
                )
            return Diagnosis(
                Verdict.SERVER_UNTRUSTED,
                f"TLS handshake with {address} failed: the server's certificate is not trusted by the CA in "
                f"{files.ca} ({exc.verify_message}). It was probably issued by a different CA; both sides "
                "must use certificates from the county CA.",
            )
        except ssl.SSLError as exc:
            reason = _ssl_reason(exc)
            if any(r in reason for r in _NOT_TLS_REASONS):
                return Diagnosis(
                    Verdict.NOT_TLS,
                    f"Something is listening at {address} but it does not speak TLS; it may be running with "
                    f"{PLAINTEXT_FLAG}, or be a different service.",
                )
            if any(r in reason for r in _CLIENT_REJECTED_REASONS):
                return _client_rejected(address, files, reason.lower())
            return Diagnosis(Verdict.TLS_FAILED, f"TLS handshake with {address} failed: {exc}.")
        except (TimeoutError, OSError) as exc:
            return Diagnosis(
                Verdict.TLS_FAILED,
                f"Something is listening at {address} but the TLS handshake did not complete ({exc}).",
            )
        with tls:
            try:
                tls.sendall(_H2_PREFACE)
                answer = tls.recv(64)
            except ssl.SSLError as exc:
                return _client_rejected(address, files, _ssl_reason(exc).lower())
            except TimeoutError:
                return Diagnosis(
                    Verdict.TLS_FAILED,
                    f"TLS handshake with {address} completed but the server sent nothing within "
                    f"{timeout:g} s; it may not be a gRPC service.",
                )
            except OSError as exc:
                return _client_rejected(address, files, f"connection closed: {exc}")
            if not answer:
                return _client_rejected(address, files, "connection closed straight after the handshake")
            peer = tls.getpeercert() or {}
    # typeshed types every field of getpeercert() as a str or some tuple; "subject" is always RDNs of pairs.
    rdns = cast(tuple[tuple[tuple[str, str], ...], ...], peer.get("subject", ()))
    server_name = next((v for rdn in rdns for k, v in rdn if k == "commonName"), "?")
    message = (
        f"TLS to {address} works: the server ({server_name}) has a trusted certificate and accepted this "
        f"client's certificate ({files.cert.name})."
    )
    if files.crl is not None:
        try:
            crl = pki.load_crl(Path(files.crl), Path(files.ca).read_bytes())
        except PkiError as exc:
            message += f" (Could not check this certificate against the revocation list: {exc})"
        else:
            if pki.is_revoked_by(crl, Path(files.cert).read_bytes()):
                return Diagnosis(
                    Verdict.REVOKED,
                    message + " But this certificate is on the county revocation list, so every call will "
                    "be refused (PERMISSION_DENIED); ask the PKI administrator for a new one.",
                )
    return Diagnosis(Verdict.OK, message)


def diagnose_connection(address: str, files: TlsFiles, timeout: float = 3.0, *, server_name: str | None = None) -> str:
    """A sentence saying whether a TLS connection to address works and, if not, what is wrong."""
    return diagnose(address, files, timeout, server_name=server_name).message
