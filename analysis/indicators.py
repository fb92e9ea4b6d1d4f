"""The indicator catalogue, as data: what each published figure counts or sums, with its filters and bounds.

Sum and mean bounds are per-household clamping limits that the privacy layer needs; they are part of the
definition, so they live here with it. Rates per 1,000 use the public household denominator (VOA dwellings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "in"]


@dataclass(frozen=True)
class FilterSpec:
    """One condition on a queryable column."""

    column: str
    op: Op
    value: str | float | bool | tuple[str, ...]


@dataclass(frozen=True)
class Indicator:
    """A published measure: a count, sum or mean over the households that pass its filters."""

    name: str
    title: str
    definition: str
    unit: str
    measure: Literal["count", "sum", "mean"]
    column: str = ""
    lower: float = 0
    upper: float = 0
    filters: tuple[FilterSpec, ...] = ()
    denominator: str = "households"
    higher_is_worse: bool = True
    # "" for the household snapshots; "campaign" for a district campaign named at query time (campaign:NAME).
    dataset: str = ""


def _flag(column: str) -> tuple[FilterSpec, ...]:
    return (FilterSpec(column, "eq", True),)


def _count(name: str, title: str, definition: str, filters: tuple[FilterSpec, ...], **kw: object) -> Indicator:
    return Indicator(name, title, definition, "households", "count", filters=filters, **kw)  # type: ignore[arg-type]


_RESILIENCE_TEXT = {
    "in_crisis": "monthly shortfall after housing, council tax and essential costs, with council tax or rent arrears",
    "at_risk": "monthly shortfall after housing, council tax and essential costs, no arrears",
    "struggling": "surplus of £0 to under £100 a month after housing, council tax and essential costs",
    "coping": "surplus of £100 a month or more after housing, council tax and essential costs",
}

_ALL: tuple[Indicator, ...] = (
    _count("households", "Households in benefit records", "All household records in the snapshot.", ()),
    _count(
        "cts_caseload",
        "Council Tax Support caseload",
        "Households with a Council Tax Support award.",
        _flag("on_cts"),
    ),
    Indicator(
        "cts_spend",
        "Council Tax Support awarded",
        "Sum of annual Council Tax Support awards, each clamped to £0-£4,000.",
        "£ a year",
        "sum",
        "cts_award_annual",
        0,
        4000,
        _flag("on_cts"),
        higher_is_worse=False,
    ),
    _count("hb_caseload", "Housing Benefit caseload", "Households with a Housing Benefit award.", _flag("on_hb")),
    _count(
        "uc_households",
        "Households on Universal Credit",
        "Households recorded as on Universal Credit.",
        _flag("on_uc"),
    ),
    *(
        _count(
            f"households_{cat}",
            f"Households {cat.replace('_', ' ')}",
            f"Resilience category {cat}: {text} (our definition).",
            (FilterSpec("resilience", "eq", cat),),
            higher_is_worse=cat != "coping",
        )
        for cat, text in _RESILIENCE_TEXT.items()
    ),
    _count(
        "cash_shortfall",
        "Households that can't pay the bills",
        "Income after rent, council tax and modelled essential spending is below zero.",
        _flag("cash_shortfall"),
    ),
    _count(
        "fuel_poverty",
        "Households in fuel poverty",
        "LILEE: EPC D-G and equivalised income after housing costs, council tax and energy below the poverty line.",
        _flag("fuel_poverty"),
    ),
    _count(
        "water_poverty",
        "Households in water poverty",
        "The household's water bill above 5% of net income after housing costs and council tax.",
        _flag("water_poverty"),
    ),
    _count(
        "food_poverty",
        "Households in food poverty",
        "Income after housing, energy, water and council tax below the modelled food budget (our definition).",
        _flag("food_poverty"),
    ),
    _count(
        "pension_age_households",
        "Pension-age households",
        "Households of Pension Credit age.",
        _flag("pension_age"),
        higher_is_worse=False,
    ),
    _count(
        "pc_unclaimed_households",
        "Households missing out on Pension Credit",
        "Pension-age households "
        "with income below the minimum guarantee, not receiving Pension Credit, savings not over £16,000.",
        _flag("pc_unclaimed"),
    ),
    Indicator(
        "pc_unclaimed_value",
        "Unclaimed Pension Credit",
        "Weekly shortfall below the minimum "
        "guarantee x 52, summed over households missing out, each clamped to £0-£12,000.",
        "£ a year",
        "sum",
        "pc_unclaimed_annual",
        0,
        12000,
        _flag("pc_unclaimed"),
    ),
    _count(
        "fsm_unclaimed_households",
        "Households missing free school meals",
        "On a qualifying benefit (UC: earnings up to £7,400 until Aug 2026, any from Sept 2026; legacy benefits; "
        "Pension Credit guarantee), school-age children, free school meals not recorded.",
        _flag("fsm_unclaimed"),
    ),
    Indicator(
        "fsm_unclaimed_children",
        "Children missing free school meals",
        "School-age children in households missing free school meals, each household clamped to 0-6.",
        "children",
        "sum",
        "fsm_unclaimed_children",
        0,
        6,
        _flag("fsm_unclaimed"),
    ),
    _count(
        "uc_without_cts",
        "UC households without Council Tax Support",
        "Households on Universal Credit with no Council Tax Support award.",
        _flag("uc_without_cts"),
    ),
    Indicator(
        "mean_monthly_surplus",
        "Average monthly surplus",
        "Mean of income less housing, council tax "
        "net of support and essential costs, each household clamped to -£1,500 to £1,500.",
        "£ a month",
        "mean",
        "monthly_surplus",
        -1500,
        1500,
        higher_is_worse=False,
    ),
)

# Campaign results, over each district's targeted households (one row each) as its team has recorded them.
_CAMPAIGN: tuple[Indicator, ...] = (
    _count(
        "campaign_households",
        "Households targeted",
        "Households on the campaign's target list.",
        (),
        higher_is_worse=False,
        dataset="campaign",
    ),
    _count(
        "campaign_contacted",
        "Households contacted",
        "Targeted households the district's team reached.",
        _flag("contacted"),
        higher_is_worse=False,
        dataset="campaign",
    ),
    _count(
        "campaign_claimed",
        "Households helped to claim",
        "Targeted households that have claimed.",
        _flag("claimed"),
        higher_is_worse=False,
        dataset="campaign",
    ),
    Indicator(
        "campaign_gained",
        "Support gained",
        "Annual support gained by targeted households that claimed, each household clamped to £0-£5,000.",
        "£ a year",
        "sum",
        "gained_annual",
        0,
        5000,
        higher_is_worse=False,
        dataset="campaign",
    ),
)

CATALOGUE: dict[str, Indicator] = {i.name: i for i in (*_ALL, *_CAMPAIGN)}


class UnknownIndicatorError(KeyError):
    """An indicator name that is not in the catalogue."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


def indicator(name: str) -> Indicator:
    """The catalogue indicator called ``name``; raises UnknownIndicatorError listing the known names."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownIndicatorError(f"unknown indicator {name!r}; known indicators: {', '.join(CATALOGUE)}") from None
