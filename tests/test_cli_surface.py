"""Specifications for the command line's surface: exit codes, versions, help, --yes before spending, --purpose,
--json, names for districts, and one message (not a traceback) for each failure the issue lists."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.main import main
from privacy.audit import AuditSigner
from reference.geography import UnknownDistrictError, district_named

ROOT = Path(__file__).resolve().parent.parent
SPENDING = (
    ("query", "count"),
    ("query", "sum"),
    ("query", "mean"),
    ("query", "indicator"),
    ("index", "refresh"),
    ("benchmark",),
    ("unclaimed",),
    ("campaign", "results"),
)
ASKED_FOR_JSON = (("campaign", "list"), ("report",), ("budget", "set"), ("audit", "verify"))


def command(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = main
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    return cmd


def options(path: tuple[str, ...]) -> set[str]:
    return {o for p in command(path).params for o in getattr(p, "opts", [])}


def lsi(*args: str):
    return CliRunner().invoke(main, list(args))


def test_lsi_version_prints_the_package_version() -> None:
    out = lsi("--version")
    assert out.exit_code == 0 and out.output.startswith("lsi 0.")


def test_help_lists_the_exit_codes() -> None:
    text = " ".join(lsi("--help").output.split())
    assert "Exit codes: 0 complete" in text and "3 partial" in text and "5 unreachable" in text


def test_help_shows_the_environment_variables_including_the_server_name() -> None:
    text = lsi("query", "count", "--help").output
    assert all(v in text for v in ("LSI_COORDINATOR", "LSI_PKI", "LSI_IDENTITY", "LSI_SERVER_NAME"))


@pytest.mark.parametrize("path", SPENDING, ids=" ".join)
def test_every_spending_command_takes_purpose_and_yes(path: tuple[str, ...]) -> None:
    assert {"--purpose", "--yes", "--json"} <= options(path)


@pytest.mark.parametrize("path", ASKED_FOR_JSON, ids=" ".join)
def test_commands_the_issue_named_take_json(path: tuple[str, ...]) -> None:
    assert "--json" in options(path)


@pytest.mark.parametrize(
    "args",
    [
        ("query", "count", "--epsilon", "1"),
        ("index", "refresh", "--month", "2025-10", "--rho", "1"),
        ("unclaimed", "--month", "2025-10", "--epsilon", "1"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_spending_without_yes_states_the_cost_and_stops_before_connecting(args: tuple[str, ...]) -> None:
    # Nothing listens at port 9: had it tried to connect, the failure would be "unreachable" (5), not 2.
    out = lsi(*args, "--address", "127.0.0.1:9", "--insecure-plaintext-dangerous")
    assert out.exit_code == 2, out.output
    assert "Cost at each district node asked" in out.output and "add --yes" in out.output


def test_the_report_is_not_a_spending_command() -> None:
    assert "--yes" not in options(("report",)) and "--purpose" not in options(("report",))


@pytest.mark.parametrize("text", ["Thanet", "thanet", "E07000114", " Thanet "])
def test_a_district_is_named_by_name_or_code(text: str) -> None:
    assert district_named(text).code == "E07000114"


def test_an_unknown_district_lists_names_and_codes() -> None:
    with pytest.raises(UnknownDistrictError, match=r"Thanet \(E07000114\)"):
        district_named("Thannet")


def test_district_option_rejects_an_unknown_name_with_the_known_ones() -> None:
    out = lsi("query", "count", "--epsilon", "1", "--district", "Medway", "--yes")
    assert out.exit_code == 2 and "Give a name or ONS code" in out.output


def test_a_misspelled_key_in_node_toml_is_named_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[node]\ndistrict_code = "E07000114"\nstrict_dta = false\n')
    out = lsi("node", "serve", "--config", str(config))
    assert out.exit_code == 2, out.output
    assert "unknown key 'strict_dta'; did you mean 'strict_data'?" in out.output
    assert str(config) in out.output and "Traceback" not in out.output


def test_a_corrupt_state_database_is_one_message_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    AuditSigner.load_or_create(tmp_path / "audit.key")
    args = ("audit", "verify", "--db", str(db), "--key", str(tmp_path / "audit.key"))
    out = lsi(*args)
    assert out.exit_code == 1, out.output
    assert "could not be read" in out.output and "--debug" in out.output and "Traceback" not in out.output
    debug = lsi("--debug", *args)
    assert debug.exception is not None and not isinstance(debug.exception, SystemExit)


def test_rates_say_dwellings_wherever_they_divide_by_dwellings() -> None:
    sources = [*ROOT.glob("analysis/*.py"), *ROOT.glob("cli/*.py"), *ROOT.glob("report/**/*"), ROOT / "README.md"]
    offending = [p.name for p in sources if p.is_file() and "per 1,000 households" in p.read_text(errors="ignore")]
    assert offending == []


def test_a_coordinator_registering_a_district_outside_the_pack_is_refused_by_name(tmp_path: Path) -> None:
    config = tmp_path / "coordinator.toml"
    config.write_text(
        '[coordinator]\nlisten = "127.0.0.1:0"\nstate_db = "state.sqlite"\n\n'
        '[[nodes]]\ndistrict_code = "E07999999"\naddress = "127.0.0.1:1"\ncertificate_name = "node-x"\n'
    )
    out = lsi("coordinator", "serve", "--config", str(config))
    assert out.exit_code == 2, out.output
    assert "E07999999" in out.output and "geography" in out.output and "Traceback" not in out.output
