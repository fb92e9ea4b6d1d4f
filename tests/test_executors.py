"""Conformance: every exact aggregation gives identical cells on the pandas and the DuckDB executor."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.config import ConfigError
from node.config import NodeConfig, load_node_config, write_node_config
from node.engine import NodeEngine
from node.executor import ExactAggregate, Executor, PandasExecutor
from node.loader import load_district
from node.query import FilterClause, LossRequest, ValidatedQuery
from node.schema import TENURES, queryable_columns
from node.synth import generate_district
from privacy.audit import AuditSigner
from privacy.ledger import PrivacyStore
from privacy.mechanisms import Mechanism
from tests.test_ledger import make_policy

pytest.importorskip("duckdb")
from node.duckdb_executor import DuckDBExecutor  # noqa: E402

WARDS = ("W1", "W2", "W3")
COLUMNS = queryable_columns()
MONTHS = ("2025-09", "2025-10")
CODE = "E07000105"
Factory = Callable[[Mapping[str, pd.DataFrame]], Executor]


@pytest.fixture(params=["pandas", "duckdb"])
def make(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Factory:
    """An executor over the given frames: each test below runs once on each engine."""
    if request.param == "pandas":
        return PandasExecutor
    return lambda frames: DuckDBExecutor.from_frames(frames, tmp_path_factory.mktemp("parquet"))


def frame(rows: list[tuple[str, str, bool, float | None, int | None]]) -> pd.DataFrame:
    ward, tenure, on_uc, earnings, age = zip(*rows, strict=True) if rows else ((), (), (), (), ())
    return pd.DataFrame(
        {
            "ward_code": pd.Categorical(list(ward), categories=list(WARDS)),
            "tenure": pd.Categorical(list(tenure), categories=list(TENURES)),
            "on_uc": pd.Series(list(on_uc), dtype=bool),
            "earnings_weekly": pd.Series(list(earnings), dtype="float64"),
            "partner_age": pd.Series(list(age), dtype="Int64"),
        }
    )


SAMPLE = frame(
    [
        ("W1", "council", True, 100.5, 30),
        ("W1", "council", False, 101.5, None),
        ("W2", "temporary", True, None, 40),
        ("W2", "private_lha", True, -20.0, 70),
        ("W3", "council", False, 2500.49, None),
    ]
)


def query(
    measure: str = "count",
    column: str = "",
    bounds: tuple[int, int] = (0, 0),
    filters: tuple[FilterClause, ...] = (),
    group_by: tuple[str, ...] = (),
    months: tuple[str, ...] = ("2025-10",),
) -> ValidatedQuery:
    loss = LossRequest(epsilon=None, rho=0.1, accuracy=None, mechanism=Mechanism.DISCRETE_GAUSSIAN)
    return ValidatedQuery(
        "q",
        measure,
        column,
        bounds[0],
        bounds[1],
        filters,
        group_by,
        months,
        loss,
        "",
        "",  # type: ignore[arg-type]
    )


def run(make: Factory, q: ValidatedQuery, frames: Mapping[str, pd.DataFrame] | None = None) -> ExactAggregate:
    return make(frames or {m: SAMPLE for m in MONTHS}).aggregate(q, COLUMNS, WARDS)


def test_counts_by_ward_cover_every_public_ward_then_the_district_total(make: Factory) -> None:
    agg = run(make, query(group_by=("ward_code",)))
    assert agg.counts == (2, 2, 1, 5)
    assert [k.groups for k in agg.keys[:3]] == [(("ward_code", w),) for w in WARDS]


def test_sums_round_half_to_even_then_clamp_and_skip_missing_values(make: Factory) -> None:
    agg = run(make, query("sum", "earnings_weekly", (0, 2000), group_by=("ward_code",)))
    # 100.5 -> 100, 101.5 -> 102 (half to even); -20 -> 0; 2500.49 -> 2000; the missing value is left out.
    assert agg.sums == (202, 0, 2000, 2202)
    assert agg.counts == (2, 1, 1, 4)


def test_not_equal_keeps_missing_values_and_other_comparisons_drop_them(make: Factory) -> None:
    ne = run(make, query(filters=(FilterClause("partner_age", "ne", 40.0),)))
    lt = run(make, query(filters=(FilterClause("partner_age", "lt", 50.0),)))
    assert ne.counts == (4,)
    assert lt.counts == (2,)


def test_in_and_flag_filters_select_the_same_households(make: Factory) -> None:
    agg = run(
        make,
        query(filters=(FilterClause("tenure", "in", ("council", "temporary")), FilterClause("on_uc", "eq", True))),
    )
    assert agg.counts == (2,)


def test_grouping_by_a_flag_and_a_category_fills_the_whole_public_product(make: Factory) -> None:
    agg = run(make, query(group_by=("on_uc", "tenure")))
    assert len(agg.keys) == 2 * len(TENURES) + 1
    assert (
        dict(zip((k.groups for k in agg.keys), agg.counts, strict=True))[(("on_uc", "true"), ("tenure", "council"))]
        == 1
    )


def test_each_month_has_its_own_cells(make: Factory) -> None:
    other = SAMPLE.iloc[:2]
    agg = run(make, query(group_by=("ward_code",), months=MONTHS), {"2025-09": other, "2025-10": SAMPLE})
    assert agg.counts == (2, 0, 0, 2, 2, 2, 1, 5)
    assert agg.cells_per_contribution == 1


def test_a_filter_matching_nobody_gives_zero_cells(make: Factory) -> None:
    agg = run(make, query("sum", "earnings_weekly", (0, 10), filters=(FilterClause("tenure", "eq", "owner_occupier"),)))
    assert agg.counts == (0,) and agg.sums == (0,)


ROWS = st.lists(
    st.tuples(
        st.sampled_from(WARDS),
        st.sampled_from(TENURES),
        st.booleans(),
        st.one_of(st.none(), st.floats(-5000, 5000, allow_nan=False).map(lambda x: round(x * 2) / 4)),
        st.one_of(st.none(), st.integers(16, 110)),
    ),
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=ROWS,
    group_by=st.sampled_from([(), ("ward_code",), ("tenure", "on_uc")]),
    age=st.integers(16, 110),
    op=st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]),
    bounds=st.tuples(st.integers(-100, 0), st.integers(1, 3000)),
)
def test_both_engines_agree_on_any_data(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[str, str, bool, float | None, int | None]],
    group_by: tuple[str, ...],
    age: int,
    op: str,
    bounds: tuple[int, int],
) -> None:
    frames = {"2025-10": frame(rows)}
    q = query("sum", "earnings_weekly", bounds, (FilterClause("partner_age", op, float(age)),), group_by)
    duck = DuckDBExecutor.from_frames(frames, tmp_path_factory.mktemp("parquet"))
    assert duck.aggregate(q, COLUMNS, WARDS) == PandasExecutor(frames).aggregate(q, COLUMNS, WARDS)


def test_parquet_copies_are_what_duckdb_reads(tmp_path: Path) -> None:
    duck = DuckDBExecutor.from_frames({"2025-10": SAMPLE}, tmp_path)
    assert duck.paths["2025-10"].exists()
    assert np.array_equal(pd.read_parquet(duck.paths["2025-10"])["on_uc"].to_numpy(), SAMPLE["on_uc"].to_numpy())


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> tuple[NodeEngine, NodeEngine]:
    """One district's synthetic snapshot served by a pandas node and by a DuckDB node."""
    root = tmp_path_factory.mktemp("node")
    folder = root / "data"
    folder.mkdir()
    for month, data in generate_district(CODE, scale=0.1, months=2, end_month="2025-10").items():
        data.to_csv(folder / f"{month}.csv", index=False)
    out = []
    for engine in ("pandas", "duckdb"):
        store = PrivacyStore(root / f"{engine}.sqlite", make_policy(district_code=CODE), AuditSigner.generate())
        out.append(NodeEngine(CODE, load_district(folder, CODE), store, engine=engine))
    return out[0], out[1]


