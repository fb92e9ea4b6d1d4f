"""Throwaway PKIs for tests: a county CA with one identity per role, and a foreign CA with an intruder; plus
certificates no county CA would issue (expired, under an intermediate CA) to prove they are refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from security import pki
from security.pki import Identity, Role
from security.tls import TlsFiles

COORDINATOR = "county-coordinator"
ANALYST = "analyst-alice"
IG_OFFICER = "ig-officer-ian"  # Maidstone's
OTHER_IG_OFFICER = "ig-officer-olu"  # Ashford's
COUNTY_IG_OFFICER = "ig-officer-county"
INTRUDER = "intruder"
MAIDSTONE, ASHFORD, SWALE = "E07000110", "E07000105", "E07000113"
DEFAULT_NODES: Mapping[str, str] = MappingProxyType({"maidstone-node": MAIDSTONE, "swale-node": SWALE})


@dataclass(frozen=True)
class TestPki:
    """A county PKI folder and a foreign one, with the identities tests usually need."""

    # Not a test class, despite the name pytest would otherwise try to collect.
    __test__ = False

    directory: Path
    coordinator: Identity
    analyst: Identity
    ig_officer: Identity
    other_ig_officer: Identity
    county_ig_officer: Identity
    nodes: Mapping[str, Identity]
    foreign_directory: Path
    intruder: Identity

    @property
    def ca(self) -> Path:
        """The county CA certificate."""
        return self.directory / pki.CA_CERT

    def files(self, name: str) -> TlsFiles:
        """TLS files for a named identity; the intruder's come from (and trust) the foreign CA."""
        directory = self.foreign_directory if name == self.intruder.name else self.directory
        return TlsFiles.for_identity(directory, name)

    def revoke(self, name: str) -> None:
        """Revoke a county identity, as `lsi pki revoke` would."""
        pki.revoke(self.directory, name)


def make_test_pki(tmp_path: Path, nodes: Mapping[str, str] = DEFAULT_NODES) -> TestPki:
    """Build a county CA with coordinator, analyst, IG officers and a node per name (and district), plus a
    foreign CA."""
    # P-256 key generation and signing take well under a millisecond each, so there is nothing to cache:
    # a fresh PKI per test keeps revocations in one test from leaking into another.
    county = Path(tmp_path) / "pki"
    foreign = Path(tmp_path) / "foreign-pki"
    pki.init_ca(county)
    pki.init_ca(foreign, name="Somewhere Else CA", organisation="Somewhere Else Council")
    return TestPki(
        directory=county,
        coordinator=pki.issue(county, COORDINATOR, Role.COORDINATOR),
        analyst=pki.issue(county, ANALYST, Role.ANALYST),
        ig_officer=pki.issue(county, IG_OFFICER, Role.IG_OFFICER, district=MAIDSTONE),
        other_ig_officer=pki.issue(county, OTHER_IG_OFFICER, Role.IG_OFFICER, district=ASHFORD),
        county_ig_officer=pki.issue(county, COUNTY_IG_OFFICER, Role.COUNTY_IG_OFFICER),
        nodes=MappingProxyType(
            {name: pki.issue(county, name, Role.NODE, district=code) for name, code in nodes.items()}
        ),
        foreign_directory=foreign,
        # Same role and name shape as the real coordinator: only the CA that signed it differs.
        intruder=pki.issue(foreign, INTRUDER, Role.COORDINATOR),
    )


def _ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate((directory / pki.CA_CERT).read_bytes())
    key = serialization.load_pem_private_key((directory / pki.CA_KEY).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def _resign(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """The same subject, key and extensions, signed by issuer with the given validity."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(issuer.subject)
        .public_key(cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for ext in cert.extensions:
        if ext.oid != x509.AuthorityKeyIdentifier.oid:
            builder = builder.add_extension(ext.value, critical=ext.critical)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
    )
    return builder.sign(issuer_key, hashes.SHA256())


def backdate(directory: Path, name: str) -> None:
    """Replace `<name>.crt` with a county-signed copy that expired yesterday (same key, role and district)."""
    path = Path(directory) / f"{name}.crt"
    ca_cert, ca_key = _ca(Path(directory))
    now = dt.datetime.now(dt.UTC)
    old = _resign(
        x509.load_pem_x509_certificate(path.read_bytes()),
        ca_cert,
        ca_key,
        now - dt.timedelta(days=30),
        now - dt.timedelta(days=1),
    )
    path.write_bytes(old.public_bytes(serialization.Encoding.PEM))


def move_under_intermediate(directory: Path, name: str) -> None:
    """Replace `<name>.crt` with a chain (leaf, intermediate) where a CA made by the county CA signs the leaf.

    The county CA has path length 0: it may sign end-entity certificates only, so this chain must be refused."""
    directory = Path(directory)
    path = directory / f"{name}.crt"
    ca_cert, ca_key = _ca(directory)
    now = dt.datetime.now(dt.UTC)
    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rogue intermediate CA")])
    sub = (
        x509.CertificateBuilder()
        .subject_name(sub_name)
        .issuer_name(ca_cert.subject)
        .public_key(sub_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(pki.CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(sub_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = _resign(
        x509.load_pem_x509_certificate(path.read_bytes()),
        sub,
        sub_key,
        now - dt.timedelta(hours=1),
        now + dt.timedelta(days=30),
    )
    path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + sub.public_bytes(serialization.Encoding.PEM))
