"""The dashboard's parts without a county: sign-in tokens, CSV downloads and the map's colour scale."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.estimates import Estimate
from dashboard.auth import SignInError, User, read_token, sign_token
from dashboard.tables import DashTable, Figure, csv_safe
from report.map import CLIP_PERCENTILES, centred_range, legend, percentile

KEY = b"k" * 32
NOW = 1_800_000_000
ALICE = User("analyst-alice", "analyst", None, NOW + 600)


def test_a_token_reads_back_as_the_user_it_was_signed_for() -> None:
    assert read_token(KEY, sign_token(KEY, ALICE), NOW) == ALICE


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(SignInError, match="expired"):
        read_token(KEY, sign_token(KEY, ALICE), ALICE.expires)


def test_a_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(SignInError, match="not issued by this dashboard"):
        read_token(KEY, sign_token(b"x" * 32, ALICE), NOW)


def test_a_token_whose_payload_was_changed_is_refused() -> None:
    payload, signature = sign_token(KEY, ALICE).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "county-ig-officer"  # an analyst promoting themselves
    body = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
    forged = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    with pytest.raises(SignInError, match="not issued by this dashboard"):
        read_token(KEY, f"{forged}.{signature}", NOW)


@pytest.mark.parametrize("token", ["", "no-dot", "a.b.c", "!!!.???", "."])
def test_a_malformed_token_is_refused_with_a_message(token: str) -> None:
    with pytest.raises(SignInError):
        read_token(KEY, token, NOW)


def _csv(rows: tuple[tuple[str, ...], ...]) -> list[list[str]]:
    return list(csv.reader(io.StringIO(DashTable("t", "caption", ("A", "B"), rows).csv())))


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_csv_cells_round_trip_whatever_they_hold_commas_quotes_and_newlines_included(text: str) -> None:
    (_, (a, b)) = _csv(((text, "x"),))
    assert csv_safe(text) == a and b == "x"
    assert a == text or a == "'" + text


@given(st.sampled_from("=+-@\t\r"), st.text(max_size=20))
def test_a_cell_that_a_spreadsheet_would_run_as_a_formula_is_neutralised(start: str, rest: str) -> None:
    text = start + "cmd|' /C calc'!A0" + rest
    (_, (a, _)) = _csv(((text, "x"),))
    assert a == "'" + text


@pytest.mark.parametrize("number", ["-1.5", "+2,300", "-£1,200", "12%", "0"])
def test_plain_numbers_are_kept_as_numbers(number: str) -> None:
    assert csv_safe(number) == number


def test_figures_download_as_value_low_and_high_columns() -> None:
    table = DashTable("t", "c", ("Area", "Count"), (("Kent", Figure(Estimate(120.0, 4.0))),))
    head, row = list(csv.reader(io.StringIO(table.csv())))
    assert head == ["Area", "Count", "Count (95% low)", "Count (95% high)"]
    assert row[0] == "Kent" and float(row[2].replace(",", "")) < 120 < float(row[3].replace(",", ""))


def test_the_colour_scale_clips_an_outlier_at_the_percentiles_and_stays_centred_on_100() -> None:
    values = {f"w{i}": Estimate(95.0 + i / 10, 1.0) for i in range(100)} | {"odd": Estimate(400.0, 1.0)}
    lo, hi = centred_range(values, clip=CLIP_PERCENTILES)
    assert (lo + hi) / 2 == pytest.approx(100.0)
    assert hi < 110 < 400
    assert centred_range(values)[1] == pytest.approx(400.0)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_a_percentile_lies_between_the_smallest_and_largest_value(xs: list[float], q: float) -> None:
    assert min(xs) - 1e-6 <= percentile(xs, q) <= max(xs) + 1e-6


def test_the_legend_says_when_the_scale_is_clipped() -> None:
    assert "2nd and 98th percentiles" in str(legend(0, 90.0, 110.0, clipped=True))
    assert "percentiles" not in str(legend(0, 90.0, 110.0))


def test_one_day_of_spending_is_drawn_on_whole_days_not_zoomed_to_milliseconds() -> None:
    import json

    from dashboard.pages import _history_plot

    layout = json.loads(_history_plot([("2026-12-02", "Ashford", "alice", "index", 1.75, 26)]))["layout"]
    assert layout["xaxis"]["range"] == ["2026-12-01", "2026-12-03"]
    assert layout["xaxis"]["tickformat"] == "%d %b %Y" and layout["xaxis"]["dtick"] == 86_400_000
