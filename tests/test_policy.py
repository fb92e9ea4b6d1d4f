"""Policy files: validated, epsilon budgets converted at the policy's delta, changes listed for audit."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.accountant import rho_to_epsilon
from privacy.policy import Policy, PolicyError, diff_policy, load_policy, parse_policy, save_policy

BASE = """
district_code = "E07000110"
period_start = 2025-04-01
period_end = 2026-03-31
delta = 1e-7
total_rho = 1.0
per_query_rho = 0.05
min_published_cell = 10
"""


def _policy(**changes) -> Policy:
    return dataclasses.replace(parse_policy(BASE), **changes)


def test_a_valid_file_loads(tmp_path):
    (tmp_path / "p.toml").write_text(BASE)
    p = load_policy(tmp_path / "p.toml")
    assert (p.district_code, p.period_start, p.total_rho, p.min_published_cell) == (
        "E07000110",
        "2025-04-01",
        1.0,
        10,
    )


@settings(max_examples=30, deadline=None)
@given(
    total=st.floats(0.01, 100.0),
    share=st.floats(0.001, 1.0),
    min_cell=st.integers(0, 100),
    caps=st.dictionaries(st.from_regex(r"[a-z][a-z.]{0,15}", fullmatch=True), st.floats(0.001, 50.0), max_size=3),
)
def test_save_then_load_gives_the_same_policy(tmp_path_factory, total, share, min_cell, caps):
    path = tmp_path_factory.mktemp("p") / "policy.toml"
    policy = _policy(total_rho=total, per_query_rho=total * share, min_published_cell=min_cell, analyst_caps=caps)
    save_policy(policy, path)
    assert load_policy(path) == policy


def test_dates_may_be_strings_or_toml_dates():
    text = BASE.replace("period_start = 2025-04-01", 'period_start = "2025-04-01"')
    assert parse_policy(text).period_start == "2025-04-01"


def test_epsilon_budget_is_converted_to_rho_at_the_policys_delta():
    p = parse_policy(BASE.replace("total_rho = 1.0", "total_epsilon = 4.0"))
    assert rho_to_epsilon(p.total_rho, p.delta) == pytest.approx(4.0, rel=1e-9)
    assert rho_to_epsilon(p.total_rho, p.delta) <= 4.0


def test_analyst_caps_may_be_rho_or_epsilon():
    p = parse_policy(BASE + '[analyst_caps]\n"alice" = 0.2\n"bob" = { epsilon = 1.5 }\n')
    assert p.analyst_caps["alice"] == 0.2
    assert rho_to_epsilon(p.analyst_caps["bob"], p.delta) == pytest.approx(1.5, rel=1e-9)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (BASE.replace("total_rho = 1.0", "total_rho = 1.0\ntotal_epsilon = 2.0"), "total_rho"),
        (BASE.replace("total_rho = 1.0", ""), "total_rho"),
        (BASE.replace("per_query_rho = 0.05", "per_query_rho = 2.0"), "per_query_rho"),
        (BASE.replace("period_end = 2026-03-31", "period_end = 2025-03-31"), "period_end"),
        (BASE.replace("period_end = 2026-03-31", 'period_end = "31/03/2026"'), "period_end"),
        (BASE.replace("delta = 1e-7", "delta = 0.01"), "delta"),
        (BASE.replace("min_published_cell = 10", "min_published_cell = -1"), "min_published_cell"),
        (BASE + "totl_rho = 3\n", "totl_rho"),
        (BASE + 'allowed_mechanisms = ["laplace"]\n', "allowed_mechanisms"),
        (BASE + '[analyst_caps]\n"alice" = -1\n', "analyst_caps.alice"),
        (BASE.replace('district_code = "E07000110"', ""), "district_code"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(text, field):
    with pytest.raises(PolicyError) as err:
        parse_policy(text)
    assert err.value.field == field and field in str(err.value)


def test_a_missing_file_is_reported_with_its_path(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")


def test_policy_error_accepts_a_field_prefixed_message():
    assert PolicyError("district_code: wrong district").field == "district_code"


def test_diff_lists_each_changed_setting():
    old = _policy(analyst_caps={"alice": 0.2})
    new = _policy(total_rho=2.0, min_published_cell=5, analyst_caps={"bob": 0.1})
    changes = diff_policy(old, new)
    assert [c.split(":")[0] for c in changes] == [
        "min_published_cell",
        "total_rho",
        "analyst_caps[alice]",
        "analyst_caps[bob]",
    ]
    assert "eps " in changes[1] and "at delta" in changes[1]


def test_diff_of_identical_policies_is_empty():
    assert diff_policy(_policy(), _policy()) == []


def test_includes_both_ends_of_the_period():
    p = _policy()
    assert p.includes(dt.date(2025, 4, 1)) and p.includes(dt.date(2026, 3, 31))
    assert not p.includes(dt.date(2026, 4, 1))
