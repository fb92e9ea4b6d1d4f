"""What the throughput work keeps true: cached certificate checks still see a replaced CA and a revocation, and
the coordinator's per-query receipt read stays an index lookup however many receipts it has kept."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator.receipts import LATEST_SEQ, ReceiptBook
from security import pki
from security.testing import ANALYST, make_test_pki
from security.tls import AccessDenied, caller_from_context

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
