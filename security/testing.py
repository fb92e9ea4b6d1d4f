"""Throwaway PKIs for tests: a county CA with one identity per role, and a foreign CA with an intruder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from security import pki
from security.pki import Identity, Role
from security.tls import TlsFiles

COORDINATOR = "county-coordinator"
ANALYST = "analyst-alice"
IG_OFFICER = "ig-officer-ian"
INTRUDER = "intruder"
DEFAULT_NODES: tuple[str, ...] = ("maidstone-node", "swale-node")


@dataclass(frozen=True)
class TestPki:
    """A county PKI folder and a foreign one, with the identities tests usually need."""

    # Not a test class, despite the name pytest would otherwise try to collect.
    __test__ = False

    directory: Path
    coordinator: Identity
    analyst: Identity
    ig_officer: Identity
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


def make_test_pki(tmp_path: Path, nodes: Sequence[str] = DEFAULT_NODES) -> TestPki:
    """Build a county CA with coordinator, analyst, IG officer and one node per name, plus a foreign CA."""
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
        ig_officer=pki.issue(county, IG_OFFICER, Role.IG_OFFICER),
        nodes=MappingProxyType({name: pki.issue(county, name, Role.NODE) for name in nodes}),
        foreign_directory=foreign,
        # Same role and name shape as the real coordinator: only the CA that signed it differs.
        intruder=pki.issue(foreign, INTRUDER, Role.COORDINATOR),
    )
