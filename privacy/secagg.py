"""Secure-sum primitives: Shamir shares over F_p (p = 2^127 - 1), X25519 + HKDF + AES-GCM share encryption.

Pure functions over Python integers (never numpy: a uint64 wraps silently and Lagrange products overflow int64).
Every ciphertext is bound to the round id, the query hash, its sender and its receiver (key derivation and AAD),
so a share replayed from another round, another query or another pair of districts fails authentication.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

PRIME = 2**127 - 1
ELEMENT_BYTES = 16
# A decoded total (or an encoded input) must lie well inside (-p/2, p/2): the margin is for 12 districts' noisy
# 64-bit cells many times over, so a value this large means something went wrong, never a real figure.
VALUE_LIMIT = 2**100
ROUND_ID_BYTES = 16
NONCE_BYTES = 12


class SecAggError(ValueError):
    """A share, key or total that fails a check; the message names the check, never a value."""


def new_round_id() -> str:
    """A fresh 128-bit round id, hex, from the OS CSPRNG."""
    return secrets.token_hex(ROUND_ID_BYTES)


def check_round_id(round_id: str) -> str:
    """The round id if it is 32 lowercase hex digits; else SecAggError."""
    if len(round_id) != 2 * ROUND_ID_BYTES or any(c not in "0123456789abcdef" for c in round_id):
        raise SecAggError("round_id: must be 32 lowercase hex digits (a fresh 128-bit id per round)")
    return round_id


def encode(value: int) -> int:
    """A signed integer as a field element, refusing one outside +-VALUE_LIMIT (never wrapped silently)."""
    if not -VALUE_LIMIT <= value <= VALUE_LIMIT:
        raise SecAggError("a cell is outside the range the secure sum can carry")
    return value % PRIME


def decode(element: int) -> int:
    """A field element as a signed integer (values above p/2 are negative), range-checked."""
    if not 0 <= element < PRIME:
        raise SecAggError("a field element is out of range")
    value = element - PRIME if element > PRIME // 2 else element
    if not -VALUE_LIMIT <= value <= VALUE_LIMIT:
        raise SecAggError("the decoded total is outside the range the secure sum can carry: the shares disagree")
    return value


def _evaluate(coefficients: Sequence[int], x: int) -> int:
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % PRIME
    return acc


def share_vector(values: Sequence[int], points: Sequence[int], threshold: int) -> dict[int, list[int]]:
    """Shamir shares of each encoded value at each point: any `threshold` shares recover it, fewer say nothing."""
    if threshold < 1 or len(set(points)) != len(points) or any(not 0 < x < PRIME for x in points):
        raise SecAggError("shares need distinct non-zero evaluation points and a threshold of at least 1")
    shares: dict[int, list[int]] = {x: [] for x in points}
    for value in values:
        # A fresh polynomial per cell, its non-constant coefficients uniform over F_p from the OS CSPRNG.
        coefficients = [encode(value), *(secrets.randbelow(PRIME) for _ in range(threshold - 1))]
        for x in points:
            shares[x].append(_evaluate(coefficients, x))
    return shares


def add_shares(vectors: Sequence[Sequence[int]]) -> list[int]:
    """The element-wise sum of share vectors mod p (a district's summed share)."""
    if not vectors or len({len(v) for v in vectors}) != 1:
        raise SecAggError("summed shares need at least one vector, all the same length")
    return [sum(column) % PRIME for column in zip(*vectors, strict=True)]


def interpolate_at_zero(shares: Mapping[int, Sequence[int]]) -> list[int]:
    """The shared vector's elements (f(0) per cell) from shares at distinct points, by Lagrange interpolation."""
    points = list(shares)
    if not points or len({len(v) for v in shares.values()}) != 1:
        raise SecAggError("interpolation needs shares of equal length")
    weights = []
    for i in points:
        num, den = 1, 1
        for j in points:
            if j != i:
                num = num * (-j) % PRIME
                den = den * (i - j) % PRIME
        weights.append(num * pow(den, -1, PRIME) % PRIME)
    length = len(shares[points[0]])
    return [sum(w * shares[x][k] for w, x in zip(weights, points, strict=True)) % PRIME for k in range(length)]


def pack(elements: Sequence[int]) -> bytes:
    """Field elements as fixed-width big-endian bytes."""
    return b"".join(e.to_bytes(ELEMENT_BYTES, "big") for e in elements)


def unpack(data: bytes, length: int) -> list[int]:
    """Field elements from `pack`, refusing a wrong length or an element not below p."""
    if len(data) != length * ELEMENT_BYTES:
        raise SecAggError(f"a share vector has {len(data)} bytes; {length} cells need {length * ELEMENT_BYTES}")
    out = [int.from_bytes(data[i : i + ELEMENT_BYTES], "big") for i in range(0, len(data), ELEMENT_BYTES)]
    if any(e >= PRIME for e in out):
        raise SecAggError("a share vector holds an element that is not in the field")
    return out


def new_key_pair() -> tuple[bytes, bytes]:
    """A fresh ephemeral X25519 key pair as raw (private, public) bytes."""
    private = X25519PrivateKey.generate()
    return (
        private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
        private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    )


def binding(round_id: str, query_hash: str, sender: str, receiver: str) -> bytes:
    """What a ciphertext is bound to, unambiguously framed: round, query, direction."""
    parts = [b"lsi-secagg-v1", round_id.encode(), query_hash.encode(), sender.encode(), receiver.encode()]
    return b"".join(len(p).to_bytes(2, "big") + p for p in parts)


def key_statement(round_id: str, query_hash: str, district: str, public_key: bytes) -> bytes:
    """The bytes a district signs to vouch for its ephemeral key in this round of this query."""
    return binding(round_id, query_hash, district, "") + public_key


def pair_key(private: bytes, peer_public: bytes, round_id: str, query_hash: str, sender: str, receiver: str) -> bytes:
    """The AES-256 key for shares from sender to receiver: HKDF-SHA256 of the X25519 secret, salted by the round."""
    if len(peer_public) != 32:
        raise SecAggError("a district's ephemeral public key must be 32 bytes (X25519)")
    secret = X25519PrivateKey.from_private_bytes(private).exchange(X25519PublicKey.from_public_bytes(peer_public))
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=bytes.fromhex(check_round_id(round_id)),
        info=binding(round_id, query_hash, sender, receiver),
    ).derive(secret)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """AES-GCM encryption with a fresh random nonce: (nonce, ciphertext)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """AES-GCM decryption; SecAggError if the ciphertext or its binding was altered, replayed or misdirected."""
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError):
        raise SecAggError(
            "a share failed authentication (altered, replayed from another round, or misdirected)"
        ) from None


def set_hash(contributors: Sequence[str]) -> str:
    """H(S): the contributor set's digest, equal for every district summing over the same set."""
    return hashlib.sha256("\n".join(sorted(contributors)).encode()).hexdigest()
