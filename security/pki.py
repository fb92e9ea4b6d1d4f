"""County PKI: a CA that issues role-bearing certificates and revokes them through a signed CRL."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from reference.geography import active, county_name, districts

DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1")

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
CRL_FILE = "crl.pem"

# Backdate notBefore so a machine whose clock runs a little slow still accepts a freshly issued certificate.
_CLOCK_SKEW = dt.timedelta(minutes=5)
# The CRL is re-signed on every revocation; nothing checks nextUpdate, but it must be present and plausible.
_CRL_VALIDITY = dt.timedelta(days=365)
# Identity names become file names and certificate CNs: keep them to a safe, boring alphabet.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_RESERVED_NAMES = frozenset({"ca", "crl", "revoked"})
# The district goes in a SAN URI: machine-readable, unambiguous, and outside the CN/OU that people edit by habit.
DISTRICT_URI_PREFIX = "urn:lsi:district:"


# A CA's key signs certificates and CRLs, nothing else.
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


class PkiError(Exception):
    """A PKI operation could not be done; the message says what to do about it."""


class AlreadyExists(PkiError, FileExistsError):
    """Refused to overwrite an existing CA or identity (also a FileExistsError for plain callers)."""


class Role(StrEnum):
    """What a certificate holder may do; carried in the certificate's OU."""

    NODE = "node"
    COORDINATOR = "coordinator"
    ANALYST = "analyst"
    IG_OFFICER = "ig-officer"
    # Reads budgets in detail and verifies audits on every node, but never changes a policy.
    COUNTY_IG_OFFICER = "county-ig-officer"
    # The dashboard host's own service certificate: reads stored results, budgets and audit status at the
    # coordinator on behalf of signed-in users (it enforces their scope); refused by every call that spends.
    DASHBOARD = "dashboard"


# A node and a district IG officer act for one council; the others act county-wide and carry no district.
DISTRICT_ROLES = frozenset({Role.NODE, Role.IG_OFFICER})


