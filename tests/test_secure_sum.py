"""Secure county sums (issue 15): exact decoding, secrecy against the coordinator, dropouts, replays, charges."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

import privacy.ledger as ledger_module
from analysis.queries import build_query
from cli.local_county import node_name
from coordinator.secure import SecureAbort, StepReply, pool_fanout, run_round
from node.engine import Caller
from node.secure import SecureRoundError, SecureRounds, SigningIdentity
from privacy import secagg
from privacy.distributed import SecureShape, secure_rho, share_scale, tau
from privacy.mechanisms import Mechanism, charge_rho, release
from privacy.sensitivity import Sensitivity
from protos.lsi.v1 import node_pb2, query_pb2
from reference.geography import districts

COORDINATOR = Caller(name="coordinator", role="coordinator")
FIVE = [d.code for d in districts()][:5]
THRESHOLD = 3  # five districts, up to two dropouts


def _query(rho: float = 0.05) -> query_pb2.Query:
    return build_query(
        query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        months=["2025-10"],
        rho=rho,
        mechanism=Mechanism.DISCRETE_GAUSSIAN,
        purpose="secure test",
    )


@pytest.fixture(scope="module")
def rounds(county) -> dict[str, SecureRounds]:
    """Each district's secure rounds over the running county's engines, signing with its node certificate."""
    by_code = {d.code: d for d in districts()}
    return {
        code: SecureRounds(
            county.engines[code], SigningIdentity.from_pem(*county.local.tls(node_name(by_code[code])).read())
        )
        for code in FIVE
    }


def in_process(
    rounds: dict[str, SecureRounds],
    drop: Callable[[str, str], bool] = lambda step, code: False,
    transcript: list[bytes] | None = None,
) -> Callable[[Sequence[str], str, Callable[[str], object]], list[StepReply]]:
    """A fanout calling nodes directly; `drop(method, code)` loses a district's reply; all traffic recorded."""

    def call(codes, method, request):
        out = []
        for code in codes:
            body = request(code)
            node = rounds[code]
            if method == "SecureSetup":
                reply = node.setup(body)
            elif method == "SecureShare":
                reply = node.share(body, COORDINATOR)
            else:
                reply = node.sum(body)
            if transcript is not None:
                transcript.extend([body.SerializeToString(), reply.SerializeToString()])
            out.append(StepReply(code, None, "dropped") if drop(method, code) else StepReply(code, reply))
        return out

    return call


@pytest.fixture
def noisy(monkeypatch) -> list[tuple[int, ...]]:
    """Every noisy vector the ledgers draw, as drawn (the test's view; the coordinator never sees these)."""
    seen: list[tuple[int, ...]] = []
    real = ledger_module.run

    def recording(draws):
        out = real(draws)
        seen.extend(out)
        return out

    monkeypatch.setattr(ledger_module, "run", recording)
    return seen


# -- field arithmetic and encryption ----------------------------------------------------------------


@given(
    values=st.lists(st.integers(-(2**70), 2**70), min_size=1, max_size=6),
    threshold=st.integers(1, 9),
    data=st.data(),
)
def test_any_threshold_shares_interpolate_to_the_shared_values(values, threshold, data):
    points = list(range(1, 13))
    shares = secagg.share_vector(values, points, threshold)
    chosen = data.draw(st.lists(st.sampled_from(points), min_size=threshold, max_size=threshold, unique=True))
    decoded = [secagg.decode(e) for e in secagg.interpolate_at_zero({x: shares[x] for x in chosen})]
    assert decoded == values


def test_encoding_refuses_a_value_outside_the_carried_range():
    with pytest.raises(secagg.SecAggError, match="outside the range"):
        secagg.encode(secagg.VALUE_LIMIT + 1)


def test_a_share_sealed_for_one_round_does_not_open_in_another():
    a_priv, a_pub = secagg.new_key_pair()
    b_priv, b_pub = secagg.new_key_pair()
    r1, r2 = secagg.new_round_id(), secagg.new_round_id()
    key = secagg.pair_key(a_priv, b_pub, r1, "q", "A", "B")
    nonce, sealed = secagg.seal(key, b"share", secagg.binding(r1, "q", "A", "B"))
    other = secagg.pair_key(b_priv, a_pub, r2, "q", "A", "B")
    with pytest.raises(secagg.SecAggError, match="authentication"):
        secagg.open_sealed(other, nonce, sealed, secagg.binding(r2, "q", "A", "B"))
    reversed_key = secagg.pair_key(b_priv, a_pub, r1, "q", "B", "A")
    with pytest.raises(secagg.SecAggError, match="authentication"):
        secagg.open_sealed(reversed_key, nonce, sealed, secagg.binding(r1, "q", "B", "A"))


# -- accounting --------------------------------------------------------------------------------------


