"""Dashboard tables: one definition drawn as HTML (value with its 95% interval) and downloaded as CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from common.estimates import Estimate
from report.formatting import Formatter, bounds, count_fmt, fmt, with_interval


@dataclass(frozen=True)
class Figure:
    """A released estimate and how to print it; negative quantities are cut at `floor` as the report does."""

    estimate: Estimate
    formatter: Formatter = count_fmt
    floor: float | None = 0.0

    def texts(self) -> tuple[str, str, str]:
        """Value, 95% low and 95% high, as printed on the page."""
        low, high = bounds(self.estimate, self.floor)
        value = max(self.estimate.value, self.floor) if self.floor is not None else self.estimate.value
        ref = max(abs(value), abs(low), abs(high))
        return self.formatter(value, ref), self.formatter(low, ref), self.formatter(high, ref)

    def html(self) -> Markup:
        return with_interval(self.estimate, self.formatter, floor=self.floor)


Cell = str | Figure | None


@dataclass(frozen=True)
class DashTable:
    """A titled table with a stable id (its CSV address) and a caption that is the chart's text alternative."""

    id: str
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def html_rows(self) -> list[list[Markup | str]]:
        """Cells for the template: figures with their interval, blanks as 'withheld'."""
        return [[_html(c) for c in row] for row in self.rows]

    def csv(self) -> str:
        """The same table as CSV: each figure as three columns (value, 95% low, 95% high) printed as on the page."""
        out = io.StringIO()
        writer = csv.writer(out)
        figure_cols = {j for row in self.rows for j, c in enumerate(row) if isinstance(c, Figure)}
        head: list[str] = []
        for j, h in enumerate(self.headers):
            head += [h, f"{h} (95% low)", f"{h} (95% high)"] if j in figure_cols else [h]
        writer.writerow([csv_safe(h) for h in head])
        for row in self.rows:
            line: list[str] = []
            for j, c in enumerate(row):
                if j in figure_cols:
                    line += list(c.texts()) if isinstance(c, Figure) else ["", "", ""]
                else:
                    line.append("" if c is None else str(c))
            writer.writerow([csv_safe(t) for t in line])
        return out.getvalue()


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection); a purpose or campaign
# name typed by an analyst could. A plain number such as -1.5 or +2,300 is safe and kept as it is.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[-+]?[£]?[0-9][0-9,]*(\.[0-9]+)?%?")


def csv_safe(text: str) -> str:
    """A cell a spreadsheet will show as text: a leading formula character is neutralised with an apostrophe."""
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _html(c: Cell) -> Markup | str:
    if c is None:
        return Markup('<span class="na">withheld</span>')
    return c.html() if isinstance(c, Figure) else c


def index_fmt(v: float, ref: float = 0.0) -> str:
    """An index value to one decimal."""
    return fmt(v, 1)


def rate_fmt(v: float, ref: float = 0.0) -> str:
    """A rate per 1,000 households to one decimal."""
    return fmt(v, 1)


def row_texts(row: Sequence[Cell]) -> list[str]:
    """A row's cells as CSV prints them (for tests and comparisons)."""
    return [t for c in row for t in (c.texts() if isinstance(c, Figure) else ("" if c is None else str(c),))]
