"""Specifications for a clean stop: SIGTERM stops a node or the coordinator within 5 s, whatever is in flight."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import uuid
from pathlib import Path

import grpc
import pytest

from cli.local_county import ANALYST, COORDINATOR, LocalCounty, node_name
from node.synth import write_county
from privacy.audit import AuditSigner, verify_chain
from protos.lsi.v1 import coordinator_pb2, coordinator_pb2_grpc, query_pb2
from reference.geography import districts
from security.tls import channel_credentials
from tests.county import policy_with

pytestmark = pytest.mark.slow
STOP_SECONDS = 5


def _register_only(local: LocalCounty, codes: list[str]) -> None:
    path = local.root / "coordinator.toml"
    head, *entries = path.read_text().split("\n[[nodes]]\n")
    path.write_text(head + "".join("\n[[nodes]]\n" + e for e in entries if any(f'"{c}"' in e for c in codes)))


def submit_in_background(county: LocalCounty, outcomes: list[object]) -> threading.Thread:
    """A county query left waiting on a frozen district while the coordinator is asked to stop."""

    def run() -> None:
        creds = channel_credentials(county.tls(ANALYST))
        with grpc.secure_channel(
            county.coordinator_address, creds, options=[("grpc.ssl_target_name_override", COORDINATOR)]
        ) as channel:
            query = query_pb2.Query(
                query_id=str(uuid.uuid4()),
                measure=query_pb2.Measure(kind=1),
                months=["2025-10"],
                privacy=query_pb2.PrivacyRequest(epsilon=1.0),
            )
            try:
                outcomes.append(
                    coordinator_pb2_grpc.CoordinatorStub(channel).Submit(
                        coordinator_pb2.FederatedQuery(query=query, deadline_seconds=60), timeout=90
                    )
                )
            except grpc.RpcError as exc:
                outcomes.append(exc.code())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", ["dial", "outbound"])
def test_sigterm_stops_the_coordinator_and_a_node_in_time_with_a_district_frozen(tmp_path: Path, mode: str) -> None:
    frozen, healthy = districts()[0], districts()[1]
    county = LocalCounty(tmp_path)
    write_county(county.data_dir, seed=5, scale=0.05, months=1, end_month="2025-10")
    county.prepare_pki()
    county.write_configs(policy_with(), outbound=[frozen.code, healthy.code] if mode == "outbound" else [])
    _register_only(county, [frozen.code, healthy.code])
    county.start_nodes([frozen.code, healthy.code])
    try:
        for d in (frozen, healthy):
            county.wait_serving(d.code, county.node_address(d.code), node_name(d))
        county.start_coordinator()
        county.wait_serving("coordinator", county.coordinator_address, COORDINATOR)
        county.wait_all_connected()
        os.kill(county.processes[frozen.code].pid, signal.SIGSTOP)
        outcomes: list[object] = []
        waiting = submit_in_background(county, outcomes)
        waiting.join(timeout=1.0)  # the query is now waiting on the frozen district
        coordinator = county.processes["coordinator"]
        coordinator.terminate()
        assert coordinator.wait(timeout=STOP_SECONDS) == 0
        node = county.processes[healthy.code]
        node.terminate()
        assert node.wait(timeout=STOP_SECONDS) == 0
    finally:
        if county.processes[frozen.code].poll() is None:
            os.kill(county.processes[frozen.code].pid, signal.SIGCONT)
        county.stop()
    folder = tmp_path / "nodes" / healthy.code
    db = folder / "state.sqlite"
    with sqlite3.connect(db) as conn:
        released = {r[0] for r in conn.execute("SELECT query_id FROM releases")}
        charged = {r[0] for r in conn.execute("SELECT query_id FROM charges")}
    assert released == charged
    assert verify_chain(db, AuditSigner.load_or_create(folder / "audit-ed25519.pem").public_key).ok


@pytest.mark.parametrize("damage", ["state.sqlite", "audit-ed25519.pem"])
def test_a_node_that_cannot_start_says_why_in_one_line(tmp_path: Path, damage: str) -> None:
    from click.testing import CliRunner

    from cli.main import main

    d = districts()[0]
    county = LocalCounty(tmp_path)
    write_county(county.data_dir, seed=5, scale=0.02, months=1, end_month="2025-10")
    county.prepare_pki()
    county.write_configs(policy_with())
    (tmp_path / "nodes" / d.code / damage).write_bytes(b"this is not what the node wrote" * 100)
    result = CliRunner().invoke(main, ["node", "serve", "--config", str(tmp_path / "nodes" / d.code / "node.toml")])
    assert result.exit_code != 0
    assert "not started" in result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a clean exit, not an escaped exception
