"""Specification of the county PKI: CA, issuing, roles and revocation."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from security import pki
from security.pki import PkiError, Role
from security.testing import TestPki, make_test_pki


@pytest.fixture
def county(tmp_path: Path) -> TestPki:
    return make_test_pki(tmp_path)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_ca_key_is_readable_by_owner_only(tmp_path: Path) -> None:
    pki.init_ca(tmp_path / "ca")
    assert _mode(tmp_path / "ca" / "ca.key") == 0o600


def test_issued_key_is_readable_by_owner_only(county: TestPki) -> None:
    assert _mode(county.coordinator.key_path) == 0o600


def test_reissued_key_replaces_a_world_readable_file_with_an_owner_only_one(county: TestPki) -> None:
    county.analyst.key_path.chmod(0o644)
    identity = pki.issue(county.directory, county.analyst.name, Role.ANALYST, force=True)
    assert _mode(identity.key_path) == 0o600


def test_init_ca_refuses_to_overwrite_an_existing_ca(tmp_path: Path) -> None:
    ca_path = pki.init_ca(tmp_path)
    before = ca_path.read_bytes()
    with pytest.raises(PkiError, match="already exists"):
        pki.init_ca(tmp_path)
    assert ca_path.read_bytes() == before


def test_ca_refusal_is_also_a_file_exists_error(tmp_path: Path) -> None:
    pki.init_ca(tmp_path)
    with pytest.raises(FileExistsError):
        pki.init_ca(tmp_path)


def test_init_ca_with_force_replaces_the_ca(tmp_path: Path) -> None:
    ca_path = pki.init_ca(tmp_path)
    before = ca_path.read_bytes()
    pki.init_ca(tmp_path, force=True)
    assert ca_path.read_bytes() != before


@pytest.mark.parametrize("role", list(Role))
def test_role_round_trips_through_the_certificate(tmp_path: Path, role: Role) -> None:
    pki.init_ca(tmp_path)
    district = "E07000110" if role in pki.DISTRICT_ROLES else None
    identity = pki.issue(tmp_path, "someone", role, district=district)
    assert pki.read_role(identity.cert_path.read_bytes()) is role


def test_name_round_trips_through_the_certificate(county: TestPki) -> None:
    assert pki.read_name(county.coordinator.cert_path.read_bytes()) == "county-coordinator"


def test_certificate_is_signed_by_the_ca(county: TestPki) -> None:
    _cert(county.coordinator.cert_path).verify_directly_issued_by(_cert(county.ca))


def test_certificate_names_the_hosts_it_serves(tmp_path: Path) -> None:
    pki.init_ca(tmp_path)
    identity = pki.issue(
        tmp_path, "swale-node", Role.NODE, hosts=("swale.example.gov.uk", "10.0.0.7"), district="E07000113"
    )
    san = _cert(identity.cert_path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["swale.example.gov.uk"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]


def test_certificate_serves_as_both_client_and_server(county: TestPki) -> None:
    eku = _cert(county.coordinator.cert_path).extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert set(eku.value) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


def test_issue_refuses_to_overwrite_an_existing_identity(county: TestPki) -> None:
    with pytest.raises(PkiError, match="already exists"):
        pki.issue(county.directory, "analyst-alice", Role.COORDINATOR)


@pytest.mark.parametrize("name", ["../escape", "ca", "crl", "has space", ""])
def test_issue_rejects_names_that_are_unsafe_as_file_names(county: TestPki, name: str) -> None:
    with pytest.raises(PkiError, match="not allowed"):
        pki.issue(county.directory, name, Role.NODE)


def test_issue_without_a_ca_says_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="lsi pki init"):
        pki.issue(tmp_path, "swale-node", Role.NODE, district="E07000113")


def test_revoked_certificate_is_detected(county: TestPki) -> None:
    pki.revoke(county.directory, "analyst-alice")
    assert pki.is_revoked(county.directory, county.analyst.cert_path.read_bytes())


def test_certificate_not_revoked_is_not_reported_revoked(county: TestPki) -> None:
    pki.revoke(county.directory, "analyst-alice")
    assert not pki.is_revoked(county.directory, county.coordinator.cert_path.read_bytes())


def test_revoking_twice_keeps_one_entry(county: TestPki) -> None:
    pki.revoke(county.directory, "analyst-alice")
    crl_path = pki.revoke(county.directory, "analyst-alice")
    assert len(x509.load_pem_x509_crl(crl_path.read_bytes())) == 1


def test_revocation_list_not_signed_by_the_ca_is_refused(county: TestPki) -> None:
    pki.revoke(county.foreign_directory, "intruder")
    (county.directory / "crl.pem").write_bytes((county.foreign_directory / "crl.pem").read_bytes())
    with pytest.raises(PkiError, match="not signed by the CA"):
        pki.is_revoked(county.directory, county.analyst.cert_path.read_bytes())


def _self_signed(ou: str | None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, "mystery")]
    if ou is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    name = x509.Name(attributes)
    now = pki._now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.PEM)


def test_unknown_role_is_refused_with_the_known_roles() -> None:
    with pytest.raises(PkiError, match="unknown role 'mayor'.*coordinator"):
        pki.read_role(_self_signed("mayor"))


def test_missing_role_is_refused() -> None:
    with pytest.raises(PkiError, match="role"):
        pki.read_role(_self_signed(None))


# --- districts -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(pki.DISTRICT_ROLES))
def test_district_round_trips_through_the_certificate(tmp_path: Path, role: Role) -> None:
    pki.init_ca(tmp_path)
    identity = pki.issue(tmp_path, "someone", role, district="E07000110")
    assert pki.read_district(identity.cert_path.read_bytes()) == "E07000110"


def test_district_sits_in_a_san_uri(county: TestPki) -> None:
    san = _cert(county.ig_officer.cert_path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "urn:lsi:district:E07000110" in san.get_values_for_type(x509.UniformResourceIdentifier)


@pytest.mark.parametrize("role", sorted(pki.DISTRICT_ROLES))
def test_node_and_ig_officer_certificates_are_refused_without_a_district(tmp_path: Path, role: Role) -> None:
    pki.init_ca(tmp_path)
    with pytest.raises(PkiError, match="must name its district"):
        pki.issue(tmp_path, "someone", role)


@pytest.mark.parametrize("role", sorted(set(Role) - pki.DISTRICT_ROLES))
def test_county_wide_certificates_are_refused_a_district(tmp_path: Path, role: Role) -> None:
    pki.init_ca(tmp_path)
    with pytest.raises(PkiError, match="carries no district"):
        pki.issue(tmp_path, "someone", role, district="E07000110")


@pytest.mark.parametrize("role", sorted(set(Role) - pki.DISTRICT_ROLES))
def test_county_wide_certificates_carry_no_district(tmp_path: Path, role: Role) -> None:
    pki.init_ca(tmp_path)
    identity = pki.issue(tmp_path, "someone", role)
    assert pki.read_district(identity.cert_path.read_bytes()) is None


def test_a_district_may_be_given_by_name(tmp_path: Path) -> None:
    pki.init_ca(tmp_path)
    identity = pki.issue(tmp_path, "ig-tunbridge-wells", Role.IG_OFFICER, district="tunbridge wells")
    assert identity.district == "E07000116"


@pytest.mark.parametrize("district", ["E06000035", "Medway", "Kent", "E0700011"])
def test_a_district_outside_kent_is_refused_naming_the_valid_ones(tmp_path: Path, district: str) -> None:
    pki.init_ca(tmp_path)
    with pytest.raises(PkiError, match=r"not a Kent district.*E07000110 \(Maidstone\)"):
        pki.issue(tmp_path, "someone", Role.NODE, district=district)


def test_cli_issues_an_ig_officer_for_a_district_named_in_words(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli.main import main

    pki.init_ca(tmp_path)
    out = CliRunner().invoke(
        main,
        [
            "pki",
            "issue",
            "--dir",
            str(tmp_path),
            "--name",
            "ig-maidstone",
            "--role",
            "ig-officer",
            "--district",
            "Maidstone",
        ],
    )
    assert out.exit_code == 0, out.output
    assert pki.read_district((tmp_path / "ig-maidstone.crt").read_bytes()) == "E07000110"


def test_cli_refuses_an_ig_officer_without_a_district_with_a_clear_message(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli.main import main

    pki.init_ca(tmp_path)
    out = CliRunner().invoke(
        main, ["pki", "issue", "--dir", str(tmp_path), "--name", "ig-someone", "--role", "ig-officer"]
    )
    assert out.exit_code == 1 and isinstance(out.exception, SystemExit)
    assert "must name its district" in out.output and "Traceback" not in out.output
