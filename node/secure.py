"""A node's part in a secure county sum (issue 15): three steps per round, every step checked and persisted.

Round 0 (setup): validate the query, make a fresh X25519 key pair, sign its public half with the node's certificate
key. Round 1 (share): check every peer's signed key, then charge the ledger and draw the district's discrete
Gaussian share in the same transaction (write-ahead: nothing decodable leaves before the charge commits), Shamir-share
the noisy vector and seal one share to each peer, this district included. Round 2 (sum): check the contributor set
(|S| >= t, enforced here, not trusted to the coordinator), open the shares addressed here, return their sum, and
persist that answer before replying: a second request over a different S is refused, so the coordinator can never
difference two sums to isolate one district. The round's private key is erased once round 2 is answered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from opendp.mod import OpenDPException

from node.canonical import PlannedNoise, canonical_question
from node.engine import Caller, NodeEngine, _keys, _level, charge_message, check_noise
from node.executor import exact_aggregate
from node.query import QueryError, validate
from privacy import secagg
from privacy.audit import utc_now
from privacy.distributed import SecureShape, secure_rho, share_scale
from privacy.draw import Draw
from privacy.ledger import Drawn, ReleaseRequest
from privacy.migrations import Migration, migrate
from privacy.statedb import state_at
from protos.lsi.v1 import node_pb2, query_pb2
from protos.serde import Mechanism
from security import pki
from security.pki import Role

_SCHEMA = """CREATE TABLE IF NOT EXISTS secure_rounds (
    round_id TEXT PRIMARY KEY,
    query_hash TEXT NOT NULL,
    query BLOB NOT NULL,
    roster TEXT NOT NULL,
    threshold INTEGER NOT NULL,
    private_key BLOB,
    signed_key BLOB NOT NULL,
    peer_keys TEXT,
    cells INTEGER,
    set_hash TEXT,
    answer BLOB,
    created_at TEXT NOT NULL
)"""
MIGRATIONS = (Migration(1, "secure-sum rounds seen, their keys and round-2 answers", (_SCHEMA,)),)
SECURE_TAG = "~secure~"


class SecureRoundError(ValueError):
    """A round step this node refuses; `code` is the gRPC status name, the message names the problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SigningIdentity:
    """The node's certificate and key (to sign its round keys) and the county CA (to check its peers')."""

    certificate_pem: bytes
    private_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate

    @classmethod
    def from_pem(cls, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> SigningIdentity:
        """From the node's TLS files' PEM bytes."""
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the node's TLS key must be an EC key to sign secure-round keys")
        return cls(cert_pem, key, x509.load_pem_x509_certificate(ca_pem))


def query_hash(query: query_pb2.Query, roster: Sequence[str], threshold: int) -> str:
    """What every message of a round is bound to: the query, the districts asked and the threshold."""
    body = query.SerializeToString(deterministic=True)
    return hashlib.sha256(body + b"\x00" + ",".join(roster).encode() + b"\x00" + str(threshold).encode()).hexdigest()


def check_peer_key(key: node_pb2.SignedKey, ca: x509.Certificate) -> None:
    """A peer's round key is signed by a current node certificate for the district it names, issued by the CA."""
    try:
        cert = x509.load_pem_x509_certificate(key.certificate)
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise SecureRoundError(
            "INVALID_ARGUMENT", f"{key.district_code}: its certificate is not the county CA's"
        ) from None
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SecureRoundError("INVALID_ARGUMENT", f"{key.district_code}: its certificate has expired")
    if pki.read_role(key.certificate) is not Role.NODE or pki.read_district(key.certificate) != key.district_code:
        raise SecureRoundError(
            "INVALID_ARGUMENT", f"{key.district_code}: the key is not signed by that district's node"
        )
    public = cert.public_key()
    statement = secagg.key_statement(key.round_id, key.query_hash, key.district_code, key.public_key)
    try:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(key.signature, statement, ec.ECDSA(hashes.SHA256()))
    except (AssertionError, InvalidSignature):
        raise SecureRoundError("INVALID_ARGUMENT", f"{key.district_code}: its round key's signature is wrong") from None


class SecureRounds:
    """This node's secure rounds over its engine's data and ledger."""

    def __init__(self, engine: NodeEngine, identity: SigningIdentity | None) -> None:
        self.engine = engine
        # None only behind --insecure-plaintext-dangerous: keys are then unsigned and unchecked.
        self.identity = identity
        self.db = state_at(engine.store.path)
        with self.db.transaction() as conn:
            migrate(conn, "secure_rounds", MIGRATIONS, str(engine.store.path))

    @property
    def code(self) -> str:
        return self.engine.district.code

    # -- round 0 ------------------------------------------------------------------------------------

    def setup(self, request: node_pb2.SecureSetupRequest) -> node_pb2.SignedKey:
        """A fresh signed ephemeral key for a new round; the same key again for a retried setup."""
        round_id = _round(request.round_id)
        roster = list(request.roster)
        if len(set(roster)) != len(roster) or self.code not in roster:
            raise SecureRoundError("INVALID_ARGUMENT", "roster: must list distinct districts, this one included")
        try:
            SecureShape(len(roster), int(request.threshold))
        except ValueError as exc:
            raise SecureRoundError("INVALID_ARGUMENT", f"threshold: {exc}") from None
        self._plan(request.query, SecureShape(len(roster), int(request.threshold)))  # refuse a bad query now
        qhash = query_hash(request.query, roster, request.threshold)
        private, public = secagg.new_key_pair()
        signed = node_pb2.SignedKey(round_id=round_id, query_hash=qhash, district_code=self.code, public_key=public)
        if self.identity is not None:
            statement = secagg.key_statement(round_id, qhash, self.code, public)
            signed.signature = self.identity.private_key.sign(statement, ec.ECDSA(hashes.SHA256()))
            signed.certificate = self.identity.certificate_pem
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT query_hash, signed_key, answer FROM secure_rounds WHERE round_id = ?", (round_id,)
            ).fetchone()
            if row is not None:
                if row[0] != qhash or row[2] is not None:
                    raise SecureRoundError(
                        "ALREADY_EXISTS", f"round {round_id} was already used; a new attempt needs a new round id"
                    )
                return node_pb2.SignedKey.FromString(row[1])
            conn.execute(
                "INSERT INTO secure_rounds (round_id, query_hash, query, roster, threshold, private_key, signed_key, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    round_id,
                    qhash,
                    request.query.SerializeToString(),
                    json.dumps(roster),
                    int(request.threshold),
                    private,
                    signed.SerializeToString(),
                    utc_now(),
                ),
            )
        return signed

    # -- round 1 ------------------------------------------------------------------------------------

    def share(self, request: node_pb2.SecureShareRequest, caller: Caller) -> node_pb2.SecureShares:
        """Charge, draw the noisy share vector, and seal a Shamir share of it to every peer with a valid key."""
        state = self._load(request.round_id)
        if state.answered:
            raise SecureRoundError("FAILED_PRECONDITION", f"round {state.round_id} is finished")
        keys = self._check_keys(state, request.keys)
        shape = SecureShape(len(state.roster), state.threshold)
        vq, exact, plan, noise = self._plan(state.query, shape)
        points = {c: state.roster.index(c) + 1 for c in keys}
        pair_keys = {
            c: secagg.pair_key(state.private_key, k, state.round_id, state.qhash, self.code, c) for c, k in keys.items()
        }
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE secure_rounds SET peer_keys = COALESCE(peer_keys, ?), cells = ? WHERE round_id = ?",
                (json.dumps({c: k.hex() for c, k in keys.items()}), len(exact.keys), state.round_id),
            )
        source = self.engine._source(vq.dataset)
        data_key = ",".join(source.keys[m] for m in vq.months)
        question = canonical_question(vq, source.columns, [PlannedNoise(str(plan.mechanism), noise)])
        key_digest = hashlib.sha256(json.dumps(sorted((c, k.hex()) for c, k in keys.items())).encode()).hexdigest()
        values = list(exact.counts if vq.measure == "count" else exact.sums or ())
        release = ReleaseRequest(
            query_id=f"{vq.query_id}{SECURE_TAG}{state.round_id}",
            fingerprint=hashlib.sha256(f"{question}|{data_key}|{state.round_id}|{key_digest}".encode()).hexdigest(),
            snapshot_digest=data_key,
            analyst=state.query.analyst or caller.name,
            role=caller.role,
            purpose=vq.purpose,
            canonical_query=vq.canonical(),
            draws=(Draw(plan.mechanism, noise, plan.sensitivity, tuple(values), secure=shape),),
            months=tuple(vq.months),
        )

        def render(drawn: Drawn) -> bytes:
            # Inside the ledger's transaction, after the charge: shares and AES-GCM over a few hundred cells (ms).
            (noisy,) = drawn.noisy
            shares = secagg.share_vector(noisy, [points[c] for c in keys], state.threshold)
            sealed = [_seal(pair_keys[c], shares[points[c]], state.round_id, state.qhash, self.code, c) for c in keys]
            layout = [query_pb2.Cell(level=_level(k), keys=_keys(k)) for k in exact.keys]
            return node_pb2.SecureShares(
                round_id=state.round_id,
                district_code=self.code,
                layout=layout,
                shares=sealed,
                charge=charge_message(drawn.charge),
                share_scale=noise,
            ).SerializeToString()

        stored = self.engine.store.charge_and_release(release, render)
        reply = node_pb2.SecureShares.FromString(stored.payload)
        if stored.replayed:
            reply.replayed = True
            reply.charge.CopyFrom(query_pb2.Charge(delta=reply.charge.delta, mechanism=reply.charge.mechanism))
        reply.budget.CopyFrom(self.engine.totals())
        return reply

    # -- round 2 ------------------------------------------------------------------------------------

    def sum(self, request: node_pb2.SecureSumRequest) -> node_pb2.SummedShare:
        """This district's summed share over the contributor set, answered once per round (persisted first)."""
        state = self._load(request.round_id)
        contributors = list(request.contributors)
        s_hash = secagg.set_hash(contributors)
        if state.answered:
            if state.set_hash != s_hash:
                raise SecureRoundError(
                    "FAILED_PRECONDITION",
                    f"round {state.round_id} was already summed over another contributor set; it is answered once",
                )
            return node_pb2.SummedShare.FromString(state.answer or b"")
        if state.peer_keys is None or state.cells is None:
            raise SecureRoundError("FAILED_PRECONDITION", f"round {state.round_id} has not shared yet (step 1 first)")
        if len(set(contributors)) != len(contributors) or not set(contributors) <= set(state.peer_keys):
            raise SecureRoundError(
                "INVALID_ARGUMENT", "contributors: must be distinct districts whose keys were shared"
            )
        if len(contributors) < state.threshold:
            raise SecureRoundError(
                "FAILED_PRECONDITION",
                f"contributors: {len(contributors)} districts, fewer than the threshold {state.threshold}; "
                "a sum over so few would carry too little noise",
            )
        by_sender = {s.sender: s for s in request.shares}
        if len(by_sender) != len(request.shares) or set(by_sender) != set(contributors):
            raise SecureRoundError("INVALID_ARGUMENT", "shares: need exactly one sealed share from each contributor")
        vectors = []
        for sender in contributors:
            sealed = by_sender[sender]
            if sealed.receiver != self.code:
                raise SecureRoundError("INVALID_ARGUMENT", f"shares: the share from {sender} is addressed elsewhere")
            key = secagg.pair_key(
                state.private_key,
                bytes.fromhex(state.peer_keys[sender]),
                state.round_id,
                state.qhash,
                sender,
                self.code,
            )
            aad = secagg.binding(state.round_id, state.qhash, sender, self.code)
            try:
                plain = secagg.open_sealed(key, sealed.nonce, sealed.ciphertext, aad)
                vectors.append(secagg.unpack(plain, state.cells))
            except secagg.SecAggError as exc:
                raise SecureRoundError("INVALID_ARGUMENT", f"shares: from {sender}: {exc}") from None
        answer = node_pb2.SummedShare(
            round_id=state.round_id,
            district_code=self.code,
            elements=secagg.pack(secagg.add_shares(vectors)),
            set_hash=s_hash,
        )
        with self.db.transaction() as conn:
            # Checked again under the lock: two concurrent sums over different sets must not both be answered.
            (existing,) = conn.execute(
                "SELECT set_hash FROM secure_rounds WHERE round_id = ?", (state.round_id,)
            ).fetchone()
            if existing is not None and existing != s_hash:
                raise SecureRoundError("FAILED_PRECONDITION", f"round {state.round_id} was already summed")
            if existing is None:
                conn.execute(
                    "UPDATE secure_rounds SET set_hash = ?, answer = ?, private_key = NULL WHERE round_id = ?",
                    (s_hash, answer.SerializeToString(), state.round_id),
                )
        return answer

    # -- shared ---------------------------------------------------------------------------------

    def _plan(self, query: query_pb2.Query, shape: SecureShape) -> tuple:
        """The validated query, its exact cells, the plain plan and the share scale; QueryError if not secure-able."""
        source = self.engine._source(query.dataset)
        vq = validate(query, columns=source.columns, months=list(source.frames))
        if vq.measure == "mean":
            raise QueryError("measure", "secure county sums take COUNT or SUM (a mean is their ratio: ask for both)")
        if vq.loss.mechanism is not Mechanism.DISCRETE_GAUSSIAN:
            raise QueryError(
                "privacy.mechanism", "secure county sums use the discrete Gaussian (Laplace is not closed under sums)"
            )
        if "ward_code" in vq.group_by:
            raise QueryError("group_by", "secure county sums cannot group by ward: each district has its own wards")
        exact = exact_aggregate(source.frames, vq, source.columns, self.engine.wards)
        try:
            (plan,) = self.engine._plan(vq, exact)
            check_noise([plan])
            noise = share_scale(plan.scale, shape)
            secure_rho(noise, plan.sensitivity, shape, len(exact.keys))
        except QueryError:
            raise
        except (ValueError, ArithmeticError, OpenDPException) as exc:
            raise QueryError("privacy", f"no secure release can be planned for this loss: {exc}") from exc
        return vq, exact, plan, noise

    def _check_keys(self, state: _Round, keys: Sequence[node_pb2.SignedKey]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for key in keys:
            if key.round_id != state.round_id or key.query_hash != state.qhash:
                raise SecureRoundError(
                    "INVALID_ARGUMENT", f"{key.district_code}: its key is for another round or query"
                )
            if key.district_code not in state.roster or key.district_code in out:
                raise SecureRoundError("INVALID_ARGUMENT", f"{key.district_code}: not in the roster, or listed twice")
            if self.identity is not None:
                check_peer_key(key, self.identity.ca)
            out[key.district_code] = bytes(key.public_key)
        own = node_pb2.SignedKey.FromString(state.signed_key)
        if out.get(self.code) != own.public_key:
            raise SecureRoundError("INVALID_ARGUMENT", "keys: this district's own round key is missing or altered")
        if len(out) < state.threshold:
            raise SecureRoundError(
                "FAILED_PRECONDITION", f"keys: {len(out)} districts, fewer than the threshold {state.threshold}"
            )
        return {c: out[c] for c in state.roster if c in out}

    def _load(self, round_id: str) -> _Round:
        round_id = _round(round_id)
        with self.db.transaction(write=False) as conn:
            row = conn.execute(
                "SELECT query_hash, query, roster, threshold, private_key, signed_key, peer_keys, cells, set_hash, "
                "answer FROM secure_rounds WHERE round_id = ?",
                (round_id,),
            ).fetchone()
        if row is None:
            raise SecureRoundError("NOT_FOUND", f"round {round_id} was never set up at this node (step 0 first)")
        return _Round(
            round_id=round_id,
            qhash=row[0],
            query=query_pb2.Query.FromString(row[1]),
            roster=json.loads(row[2]),
            threshold=int(row[3]),
            private_key=row[4] or b"",
            signed_key=row[5],
            peer_keys=json.loads(row[6]) if row[6] else None,
            cells=row[7],
            set_hash=row[8],
            answer=row[9],
        )


@dataclass(frozen=True)
class _Round:
    round_id: str
    qhash: str
    query: query_pb2.Query
    roster: list[str]
    threshold: int
    private_key: bytes
    signed_key: bytes
    peer_keys: dict[str, str] | None
    cells: int | None
    set_hash: str | None
    answer: bytes | None

    @property
    def answered(self) -> bool:
        return self.answer is not None


def _round(round_id: str) -> str:
    try:
        return secagg.check_round_id(round_id)
    except secagg.SecAggError as exc:
        raise SecureRoundError("INVALID_ARGUMENT", str(exc)) from None


def _seal(
    key: bytes, elements: Sequence[int], round_id: str, qhash: str, sender: str, receiver: str
) -> node_pb2.SealedShare:
    nonce, ciphertext = secagg.seal(key, secagg.pack(elements), secagg.binding(round_id, qhash, sender, receiver))
    return node_pb2.SealedShare(sender=sender, receiver=receiver, nonce=nonce, ciphertext=ciphertext)
