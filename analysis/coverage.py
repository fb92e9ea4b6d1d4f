"""What a county figure covers, as the analysts' library reads it from a result: typed, with its label.

The coordinator decides coverage (coordinator.coverage) and sends it in FederatedResult.coverage; this module
turns it into dataclasses and the words a council can paste ("Threeshire, 2 of 3 districts;
Threeshire District 3 missing: unreachable"). Reading only: nothing here spends or changes a figure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from protos.lsi.v1 import coordinator_pb2
from reference.geography import county_name


@dataclass(frozen=True)
class Missing:
    """A district that contributed nothing to a county figure, and why."""

    code: str
    name: str
    reason: str


@dataclass(frozen=True)
class MonthCover:
    """The districts behind the county figures of one month."""

    month: str
    area: str
    registered: int
    contributing: tuple[str, ...]
    missing: tuple[Missing, ...]
    dwelling_share: float
    quorate: bool
    withheld: str = ""

    @property
    def complete(self) -> bool:
        """Every registered district contributed."""
        return not self.missing

    def label(self) -> str:
        """The county figure's name with its coverage, e.g. 'Threeshire, 2 of 3 districts; X missing: unreachable'."""
        n = len(self.contributing)
        head = f"{self.area}, {n} of {self.registered} district{'s' if self.registered != 1 else ''}"
        if self.complete:
            return f"{head} (all)"
        return head + "; " + "; ".join(f"{m.name} missing: {m.reason}" for m in self.missing)


@dataclass(frozen=True)
class Coverage:
    """Coverage of a county answer, month by month."""

    area: str
    registered: int
    months: tuple[MonthCover, ...]
    complete: bool
    latest: bool

    def month(self, month: str) -> MonthCover | None:
        """Coverage of one month, if it was asked."""
        return next((m for m in self.months if m.month == month), None)

    def label(self, month: str) -> str:
        """The county label for one month (the bare area name when the month was not asked)."""
        m = self.month(month)
        return m.label() if m is not None else self.area


def coverage_of(result: coordinator_pb2.FederatedResult) -> Coverage:
    """The typed coverage of a combined result."""
    c = result.coverage
    area = c.area or county_name()
    months = tuple(
        MonthCover(
            month=m.month,
            area=area,
            registered=c.registered,
            contributing=tuple(m.contributing),
            missing=tuple(Missing(x.district_code, x.district_name, x.reason) for x in m.missing),
            dwelling_share=m.dwelling_share,
            quorate=m.quorate,
            withheld=m.withheld,
        )
        for m in c.months
    )
    return Coverage(area, c.registered, months, c.complete, c.latest)


def combined(covers: Sequence[MonthCover]) -> MonthCover | None:
    """The coverage of a figure derived from several results of one month: only districts in every one count."""
    if not covers:
        return None
    first = covers[0]
    contributing = tuple(c for c in first.contributing if all(c in o.contributing for o in covers))
    missing: dict[str, Missing] = {}
    for cover in covers:
        for m in cover.missing:
            missing.setdefault(m.code, m)
    for cover in covers:
        for code in cover.contributing:
            if code not in contributing and code not in missing:
                missing[code] = Missing(code, code, "not in every figure")
    return MonthCover(
        month=first.month,
        area=first.area,
        registered=first.registered,
        contributing=contributing,
        missing=tuple(missing.values()),
        dwelling_share=min(c.dwelling_share for c in covers),
        quorate=all(c.quorate for c in covers),
        withheld=next((c.withheld for c in covers if c.withheld), ""),
    )
