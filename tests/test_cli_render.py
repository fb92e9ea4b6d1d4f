"""Specifications for how `lsi` draws tables and progress: rich at a terminal, plain and stable when piped."""

from __future__ import annotations

import contextlib

import click
from hypothesis import given
from hypothesis import strategies as st

from cli import render
from cli.render import counted, plain_table, progress, table

HEADERS = ["district", "estimate"]
ROWS = [["Thanet", "1,234"], ["Dover", "56"]]
PLAIN = "district  estimate\n--------  --------\nThanet       1,234\nDover           56"


def test_a_piped_table_is_plain_text_with_no_terminal_codes() -> None:
    assert table(HEADERS, ROWS, right=(1,), styled=False) == PLAIN


def test_table_is_plain_when_standard_output_is_not_a_terminal(monkeypatch) -> None:
    monkeypatch.setattr(render, "on_terminal", lambda: False)
    assert table(HEADERS, ROWS, right=(1,)) == PLAIN


def test_a_table_at_a_terminal_is_drawn_by_rich_with_colour(monkeypatch) -> None:
    monkeypatch.setattr(render, "on_terminal", lambda: True)
    drawn = table(HEADERS, ROWS, right=(1,))
    assert "\x1b[" in drawn  # colour codes
    assert "━" in drawn or "─" in drawn  # rich's rule under the headers
    assert all(cell in click.unstyle(drawn) for row in ROWS for cell in row)


def test_a_coloured_cell_keeps_its_text_in_a_rich_table() -> None:
    drawn = table(["state"], [[click.style("NOT SERVING", fg="red")]], styled=True)
    assert "NOT SERVING" in click.unstyle(drawn)
    assert "[31m" not in click.unstyle(drawn)


@given(
    st.lists(st.lists(st.text(alphabet="abcXYZ019 £,.-", min_size=0, max_size=12), min_size=3, max_size=3), max_size=6)
)
def test_plain_columns_line_up_whatever_the_cells(rows: list[list[str]]) -> None:
    lines = plain_table(["a", "b", "c"], rows, right=(1,)).split("\n")
    assert len({len(line) for line in lines}) == 1


def test_progress_off_a_terminal_draws_nothing_and_still_counts_calls(capsys) -> None:
    calls: list[int] = []
    with progress("asking", total=2, shown=False) as advance:
        ask = counted(lambda x: calls.append(x) or x, advance)
        assert [ask(1), ask(2)] == [1, 2]
    assert calls == [1, 2]
    assert capsys.readouterr() == ("", "")


def test_progress_at_a_terminal_writes_to_stderr_never_to_stdout(capsys) -> None:
    with progress("asking", total=3, shown=True) as advance:
        ask = counted(lambda: "answer", advance)
        assert [ask() for _ in range(3)] == ["answer"] * 3
    assert capsys.readouterr().out == ""


def test_a_failed_query_still_advances_the_bar() -> None:
    seen: list[None] = []

    def refused() -> None:
        raise RuntimeError("refused")

    ask = counted(refused, lambda: seen.append(None))
    with contextlib.suppress(RuntimeError):
        ask()
    assert len(seen) == 1
