"""One vocabulary beside the contract (protos/serde.py): every enum and conversion once, one canonical question."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.indicators import CATALOGUE
from analysis.queries import build_query, indicator_query
from coordinator.server import same_question
from node.canonical import PlannedNoise, canonical_question
from node.query import validate
from node.schema import queryable_columns
from privacy import mechanisms, policy
from protos.lsi.v1 import query_pb2
from protos.serde import (
    MEASURES,
    MECHANISMS,
    OPERATOR_SYMBOLS,
    OPERATORS,
    Mechanism,
    canonical_query,
    filter_to_wire,
    filter_value,
    measure_to_wire,
    mechanism_from_wire,
    mechanism_to_wire,
    operator_to_wire,
    privacy_request,
)

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = queryable_columns()
MONTHS = ["2025-09", "2025-10"]


def test_every_wire_operator_has_one_name_and_back() -> None:
    wire = {v.number for v in query_pb2.Filter.Op.DESCRIPTOR.values} - {query_pb2.Filter.OP_UNSPECIFIED}
    assert set(OPERATORS) == wire
    assert all(operator_to_wire(name) == op for op, name in OPERATORS.items())


def test_every_operator_an_analyst_can_write_is_a_wire_operator() -> None:
    assert set(OPERATOR_SYMBOLS.values()) == set(OPERATORS.values())


def test_every_wire_measure_has_one_name_and_back() -> None:
    wire = {v.number for v in query_pb2.Measure.Kind.DESCRIPTOR.values} - {query_pb2.Measure.KIND_UNSPECIFIED}
    assert set(MEASURES) == wire
    assert all(measure_to_wire(name).kind == kind for kind, name in MEASURES.items())


def test_every_wire_mechanism_is_a_domain_mechanism_and_back() -> None:
    wire = {v.number for v in query_pb2.Mechanism.DESCRIPTOR.values} - {query_pb2.MECHANISM_UNSPECIFIED}
    assert set(MECHANISMS) == wire
    assert set(MECHANISMS.values()) == set(Mechanism)
    assert all(mechanism_to_wire(m) == w for w, m in MECHANISMS.items())


def test_the_privacy_package_and_the_policy_use_the_vocabularys_mechanisms() -> None:
    assert mechanisms.Mechanism is Mechanism
    assert set(policy.Policy.__dataclass_fields__["allowed_mechanisms"].default) == set(Mechanism)


@pytest.mark.parametrize(
    ("wire", "loss", "expected"),
    [
        (query_pb2.MECHANISM_UNSPECIFIED, "rho", Mechanism.DISCRETE_GAUSSIAN),
        (query_pb2.MECHANISM_UNSPECIFIED, "epsilon", Mechanism.DISCRETE_LAPLACE),
        (query_pb2.MECHANISM_UNSPECIFIED, "target_accuracy", Mechanism.DISCRETE_LAPLACE),
        (query_pb2.DISCRETE_GAUSSIAN, "target_accuracy", Mechanism.DISCRETE_GAUSSIAN),
    ],
)
def test_an_unnamed_mechanism_is_the_default_for_the_loss_asked(wire: int, loss: str, expected: Mechanism) -> None:
    assert mechanism_from_wire(wire, loss) is expected


values = st.one_of(
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.tuples(st.text(max_size=5), st.text(max_size=5)),
)


@given(op=st.sampled_from(sorted(set(OPERATORS.values()) - {"in"})), value=values)
def test_a_filter_value_survives_the_wire(op: str, value: object) -> None:
    if isinstance(value, tuple):
        op = "in"
    f = filter_to_wire("col", op, value)  # type: ignore[arg-type]
    assert OPERATORS[f.op] == op
    assert filter_value(f) == value


@pytest.mark.parametrize("losses", [{}, {"epsilon": 1.0, "rho": 0.1}, {"epsilon": 1.0, "accuracy": 5.0}])
def test_a_privacy_request_asks_for_exactly_one_loss(losses: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        privacy_request(**losses)


def query(**changes: object) -> query_pb2.Query:
    fields: dict = {
        "months": MONTHS,
        "group_by": ["ward_code"],
        "epsilon": 0.5,
        "query_id": "q1",
        "filters": [filter_to_wire("on_uc", "eq", True)],
        "purpose": "p",
    }
    fields.update(changes)
    return build_query(measure_to_wire("sum", "cts_award_annual", 0, 3000), **fields)


@given(query_id=st.text(max_size=8), analyst=st.text(max_size=8), purpose=st.text(max_size=8))
def test_who_asked_why_and_under_which_id_is_not_part_of_the_question(
    query_id: str, analyst: str, purpose: str
) -> None:
    other = query(query_id=query_id or "x", purpose=purpose)
    other.analyst = analyst
    assert canonical_query(other) == canonical_query(query())
    assert same_question(other, query())


@pytest.mark.parametrize(
    "change",
    [
        {"months": ["2025-10"]},
        {"group_by": []},
        {"epsilon": 0.25},
        {"indicator": "x"},
        {"filters": [filter_to_wire("on_uc", "eq", False)]},
        {"dataset": "campaign:c"},
        {"epsilon": None, "accuracy": 5.0, "mechanism": Mechanism.DISCRETE_GAUSSIAN},
    ],
)
def test_anything_asked_differently_is_a_different_question(change: dict) -> None:
    assert canonical_query(query(**change)) != canonical_query(query())
    assert not same_question(query(**change), query())


def shared(canonical: str) -> dict:
    fields = json.loads(canonical)
    return {k: fields[k] for k in ("measure", "column", "bounds", "filters", "group_by", "months")}


@pytest.mark.parametrize("name", sorted(n for n, i in CATALOGUE.items() if not i.dataset))
def test_the_nodes_audit_form_and_the_wire_form_share_one_question(name: str) -> None:
    q = indicator_query(CATALOGUE[name], months=MONTHS, group_by=["ward_code"], epsilon=1.0)
    vq = validate(q, columns=COLUMNS, months=MONTHS)
    assert shared(vq.canonical()) == shared(canonical_query(q))


def test_the_replay_identity_is_byte_for_byte_what_it_was_so_stored_releases_still_replay() -> None:
    # Computed by the node's canonical form before the vocabulary was folded into protos/serde.py.
    q = build_query(
        measure_to_wire("sum", "cts_award_annual", 0.4, 2999.5),
        months=MONTHS,
        group_by=["ward_code"],
        filters=[
            filter_to_wire("tenure", "ne", "council"),
            filter_to_wire("claimant_age", "gt", 64.5),
            filter_to_wire("on_uc", "eq", True),
        ],
        epsilon=0.5,
        query_id="q1",
    )
    vq = validate(q, columns=COLUMNS, months=MONTHS)
    assert canonical_question(vq, COLUMNS, [PlannedNoise("discrete_laplace", 12.5)]) == (
        '{"bounds":[0,3000],"column":"cts_award_annual","dataset":"","filters":[["claimant_age","ge",65.0],'
        '["on_uc","eq",true],["tenure","in",["housing_association","owner_occupier","private_lha",'
        '"private_other","temporary"]]],"group_by":["ward_code"],"measure":"sum","months":["2025-09","2025-10"],'
        '"noise":[["discrete_laplace","12.5"]]}'
    )


def test_the_audit_form_spells_the_mechanism_as_the_ledger_does() -> None:
    vq = validate(query(), columns=COLUMNS, months=MONTHS)
    assert json.loads(vq.canonical())["loss"]["mechanism"] == Mechanism.DISCRETE_LAPLACE.value


WIRE_SPELLING = re.compile(
    r"query_pb2\.(Filter\.(EQ|NE|LT|LE|GT|GE|IN)\b|DISCRETE_|Measure\.(COUNT|SUM|MEAN)\b)|[\"'](gaussian|laplace)[\"']"
)


# The peer benchmark's two sides speak SmartNoise SQL's vocabulary ("laplace", "gaussian" are its mechanism names);
# the peer side runs in its own environment and cannot import ours.
PEER_FILES = {"bench/index_peer.py", "bench/peer_index.py"}


def test_no_module_but_the_vocabulary_spells_wire_enums_or_mechanisms() -> None:
    packages = ("analysis", "bench", "cli", "common", "coordinator", "node", "privacy", "report", "security")
    spelled = sorted(
        str(p.relative_to(ROOT))
        for pkg in packages
        for p in (ROOT / pkg).rglob("*.py")
        if WIRE_SPELLING.search(p.read_text(encoding="utf-8")) and str(p.relative_to(ROOT)) not in PEER_FILES
    )
    assert spelled == []


def test_only_the_query_builder_assembles_a_query_message() -> None:
    packages = ("analysis", "bench", "cli", "report")
    builders = sorted(
        str(p.relative_to(ROOT))
        for pkg in packages
        for p in (ROOT / pkg).rglob("*.py")
        if "query_pb2.Query(" in p.read_text(encoding="utf-8")
    )
    assert builders == ["analysis/queries.py"]
