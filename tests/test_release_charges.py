"""The ledger charges what it runs: it is given draws, never a charge, and maps the charge from them itself."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import privacy.draw as draw_module
from privacy.accountant import make_charge
from privacy.audit import AuditSigner
from privacy.draw import Draw, charge_of, make_draw
from privacy.ledger import Drawn, PrivacyStore, ReleaseRequest, charge_units
from privacy.mechanisms import Mechanism
from privacy.policy import Policy
from privacy.sensitivity import Sensitivity
from privacy.statedb import MemoryState

TODAY = dt.datetime.now(dt.UTC).date()
DELTA = 1e-7
SENS = Sensitivity(l1=2, l2=1.5)


def policy() -> Policy:
    return Policy(
        "E07000110",
        (TODAY - dt.timedelta(days=1)).isoformat(),
        (TODAY + dt.timedelta(days=1)).isoformat(),
        1e6,
        1e6,
        DELTA,
        0,
        month_lifetime_rho=1e6,
    )


def store() -> PrivacyStore:
    return PrivacyStore(MemoryState(), policy(), AuditSigner.generate())


def request(qid: str, *draws: Draw) -> ReleaseRequest:
    return ReleaseRequest(qid, f"fp-{qid}", "snap", "alice", "analyst", "test", json.dumps({"q": qid}), draws)


def test_a_release_request_has_no_charge_to_state():
    fields = {f.name for f in dataclasses.fields(ReleaseRequest)}
    assert "charge" not in fields and "draws" in fields


@settings(max_examples=20, deadline=None)
@given(
    mechanism=st.sampled_from(list(Mechanism)),
    scale=st.floats(0.5, 1e6),
    cells=st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=5),
)
def test_the_charge_is_opendps_map_of_the_draw_that_is_run(mechanism, scale, cells):
    out = store().charge_and_release(request("q", make_draw(mechanism, scale, SENS, cells)), lambda d: b"x")
    expected = make_charge(mechanism, scale, SENS, DELTA)
    assert (out.charge.rho, out.charge.epsilon, out.charge.scale) == (expected.rho, expected.epsilon, scale)


def test_a_mean_is_charged_the_sum_of_its_two_draws():
    a, b = (
        make_draw(Mechanism.DISCRETE_GAUSSIAN, 30.0, SENS, [1, 2]),
        make_draw(Mechanism.DISCRETE_GAUSSIAN, 4.0, SENS, [3, 4]),
    )
    out = store().charge_and_release(request("mean", a, b), lambda d: b"x")
    assert charge_units(out.charge.rho) == charge_units(charge_of([a], DELTA).rho + charge_of([b], DELTA).rho)


def test_the_noise_comes_from_the_draws_own_mechanism_scale_and_sensitivity(monkeypatch):
    used: list[tuple[Any, ...]] = []
    real = draw_module.release
    monkeypatch.setattr(draw_module, "release", lambda *a: used.append(a[1:]) or real(*a))
    drawn: list[Drawn] = []
    d = make_draw(Mechanism.DISCRETE_LAPLACE, 7.0, SENS, [10, 20, 30])
    store().charge_and_release(request("q", d), lambda x: drawn.append(x) or b"x")
    assert used == [(Mechanism.DISCRETE_LAPLACE, 7.0, SENS)]
    assert len(drawn[0].noisy[0]) == 3 and drawn[0].charge == charge_of([d], DELTA)


def test_a_request_without_draws_is_refused_and_charges_nothing():
    s = store()
    with pytest.raises(ValueError, match="draws"):
        s.charge_and_release(request("empty"), lambda d: b"x")
    assert s.spent().releases == 0


@pytest.mark.parametrize(("scale", "cells"), [(0.0, [1]), (float("nan"), [1]), (1.0, [2**63]), (1.0, [1.5])])
def test_a_draw_with_a_bad_scale_or_cell_cannot_be_made(scale, cells):
    with pytest.raises((ValueError, TypeError, OverflowError)):
        make_draw(Mechanism.DISCRETE_GAUSSIAN, scale, SENS, cells)


def test_the_ledger_row_records_what_the_charge_paid_for_without_the_cells(tmp_path):
    s = PrivacyStore(tmp_path / "n.db", policy(), AuditSigner.generate())
    s.charge_and_release(request("q", make_draw(Mechanism.DISCRETE_GAUSSIAN, 9.0, SENS, [123456, 7])), lambda d: b"x")
    with sqlite3.connect(tmp_path / "n.db") as conn:
        (draws,) = conn.execute("SELECT draws FROM charges WHERE query_id = 'q'").fetchone()
    assert json.loads(draws) == [{"mechanism": "discrete_gaussian", "scale": 9.0, "l1": 2.0, "l2": 1.5, "cells": 2}]
    assert "123456" not in draws
