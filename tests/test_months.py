"""A node's months: each held once, compact and without identifiers, or read from its working copy when asked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from common.config import ConfigError
from node.compact import compact
from node.config import NodeConfig, load_node_config, write_node_config
from node.derive import derive
from node.engine import NodeEngine
from node.executor import exact_aggregate
from node.loader import DataError, district_snapshots, load_district
from node.months import IDENTIFIERS, MonthFrames, month_frame
from node.query import FilterClause, LossRequest, ValidatedQuery
from node.synth import generate_district
from privacy.audit import AuditSigner
from privacy.ledger import PrivacyStore
from privacy.mechanisms import Mechanism
from reference.rates import rates_for_month
from tests.test_ledger import make_policy

CODE = "E07000105"
MONTHS = ("2025-08", "2025-09", "2025-10")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    for month, frame in generate_district(CODE, scale=0.05, months=len(MONTHS), end_month=MONTHS[-1]).items():
        frame.to_csv(folder / f"{month}.csv", index=False)
    return folder


def node(root: Path, data: Path, name: str, **options: object) -> NodeEngine:
    store = PrivacyStore(root / f"{name}.sqlite", make_policy(district_code=CODE), AuditSigner.generate())
    return NodeEngine(CODE, load_district(data, CODE), store, **options)  # type: ignore[arg-type]


def mean_income(months: tuple[str, ...]) -> ValidatedQuery:
    loss = LossRequest(epsilon=None, rho=0.1, accuracy=None, mechanism=Mechanism.DISCRETE_GAUSSIAN)
    renting = (FilterClause("eligible_rent_weekly", "gt", 100.0),)
    return ValidatedQuery(
        "q",
        "mean",
        "weekly_income",
        0,
        800,
        renting,
        ("ward_code",),
        months,
        loss,
        "",
        "",  # type: ignore[arg-type]
    )


def test_a_node_holding_one_month_at_a_time_answers_as_the_node_holding_all(tmp_path: Path, data: Path) -> None:
    every, lazy = node(tmp_path, data, "every"), node(tmp_path, data, "lazy", months_in_memory=1)
    q = mean_income(MONTHS)
    assert exact_aggregate(lazy.frames, q, lazy.columns, lazy.wards) == exact_aggregate(
        every.frames, q, every.columns, every.wards
    )
    assert isinstance(lazy.frames, MonthFrames)
    assert lazy.frames.held() == [MONTHS[-1]]


def test_the_least_recently_used_month_is_let_go_first(tmp_path: Path, data: Path) -> None:
    lazy = node(tmp_path, data, "lazy", months_in_memory=2)
    assert isinstance(lazy.frames, MonthFrames)
    for month in ("2025-08", "2025-09", "2025-08", "2025-10"):
        lazy.frames[month]
    assert lazy.frames.held() == ["2025-08", "2025-10"]


def test_a_duckdb_node_holds_no_month_between_queries(tmp_path: Path, data: Path) -> None:
    pytest.importorskip("duckdb")
    duck = node(tmp_path, data, "duck", engine="duckdb", months_in_memory=0)
    every = node(tmp_path, data, "every")
    q = mean_income(MONTHS[1:])
    assert duck.executor.aggregate(q, duck.columns, duck.wards) == every.executor.aggregate(
        q, every.columns, every.wards
    )
    assert isinstance(duck.frames, MonthFrames)
    assert duck.frames.held() == []
    # Secure aggregation reads the frames: they are read from the working copies when asked.
    assert len(duck.frames[MONTHS[-1]]) == len(every.frames[MONTHS[-1]])


def test_a_serving_node_holds_no_identifiers(tmp_path: Path, data: Path) -> None:
    for engine in (node(tmp_path, data, "every"), node(tmp_path, data, "lazy", months_in_memory=1)):
        assert not set(IDENTIFIERS) & set(engine.frames[MONTHS[0]].columns)


def test_a_replaced_snapshot_is_served_under_its_next_version(tmp_path: Path, data: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for month in MONTHS:
        (folder / f"{month}.csv").write_bytes((data / f"{month}.csv").read_bytes())
    first = node(tmp_path, folder, "state", months_in_memory=1)
    frame = pd.read_csv(folder / f"{MONTHS[-1]}.csv", dtype=str, keep_default_na=False)
    frame.iloc[1:].to_csv(folder / f"{MONTHS[-1]}.csv", index=False)  # one household fewer
    store = PrivacyStore(tmp_path / "state.sqlite", make_policy(district_code=CODE), first.store.signer)
    again = NodeEngine(CODE, load_district(folder, CODE), store, months_in_memory=1)
    assert (first.versions[MONTHS[-1]], again.versions[MONTHS[-1]]) == (f"{MONTHS[-1]}.v1", f"{MONTHS[-1]}.v2")
    assert again.versions[MONTHS[0]] == f"{MONTHS[0]}.v1"
    assert len(again.frames[MONTHS[-1]]) == len(frame) - 1  # the working copy was rewritten from the new file


def test_a_districts_snapshots_are_read_only_when_asked_for(tmp_path: Path, data: Path) -> None:
    for month in MONTHS:
        (tmp_path / f"{month}.csv").write_bytes((data / f"{month}.csv").read_bytes())
    (tmp_path / f"{MONTHS[0]}.csv").write_text("not,a,snapshot\n1,2,3\n")
    snapshots = district_snapshots(tmp_path, CODE)
    assert list(snapshots) == list(MONTHS)
    assert snapshots[MONTHS[-1]].month == MONTHS[-1]
    with pytest.raises(DataError, match=f"{MONTHS[0]}.csv"):
        snapshots[MONTHS[0]]


def test_months_in_memory_is_read_from_node_toml_and_must_be_a_whole_number(tmp_path: Path) -> None:
    config = NodeConfig(CODE, "127.0.0.1:1", tmp_path, tmp_path / "s", tmp_path / "p", tmp_path / "k", None)
    write_node_config(dataclasses.replace(config, months_in_memory=2), tmp_path / "node.toml")
    assert load_node_config(tmp_path / "node.toml").months_in_memory == 2
    text = (tmp_path / "node.toml").read_text().replace("months_in_memory = 2", "months_in_memory = -1")
    (tmp_path / "node.toml").write_text(text)
    with pytest.raises(ConfigError, match="months_in_memory must be a whole number of months, 0 or more"):
        load_node_config(tmp_path / "node.toml")


def test_a_month_read_back_is_the_frame_that_was_held_in_the_same_compact_types(tmp_path: Path, data: Path) -> None:
    every, lazy = node(tmp_path, data, "every"), node(tmp_path, data, "lazy", months_in_memory=1)
    held, read = every.frames[MONTHS[0]], lazy.frames[MONTHS[0]]
    assert read.equals(held)
    assert list(read.dtypes) == list(held.dtypes)
    assert read.attrs == held.attrs


def test_deriving_a_month_block_by_block_gives_the_frame_derived_whole(data: Path) -> None:
    snapshot = load_district(data, CODE)[MONTHS[-1]]
    whole = derive(snapshot.frame, rates_for_month(MONTHS[-1]), month=MONTHS[-1])
    expected = compact(whole.drop(columns=list(IDENTIFIERS)))
    assert month_frame(snapshot, chunk_rows=97).equals(expected)
    assert month_frame(snapshot, chunk_rows=97).attrs == expected.attrs
