"""What the throughput work keeps true: cached certificate checks still see a replaced CA and a revocation, the
coordinator's per-query receipt read stays an index lookup however many receipts it has kept, and an answer's
budget totals (rho only, no per-answer epsilon search) read the same as the IG officer's Budget call."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import privacy.accountant as accountant_module
from cli.render import budgets_with_epsilon, left_text
from coordinator.receipts import LATEST_SEQ, ReceiptBook
from node.engine import Caller, NodeEngine
from node.loader import load_district
from node.synth import _write_district
from privacy.audit import AuditSigner
from privacy.ledger import PrivacyStore
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import districts
from security import pki
from security.testing import ANALYST, make_test_pki
from security.tls import AccessDenied, caller_from_context
from tests.county import policy_with

CODES = ["E07000105", "E07000110", "E07000113"]


class PeerContext:
    """A servicer context carrying only the certificate gRPC verified in the handshake."""

    def __init__(self, pem: bytes) -> None:
        self._pem = pem

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self._pem]}


def test_a_certificate_accepted_before_is_refused_once_the_ca_file_is_replaced(tmp_path: Path) -> None:
    county = make_test_pki(tmp_path)
    files = county.files(ANALYST)
    pem = files.cert.read_bytes()
    assert caller_from_context(PeerContext(pem), files=files).name == ANALYST
    shutil.copy(county.foreign_directory / pki.CA_CERT, county.ca)
    with pytest.raises(AccessDenied):
        caller_from_context(PeerContext(pem), files=files)


def test_a_certificate_accepted_before_is_refused_once_revoked(tmp_path: Path) -> None:
    county = make_test_pki(tmp_path)
    files = county.files(ANALYST)
    pem = files.cert.read_bytes()
    assert caller_from_context(PeerContext(pem), files=files).name == ANALYST
    county.revoke(ANALYST)
    with pytest.raises(AccessDenied, match="revoked"):
        caller_from_context(PeerContext(pem), files=files)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seqs=st.dictionaries(st.sampled_from(CODES[:2]), st.sets(st.integers(1, 10_000), min_size=1, max_size=20)))
def test_known_seqs_is_the_highest_receipt_seq_accepted_from_each_node(tmp_path: Path, seqs: dict) -> None:
    book = ReceiptBook(tmp_path / f"coordinator-{uuid.uuid4().hex}.sqlite")  # one per example
    with book.db.transaction() as conn:
        conn.executemany(
            "INSERT INTO node_receipts VALUES (?, ?, 'h', 0, 't')", [(c, s) for c, ss in seqs.items() for s in ss]
        )
    assert book.known_seqs(CODES) == {c: max(seqs.get(c, {0})) for c in CODES}


def test_the_latest_seq_of_a_node_is_read_off_the_index_not_by_scanning_every_receipt(tmp_path: Path) -> None:
    book = ReceiptBook(tmp_path / "coordinator.sqlite")
    with book.db.transaction(write=False) as conn:
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {LATEST_SEQ}", (CODES[0],)))
    assert "SEARCH" in plan and "SCAN" not in plan


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> NodeEngine:
    district = districts()[0]
    root = tmp_path_factory.mktemp("totals")
    _write_district((district.code, root / "data", 7, 0.05, 1, "2025-10", "csv"))
    store = PrivacyStore(
        root / "state.db", policy_with(total_rho=100.0, per_query_rho=10.0)(district), AuditSigner.generate()
    )
    return NodeEngine(district.code, load_district(root / "data" / district.code, district.code), store)


def count_query(qid: str, rho: float) -> query_pb2.Query:
    return query_pb2.Query(
        query_id=qid,
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        months=["2025-10"],
        privacy=query_pb2.PrivacyRequest(rho=rho),
        purpose="totals test",
    )


def test_an_answer_runs_no_epsilon_conversion_for_its_budget_totals(engine, monkeypatch):
    engine.answer(count_query("warm", 0.5), Caller("alice", "analyst"))  # plans and caches this loss's charge
    converted: list[float] = []
    real = accountant_module.rho_to_epsilon

    def spy(rho: float, delta: float) -> float:
        converted.append(rho)
        return real(rho, delta)

    monkeypatch.setattr(accountant_module, "rho_to_epsilon", spy)
    release = engine.answer(count_query("no-search", 0.5), Caller("alice", "analyst"))
    assert release.budget.rho_only and release.budget.spent_epsilon == 0.0
    assert converted == []


def test_an_answers_budget_left_reads_as_the_budget_call_says(engine):
    release = engine.answer(count_query("left", 0.25), Caller("alice", "analyst"))
    status = engine.budget()
    assert not status.rho_only and release.budget.spent_rho == status.spent_rho
    assert left_text(release.budget) == left_text(status)


def test_printed_and_json_results_carry_epsilon_for_every_answers_budget(engine):
    release = engine.answer(count_query("json", 0.25), Caller("alice", "analyst"))
    result = coordinator_pb2.FederatedResult(
        districts=[coordinator_pb2.DistrictOutcome(district_code="x", answered=True, budget=release.budget)]
    )
    shown = budgets_with_epsilon(result).districts[0].budget
    status = engine.budget()
    assert not shown.rho_only
    assert (shown.total_epsilon, shown.spent_epsilon, shown.remaining_epsilon) == (
        status.total_epsilon,
        status.spent_epsilon,
        status.remaining_epsilon,
    )