def test_secure_charge_is_the_target_mechanisms_plus_the_tau_term():
    sens, shape = Sensitivity(l1=1.0, l2=1.0), SecureShape(parties=12, threshold=9)
    sigma = 10.0
    s = share_scale(sigma, shape)
    plain = charge_rho(Mechanism.DISCRETE_GAUSSIAN, sigma, sens)
    assert secure_rho(s, sens, shape, 300) == pytest.approx(plain + 300 * tau(s, 12), rel=1e-12)
    assert secure_rho(s, sens, shape, 300) - plain < 1e-12  # sigma_s = 3.3: the tau term is negligible


def test_a_share_scale_below_the_floor_is_refused():
    with pytest.raises(ValueError, match="below 1.5"):
        secure_rho(1.0, Sensitivity(l1=1.0, l2=1.0), SecureShape(parties=12, threshold=9), 10)


def test_county_error_variance_is_one_mechanisms_not_twelve():
    """Sum of 9..12 shares at sigma/3 has variance sigma^2 to 1.33 sigma^2; the plain sum of 12 has 12 sigma^2."""
    sigma, cells, sens = 6.0, 3000, Sensitivity(l1=1.0, l2=1.0)
    shape = SecureShape(parties=12, threshold=9)
    zeros = [0] * cells

    def county(scale: float, parties: int) -> list[int]:
        draws = [release(zeros, Mechanism.DISCRETE_GAUSSIAN, scale, sens) for _ in range(parties)]
        return [sum(col) for col in zip(*draws, strict=True)]

    secure = statistics.pvariance(county(share_scale(sigma, shape), 9))
    plain = statistics.pvariance(county(sigma, 12))
    assert secure == pytest.approx(sigma**2, rel=0.10)
    assert plain == pytest.approx(12 * sigma**2, rel=0.10)


# -- the protocol, node and coordinator together -----------------------------------------------------


def test_the_total_decodes_exactly_to_the_sum_of_the_noisy_shares(rounds, noisy):
    total = run_round(in_process(rounds), _query(), FIVE, THRESHOLD)
    assert total.contributors == FIVE
    assert len(noisy) == len(FIVE)
    assert [c.value for c in total.cells] == [float(sum(col)) for col in zip(*noisy, strict=True)]
    assert all(c.level == query_pb2.Cell.COUNTY for c in total.cells)


def test_a_coordinator_recording_every_message_cannot_recover_a_districts_vector(rounds, noisy):
    transcript: list[bytes] = []
    total = run_round(in_process(rounds, transcript=transcript), _query(), FIVE, THRESHOLD)
    recorded = b"".join(transcript)
    for vector in noisy:
        # No district's noisy cells appear in the clear, in the field encoding shares use or as packed bytes.
        assert secagg.pack([secagg.encode(v) for v in vector]) not in recorded
        for v in vector:
            assert secagg.encode(v).to_bytes(secagg.ELEMENT_BYTES, "big") not in recorded
    # What the coordinator can interpolate from the summed shares is the total, never one district's vector.
    assert all(tuple(int(c.value) for c in total.cells) != tuple(v) for v in noisy)


@pytest.mark.parametrize("step", ["SecureSetup", "SecureShare", "SecureSum"])
def test_dropouts_up_to_the_margin_at_any_step_still_give_a_total(rounds, noisy, step):
    lost = set(FIVE[:2])
    total = run_round(in_process(rounds, drop=lambda m, c: m == step and c in lost), _query(), FIVE, THRESHOLD)
    if step == "SecureSum":
        assert total.contributors == FIVE  # losing a summed share loses no district from the total
    else:
        assert set(total.contributors) == set(FIVE) - lost
    assert set(total.dropped) == lost


@pytest.mark.parametrize("step", ["SecureSetup", "SecureShare", "SecureSum"])
def test_one_dropout_beyond_the_margin_aborts_cleanly(rounds, step):
    lost = set(FIVE[:3])
    with pytest.raises(SecureAbort, match="needs 3") as info:
        run_round(in_process(rounds, drop=lambda m, c: m == step and c in lost), _query(), FIVE, THRESHOLD)
    assert set(info.value.missing) == lost


def _setup(rounds, query=None) -> tuple[node_pb2.SecureSetupRequest, list[node_pb2.SignedKey]]:
    req = node_pb2.SecureSetupRequest(
        round_id=secagg.new_round_id(), query=query or _query(), roster=FIVE, threshold=THRESHOLD
    )
    return req, [rounds[c].setup(req) for c in FIVE]


def test_a_share_request_before_setup_is_refused(rounds):
    with pytest.raises(SecureRoundError, match="never set up") as info:
        rounds[FIVE[0]].share(node_pb2.SecureShareRequest(round_id=secagg.new_round_id()), COORDINATOR)
    assert info.value.code == "NOT_FOUND"


def test_a_sum_request_before_sharing_is_refused(rounds):
    req, _ = _setup(rounds)
    with pytest.raises(SecureRoundError, match="step 1 first"):
        rounds[FIVE[0]].sum(node_pb2.SecureSumRequest(round_id=req.round_id, contributors=FIVE))


