"""Signed ledger receipts: a node states its audit head and cumulative spend; anyone with its key can check.

The signature covers a canonical JSON of the receipt's fields, not protobuf bytes, so it does not depend on how a
protobuf library serializes."""

from __future__ import annotations

import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from privacy.audit import AuditSigner, utc_now
from privacy.ledger import LedgerHead
from protos.lsi.v1 import query_pb2

SIGNED_FIELDS = (
    "district_code",
    "seq",
    "head_hash",
    "spent_units",
    "known_seq",
    "known_hash",
    "public_key",
    "issued_at",
)


def receipt_bytes(receipt: query_pb2.Receipt) -> bytes:
    """The exact bytes a receipt's signature covers."""
    fields = {name: getattr(receipt, name) for name in SIGNED_FIELDS}
    fields["public_key"] = receipt.public_key.hex()
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def sign_receipt(district_code: str, head: LedgerHead, signer: AuditSigner) -> query_pb2.Receipt:
    """A receipt for the ledger head, signed with the node's audit key."""
    receipt = query_pb2.Receipt(
        district_code=district_code,
        seq=head.seq,
        head_hash=head.head_hash,
        spent_units=head.spent_units,
        known_seq=head.known_seq,
        known_hash=head.known_hash,
        public_key=signer.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        issued_at=utc_now(),
    )
    receipt.signature = signer.sign(receipt_bytes(receipt))
    return receipt


def signature_ok(receipt: query_pb2.Receipt) -> bool:
    """Whether the receipt is signed by the key it carries."""
    try:
        Ed25519PublicKey.from_public_bytes(receipt.public_key).verify(receipt.signature, receipt_bytes(receipt))
    except (InvalidSignature, ValueError):
        return False
    return True