@dataclass(frozen=True)
class Identity:
    """An issued certificate and the files that make it usable."""

    name: str
    role: Role
    key_path: Path
    cert_path: Path
    ca_path: Path
    district: str | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret file that is 0600 from its first byte, replacing any existing file atomically."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL + mode 0600 at creation: the key is never readable by others, not even for an instant, and
    # os.replace means an existing looser-permission file is swapped out rather than reused.
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _write_public(path: Path, data: bytes) -> None:
    """Write a public file atomically so readers (a server polling the CRL) never see half of it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: accepted by gRPC's BoringSSL on both sides and by the stdlib ssl module used for diagnosis.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key_path, cert_path = directory / CA_KEY, directory / CA_CERT
    if not key_path.exists() or not cert_path.exists():
        raise PkiError(
            f"No certificate authority in {directory} (expected {CA_CERT} and {CA_KEY}). "
            "Create one first with `lsi pki init`, or point at the folder that holds the county CA."
        )
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{key_path} is not an EC private key; this CA was not made by `lsi pki init`.")
    return cert, key


def _load_cert(cert_pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise PkiError(f"Not a PEM certificate: {exc}") from exc


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name) or name.lower() in _RESERVED_NAMES:
        raise PkiError(
            f"Identity name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', starting "
            f"with a letter or digit, and not one of {sorted(_RESERVED_NAMES)} (e.g. 'maidstone-node')."
        )


def resolve_district(text: str) -> str:
    """The ONS code of a pack district given as its code or its name (any case); PkiError if neither."""
    wanted = text.strip().casefold()
    for d in districts():
        if wanted in (d.code.casefold(), d.name.casefold()):
            return d.code
    known = ", ".join(f"{d.code} ({d.name})" for d in districts())
    raise PkiError(f"{text!r} is not a {county_name()} district; give one of {known}.")


def _check_district(role: Role, district: str | None) -> str | None:
    if role in DISTRICT_ROLES:
        if not district:
            raise PkiError(
                f"A {role.value} certificate must name its district (e.g. --district {districts()[0].code} or "
                f"--district {districts()[0].name}): it may act only for that council."
            )
        return resolve_district(district)
    if district:
        raise PkiError(f"A {role.value} certificate acts county-wide and carries no district; leave --district out.")
    return None


def _san(hosts: Sequence[str], district: str | None = None) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    if district is not None:
        entries.append(x509.UniformResourceIdentifier(DISTRICT_URI_PREFIX + district))
    for host in hosts:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(entries)


def init_ca(
    directory: Path,
    *,
    name: str = "",
    organisation: str = "",
    days: int = 3650,
    force: bool = False,
) -> Path:
    """Create the county CA (ca.key 0600, ca.crt, empty crl.pem) in directory and return the ca.crt path."""
    directory = Path(directory)
    organisation = organisation or active().council  # the geography pack's county authority
    name = name or f"{organisation} LSI CA"
    existing = [f for f in (CA_KEY, CA_CERT) if (directory / f).exists()]
    if existing and not force:
        raise AlreadyExists(
            f"A certificate authority already exists in {directory} ({', '.join(existing)}). Replacing it "
            "would invalidate every certificate it has issued, so it was left alone. Use a different "
            "folder, or pass force=True (`--force`) if you really mean to start the county PKI again."
        )
    # 0700: the folder holds the CA key; listing it should be as private as reading it.
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = _new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        # path_length=0: this CA signs end-entity certificates only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(directory / CA_KEY, _key_pem(key))
    _write_public(directory / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
    # A fresh, empty CRL from day one lets servers be configured with it before anything is revoked, and
    # replaces any CRL signed by a previous CA (which would otherwise fail verification).
    _write_crl(directory, cert, key, [])
    return directory / CA_CERT


def issue(
    directory: Path,
    name: str,
    role: Role,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    days: int = 825,
    force: bool = False,
    district: str | None = None,
) -> Identity:
    """Issue `<name>.key` (0600) and `<name>.crt` for a role (and district, for node and ig-officer)."""
    directory = Path(directory)
    _check_name(name)
    role = Role(role)
    district = _check_district(role, district)
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    if cert_path.exists() and not force:
        raise AlreadyExists(
            f"A certificate for {name!r} already exists at {cert_path}. Revoke it and pass force=True "
            "(`--force`) to reissue, or choose another name."
        )
    ca_cert, ca_key = _load_ca(directory)
    org = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    key = _new_key()
    now = _now()
    # A certificate cannot usefully outlive the CA that vouches for it.
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    attributes = [
        x509.NameAttribute(NameOID.COMMON_NAME, name),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.value),
    ]
    if org:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(org[0].value)))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # Both usages: a coordinator is a client of nodes, and a node is a server; one certificate each.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if hosts or district:
        # Servers need a SAN for every address clients dial; on client-only certificates it is harmless.
        builder = builder.add_extension(_san(hosts, district), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_private(key_path, _key_pem(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return Identity(name, role, key_path, cert_path, directory / CA_CERT, district)


def _write_crl(
    directory: Path,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    revoked: Sequence[x509.RevokedCertificate],
) -> Path:
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + _CRL_VALIDITY)
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(entry)
    crl = builder.sign(ca_key, hashes.SHA256())
    path = directory / CRL_FILE
    _write_public(path, crl.public_bytes(serialization.Encoding.PEM))
    return path


_SIGNING_KEYS = (
    dsa.DSAPublicKey,
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)


def load_crl(crl_path: Path, ca_cert_pem: bytes) -> x509.CertificateRevocationList:
    """Read a CRL and check it was signed by the given CA, so a forged or mixed-up file cannot be used."""
    try:
        crl = x509.load_pem_x509_crl(Path(crl_path).read_bytes())
    except ValueError as exc:
        raise PkiError(f"{crl_path} is not a readable revocation list ({exc}); copy it again from the CA.") from exc
    ca_cert = _load_cert(ca_cert_pem)
    ca_key = ca_cert.public_key()
    try:
        # Only a key that can sign can have signed the CRL (an X25519 or X448 key cannot).
        valid = crl.issuer == ca_cert.subject and isinstance(ca_key, _SIGNING_KEYS) and crl.is_signature_valid(ca_key)
    except InvalidSignature:
        valid = False
    if not valid:
        raise PkiError(
            f"The revocation list {crl_path} was not signed by the CA {ca_cert.subject.rfc4514_string()}; "
            "copy crl.pem from the same PKI folder as ca.crt."
        )
    return crl


def revoke(directory: Path, name: str) -> Path:
    """Add `<name>.crt` to the CA's signed revocation list (crl.pem) and return the CRL path."""
    directory = Path(directory)
    _check_name(name)
    cert_path = directory / f"{name}.crt"
    if not cert_path.exists():
        raise PkiError(f"No certificate for {name!r} in {directory} (looked for {cert_path}); check the name.")
    cert = _load_cert(cert_path.read_bytes())
    ca_cert, ca_key = _load_ca(directory)
    crl_path = directory / CRL_FILE
    entries: list[x509.RevokedCertificate] = []
    if crl_path.exists():
        ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
        entries = list(load_crl(crl_path, ca_pem))
    if any(entry.serial_number == cert.serial_number for entry in entries):
        return crl_path  # already revoked: revoking twice is a no-op, not an error
    entries.append(x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(_now()).build())
    return _write_crl(directory, ca_cert, ca_key, entries)


