"""A node killed with SIGKILL mid-query restarts with a consistent ledger: every answer that left was charged."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import grpc
import pytest

from cli.local_county import COORDINATOR, LocalCounty, node_name
from node.synth import write_county
from privacy.audit import AuditSigner, verify_chain
from protos.lsi.v1 import node_pb2_grpc, query_pb2
from reference.geography import districts
from security.tls import channel_credentials
from tests.county import policy_with

pytestmark = pytest.mark.slow


def fire_queries(
    stub: node_pb2_grpc.NodeStub, answered: list[str], stop: threading.Event, counter: itertools.count
) -> None:
    """Send distinct queries until the node dies; remember the ids whose answers arrived."""
    while not stop.is_set():
        i = next(counter)  # shared: two threads asking the same question would get one release, replayed
        query_id = str(uuid.uuid4())
        query = query_pb2.Query(
            query_id=query_id,
            measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
            group_by=["ward_code"],
            months=["2025-10"],
            privacy=query_pb2.PrivacyRequest(epsilon=1.0 + i * 1e-6),
            analyst="crash-test",
        )
        try:
            stub.Query(query, timeout=5)
        except grpc.RpcError:
            return
        answered.append(query_id)


def test_a_node_killed_mid_query_restarts_with_every_release_charged_and_audited(tmp_path: Path) -> None:
    d = districts()[0]
    county = LocalCounty(tmp_path)
    write_county(county.data_dir, seed=5, scale=0.05, months=1, end_month="2025-10")
    county.prepare_pki()
    county.write_configs(policy_with())
    county.start_nodes([d.code])
    try:
        county.wait_serving(d.code, county.node_address(d.code), node_name(d))
        creds = channel_credentials(county.tls(COORDINATOR))
        with grpc.secure_channel(
            county.node_address(d.code), creds, options=[("grpc.ssl_target_name_override", node_name(d))]
        ) as channel:
            answered: list[str] = []
            stop = threading.Event()
            counter = itertools.count(1)
            stub = node_pb2_grpc.NodeStub(channel)
            workers = [threading.Thread(target=fire_queries, args=(stub, answered, stop, counter)) for _ in range(4)]
            for w in workers:
                w.start()
            deadline = time.monotonic() + 20
            while len(answered) < 30 and time.monotonic() < deadline:
                time.sleep(0.05)
            county.stop(d.code, kill=True)
            stop.set()
            for w in workers:
                w.join(timeout=10)
        assert len(answered) >= 30
        county.start_nodes([d.code])
        county.wait_serving(d.code, county.node_address(d.code), node_name(d))
    finally:
        county.stop()

    folder = tmp_path / "nodes" / d.code
    db = folder / "state.sqlite"
    with sqlite3.connect(db) as conn:
        released = {r[0] for r in conn.execute("SELECT query_id FROM releases")}
        charged = {r[0] for r in conn.execute("SELECT query_id FROM charges")}
        audited = {r[0] for r in conn.execute("SELECT query_id FROM audit_log WHERE action = 'release'")}
    assert set(answered) <= released, "an answer left the node without its own stored release"
    assert released == charged == audited
    report = verify_chain(db, AuditSigner.load_or_create(folder / "audit-ed25519.pem").public_key)
    assert report.ok, report.reason