@pytest.mark.parametrize(
    "question",
    [
        query(group_by=("ward_code",), months=MONTHS),
        query("sum", "earnings_weekly", (0, 500), (FilterClause("tenure", "ne", "council"),), ("on_uc",)),
        query("mean", "hb_award_weekly", (0, 300), (FilterClause("claimant_age", "ge", 66.0),), ("tenure",)),
    ],
)
def test_a_duckdb_node_aggregates_its_snapshots_as_the_pandas_node_does(
    engines: tuple[NodeEngine, NodeEngine], question: ValidatedQuery
) -> None:
    pandas_node, duck_node = engines
    assert isinstance(duck_node.executor, DuckDBExecutor)
    assert duck_node.executor.aggregate(question, COLUMNS, duck_node.wards) == pandas_node.executor.aggregate(
        question, COLUMNS, pandas_node.wards
    )


def test_a_node_config_names_an_unknown_engine(tmp_path: Path) -> None:
    config = NodeConfig("E07000105", "127.0.0.1:1", tmp_path, tmp_path / "s", tmp_path / "p", tmp_path / "k", None)
    write_node_config(dataclasses.replace(config, engine="duckdb"), tmp_path / "node.toml")
    assert load_node_config(tmp_path / "node.toml").engine == "duckdb"
    text = (tmp_path / "node.toml").read_text().replace('engine = "duckdb"', 'engine = "spark"')
    (tmp_path / "node.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"engine must be one of pandas, duckdb, got 'spark'"):
        load_node_config(tmp_path / "node.toml")