def is_revoked(directory: Path, cert_pem: bytes) -> bool:
    """Whether the CA in directory has revoked this certificate."""
    directory = Path(directory)
    crl_path = directory / CRL_FILE
    if not crl_path.exists():
        return False
    ca_path = directory / CA_CERT
    if not ca_path.exists():
        raise PkiError(f"{crl_path} has no CA certificate beside it ({ca_path}) to check its signature.")
    crl = load_crl(crl_path, ca_path.read_bytes())
    return is_revoked_by(crl, cert_pem)


def is_revoked_by(crl: x509.CertificateRevocationList, cert_pem: bytes) -> bool:
    """Whether an already-verified CRL lists this certificate (same issuer and serial)."""
    return lists(crl, _load_cert(cert_pem))


def lists(crl: x509.CertificateRevocationList, cert: x509.Certificate) -> bool:
    """is_revoked_by for a certificate already parsed."""
    # Serials are only unique per issuer; a certificate from another CA is not this CRL's business.
    if cert.issuer != crl.issuer:
        return False
    return crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def read_role(cert_pem: bytes) -> Role:
    """The role carried in the certificate's OU; PkiError if it is missing or not a known role."""
    cert = _load_cert(cert_pem)
    units = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    # Exactly one OU: with several, which one is "the" role would be ambiguous, so refuse rather than guess.
    if len(units) != 1:
        raise PkiError(
            f"Certificate for {_cn(cert)!r} carries {len(units)} role (OU) fields, expected exactly one; "
            "it was not issued by `lsi pki issue`. Reissue it with a role."
        )
    value = str(units[0].value)
    try:
        return Role(value)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise PkiError(
            f"Certificate for {_cn(cert)!r} has unknown role {value!r} (known roles: {known}); reissue it."
        ) from None


def read_name(cert_pem: bytes) -> str:
    """The identity name (CN) of the certificate."""
    return _cn(_load_cert(cert_pem))


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise PkiError("Certificate has no single common name (CN); it was not issued by `lsi pki issue`.")
    return str(names[0].value)


def read_district(cert_pem: bytes) -> str | None:
    """The district code in the certificate's SAN URI, or None for a county-wide certificate."""
    cert = _load_cert(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith(DISTRICT_URI_PREFIX)]
    # As with the role: two districts would make "the" district ambiguous, so refuse rather than pick one.
    if len(uris) > 1:
        raise PkiError(f"Certificate for {_cn(cert)!r} names {len(uris)} districts, expected at most one; reissue it.")
    if not uris:
        return None
    code = uris[0].removeprefix(DISTRICT_URI_PREFIX)
    # Exactly an ONS code: the issuer wrote one, so anything else (a name, another case) is not ours.
    if code not in {d.code for d in districts()}:
        raise PkiError(f"Certificate for {_cn(cert)!r} names an unknown district {code!r}; reissue it.")
    return code
