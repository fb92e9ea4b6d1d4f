"""Specifications for the analyst's client profile: one file says where to connect and as whom.

Precedence is flag > LSI_* variable > profile > built-in default; a misspelt key is named with a suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from analysis.client import Endpoint
from cli import query_cmd
from cli.main import main
from cli.profile import default_profile_path
from protos.lsi.v1 import coordinator_pb2

PROFILE = """
[server]
address = "county.example:50050"
server_name = "kent-coordinator"

[tls]
ca = "certs/ca.crt"
cert = "certs/alice.crt"
key = "certs/alice.key"

[analyst]
purpose = "cost of living"
"""


class FakeCoordinator:
    def Nodes(self, request, timeout):  # noqa: N802 - the gRPC method's name
        return coordinator_pb2.NodesStatus()


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch) -> list[Endpoint]:
    """The endpoints `lsi status` connects to (no server needed: the stub is faked)."""
    seen: list[Endpoint] = []

    def stub(endpoint: Endpoint) -> FakeCoordinator:
        seen.append(endpoint)
        return FakeCoordinator()

    monkeypatch.setattr(query_cmd, "coordinator_stub", stub)
    return seen


def write(tmp_path: Path, text: str = PROFILE) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return path


def lsi(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def test_a_profile_gives_the_address_server_name_and_tls_files(tmp_path: Path, dialled: list[Endpoint]) -> None:
    result = lsi("--profile", str(write(tmp_path)), "status")
    assert result.exit_code == 0, result.output
    (e,) = dialled
    assert (e.address, e.server_name) == ("county.example:50050", "kent-coordinator")
    assert e.tls is not None
    assert (e.tls.ca, e.tls.cert, e.tls.key) == (
        tmp_path / "certs/ca.crt",
        tmp_path / "certs/alice.crt",
        tmp_path / "certs/alice.key",
    )


def test_an_environment_variable_beats_the_profile(tmp_path: Path, dialled: list[Endpoint]) -> None:
    lsi("--profile", str(write(tmp_path)), "status", env={"LSI_COORDINATOR": "env.example:1"})
    assert dialled[0].address == "env.example:1"


def test_a_flag_beats_the_environment_and_the_profile(tmp_path: Path, dialled: list[Endpoint]) -> None:
    args = ("--profile", str(write(tmp_path)), "status", "--address", "flag.example:2", "--server-name", "n")
    lsi(*args, env={"LSI_COORDINATOR": "env.example:1", "LSI_SERVER_NAME": "env-name"})
    assert (dialled[0].address, dialled[0].server_name) == ("flag.example:2", "n")


def test_pki_and_identity_given_by_flag_replace_the_profiles_tls_files(tmp_path: Path, dialled: list[Endpoint]) -> None:
    lsi("--profile", str(write(tmp_path)), "status", "--pki", str(tmp_path), "--identity", "bob")
    assert (dialled[0].tls, dialled[0].identity) == (None, "bob")


def test_without_a_profile_the_built_in_defaults_apply(dialled: list[Endpoint]) -> None:
    lsi("status")
    assert (dialled[0].address, dialled[0].server_name) == ("127.0.0.1:50050", "county-coordinator")


def test_the_profile_is_named_by_lsi_profile(tmp_path: Path, dialled: list[Endpoint]) -> None:
    lsi("status", env={"LSI_PROFILE": str(write(tmp_path))})
    assert dialled[0].address == "county.example:50050"


def test_the_default_profile_file_is_read_when_present(tmp_path: Path, monkeypatch, dialled) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    default_profile_path().parent.mkdir(parents=True)
    default_profile_path().write_text('[server]\naddress = "home.example:3"\n\n[tls]\npki = "pki"\nidentity = "al"\n')
    lsi("status")
    assert (dialled[0].address, dialled[0].pki_dir, dialled[0].identity) == (
        "home.example:3",
        tmp_path / "lsi/pki",
        "al",
    )


def test_a_misspelt_key_is_named_with_a_suggestion_and_exit_2(tmp_path: Path, dialled: list[Endpoint]) -> None:
    result = lsi("--profile", str(write(tmp_path, '[server]\nadress = "x:1"\n')), "status")
    assert result.exit_code == 2
    assert "unknown key 'adress'; did you mean 'address'?" in result.output
    assert "Traceback" not in result.output and dialled == []


def test_a_misspelt_section_is_named_with_a_suggestion(tmp_path: Path) -> None:
    result = lsi("--profile", str(write(tmp_path, '[severs]\naddress = "x:1"\n')), "status")
    assert result.exit_code == 2 and "did you mean 'server'?" in result.output


def test_a_named_profile_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    result = lsi("--profile", str(tmp_path / "missing.toml"), "status")
    assert result.exit_code == 2 and "missing.toml: no such configuration file" in result.output


def test_half_a_set_of_tls_files_is_refused(tmp_path: Path) -> None:
    result = lsi("--profile", str(write(tmp_path, '[tls]\nca = "ca.crt"\n')), "status")
    assert result.exit_code == 2 and "needs ca, cert and key together; missing cert, key" in result.output


def test_the_profile_purpose_is_recorded_unless_a_flag_gives_another(tmp_path: Path, monkeypatch) -> None:
    asked: list[coordinator_pb2.FederatedQuery] = []

    class Recording(FakeCoordinator):
        def Submit(self, request, timeout):  # noqa: N802 - the gRPC method's name
            asked.append(request)
            return coordinator_pb2.FederatedResult(query=request.query, complete=True)

    monkeypatch.setattr(query_cmd, "coordinator_stub", lambda endpoint: Recording())
    profile = str(write(tmp_path))
    lsi("--profile", profile, "query", "count", "--epsilon", "1", "--yes")
    lsi("--profile", profile, "query", "count", "--epsilon", "1", "--yes", "--purpose", "audit")
    assert [a.query.purpose for a in asked] == ["cost of living", "audit"]


def test_help_shows_the_profile_option_and_its_variable() -> None:
    out = lsi("--help").output
    assert "--profile" in out and "LSI_PROFILE" in out and "profile.toml" in out