def test_a_key_replayed_from_another_round_is_refused(rounds):
    req, keys = _setup(rounds)
    _, other_keys = _setup(rounds)
    mixed = [*keys[:-1], other_keys[-1]]
    with pytest.raises(SecureRoundError, match="another round"):
        rounds[FIVE[0]].share(node_pb2.SecureShareRequest(round_id=req.round_id, keys=mixed), COORDINATOR)


def test_a_forged_key_signature_is_refused(rounds):
    req, keys = _setup(rounds)
    keys[1].public_key = secagg.new_key_pair()[1]  # the coordinator substitutes its own key
    with pytest.raises(SecureRoundError, match="signature"):
        rounds[FIVE[0]].share(node_pb2.SecureShareRequest(round_id=req.round_id, keys=keys), COORDINATOR)


def test_a_finished_round_id_cannot_be_set_up_again(rounds):
    total = run_round(in_process(rounds), _query(), FIVE, THRESHOLD)
    req = node_pb2.SecureSetupRequest(round_id=total.round_id, query=_query(), roster=FIVE, threshold=THRESHOLD)
    with pytest.raises(SecureRoundError, match="already used"):
        rounds[FIVE[0]].setup(req)


def _shared(rounds, query=None):
    req, keys = _setup(rounds, query)
    share = node_pb2.SecureShareRequest(round_id=req.round_id, keys=keys)
    return req, share, {c: rounds[c].share(share, COORDINATOR) for c in FIVE}


def _sum_request(round_id, shared, contributors, to):
    addressed = [s for c in contributors for s in shared[c].shares if s.receiver == to]
    return node_pb2.SecureSumRequest(round_id=round_id, contributors=contributors, shares=addressed)


def test_round_two_is_answered_once_never_over_a_second_set(rounds):
    req, _, shared = _shared(rounds)
    node = rounds[FIVE[0]]
    first = node.sum(_sum_request(req.round_id, shared, FIVE, FIVE[0]))
    assert node.sum(_sum_request(req.round_id, shared, FIVE, FIVE[0])) == first  # a retry: the stored answer
    with pytest.raises(SecureRoundError, match="another contributor set") as info:
        node.sum(_sum_request(req.round_id, shared, FIVE[:4], FIVE[0]))
    assert info.value.code == "FAILED_PRECONDITION"


def test_a_node_refuses_a_contributor_set_below_the_threshold(rounds):
    req, _, shared = _shared(rounds)
    with pytest.raises(SecureRoundError, match="fewer than the threshold"):
        rounds[FIVE[0]].sum(_sum_request(req.round_id, shared, FIVE[:2], FIVE[0]))


def test_a_share_misdirected_to_another_district_is_refused(rounds):
    req, _, shared = _shared(rounds)
    wrong = _sum_request(req.round_id, shared, FIVE, FIVE[1])
    for s in wrong.shares:
        s.receiver = FIVE[0]
    with pytest.raises(SecureRoundError, match="authentication"):
        rounds[FIVE[0]].sum(wrong)


def test_ledgers_are_charged_once_per_round_and_anew_for_a_new_round(rounds, county):
    store = county.engines[FIVE[0]].store
    before = store.spent().spent_rho
    req, share, shared = _shared(rounds)
    charged = shared[FIVE[0]].charge.rho
    assert charged > 0 and store.spent().spent_rho == pytest.approx(before + charged, abs=1e-9)
    retry = rounds[FIVE[0]].share(share, COORDINATOR)
    assert retry.replayed and retry.charge.rho == 0 and retry.shares == shared[FIVE[0]].shares
    assert store.spent().spent_rho == pytest.approx(before + charged, abs=1e-9)
    _shared(rounds)
    assert store.spent().spent_rho == pytest.approx(before + 2 * charged, abs=1e-9)


def test_an_abort_before_sharing_charges_nothing(rounds, county):
    store = county.engines[FIVE[0]].store
    before = store.spent().spent_rho
    with pytest.raises(SecureAbort):
        run_round(in_process(rounds, drop=lambda m, c: m == "SecureSetup" and c != FIVE[0]), _query(), FIVE, THRESHOLD)
    assert store.spent().spent_rho == before


def test_a_mean_is_refused_at_setup_with_a_reason(rounds):
    query = build_query(
        query_pb2.Measure(kind=query_pb2.Measure.MEAN, column="weekly_income", lower=0, upper=2000),
        months=["2025-10"],
        rho=0.05,
        mechanism=Mechanism.DISCRETE_GAUSSIAN,
    )
    with pytest.raises(ValueError, match="COUNT or SUM"):
        _setup(rounds, query)


def test_a_secure_round_runs_over_dialled_and_outbound_links(county):
    codes = list(county.pool.nodes)
    total = run_round(pool_fanout(county.pool, 30.0), _query(rho=0.01), codes, len(codes) - 3)
    assert total.contributors == codes and total.dropped == {}
    assert all(c.variance == pytest.approx(len(codes) * total.share_scale**2) for c in total.cells)
