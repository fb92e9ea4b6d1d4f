"""Measure lsi synth against its calibration targets: python tools/calibration.py [--scale 1.0] [--months 13].

Prints each target beside the synthetic figure for the last month, and the county rates of the derived measures
month by month (the figures docs/lsi.md quotes).
"""

from __future__ import annotations

import argparse

import pandas as pd

from analysis.lsi import area_month_index, index_series, rates_year_breaks
from common.estimates import Estimate
from node import synth
from node.derive import derive
from reference import geography
from reference.rates import rates_for_month


def main() -> None:
    """Print calibration targets against synthetic figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--months", type=int, default=13)
    ap.add_argument("--end-month", default="2025-10")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    by_month: dict[str, list[pd.DataFrame]] = {}
    # At a new rates year, the same records under the previous year's rates: what the households alone did.
    old_rates: dict[str, list[pd.DataFrame]] = {}
    uc_rows = []
    for d in geography.districts():
        snaps = synth.generate_district(
            d.code, seed=args.seed, scale=args.scale, months=args.months, end_month=args.end_month
        )
        months = list(snaps)
        for i, (month, frame) in enumerate(snaps.items()):
            by_month.setdefault(month, []).append(derive(frame, rates_for_month(month)))
            if i > 0 and month in rates_year_breaks(months):
                old_rates.setdefault(month, []).append(derive(frame, rates_for_month(months[i - 1]), month=month))
        last = by_month[args.end_month][-1]
        uc_rows.append((d.name, d.uc_households * args.scale, int(last["on_uc"].sum())))
    print("district: DWP UC households x scale vs UC households in the records")
    for name, want, got in uc_rows:
        print(f"  {name:24s} {want:9.0f} {got:9d} {100 * (got / want - 1):+6.1f}%")
    d = pd.concat(by_month[args.end_month])
    pc = int((d["passported"] == "pension_credit_guarantee").sum())
    un = d[d["pc_unclaimed"]]
    print(f"records {len(d)}; pension-age share {d['pension_age'].mean():.3f} (target about 0.40)")
    print(f"Pension Credit claimants {pc} (target {synth.TARGET_PC_CLAIMANTS * args.scale:.0f})")
    print(
        f"unclaimed Pension Credit {len(un)} households (target {synth.TARGET_PC_UNCLAIMED * args.scale:.0f}), "
        f"mean £{un['pc_unclaimed_annual'].mean():.0f} a year (target £1,700), "
        f"total £{un['pc_unclaimed_annual'].sum():,.0f}"
    )
    print(f"free school meals not taken up: {int(d['fsm_unclaimed'].sum())} households")
    households = synth.area_households() * args.scale
    for measure, (low, high) in synth.PUBLISHED_ALL_HOUSEHOLD_RATES.items():
        print(
            f"{measure}: {d[measure].mean():.1%} of records; {d[measure].sum() / households:.1%} of all households "
            f"(published, all households: {low:.1%} to {high:.1%})"
        )
    print("month    water  fuel   food   short  crisis mean_surplus  LSI (exact, no noise)")
    exact = {month: _shares(pd.concat(frames)) for month, frames in by_month.items()}
    lsi = index_series(exact, next(iter(exact)))
    for month, frames in by_month.items():
        m = pd.concat(frames)
        print(
            f"{month}  {m['water_poverty'].mean():.3f}  {m['fuel_poverty'].mean():.3f}  "
            f"{m['food_poverty'].mean():.3f}  "
            f"{m['cash_shortfall'].mean():.3f}  {(m['resilience'] == 'in_crisis').mean():.3f}  "
            f"{m['monthly_surplus'].mean():8.1f}  {lsi[month].value:7.2f}"
        )
    months = list(exact)
    base = exact[months[0]]
    from_rates = 0.0
    for brk in rates_year_breaks(months):
        i = months.index(brk)
        step = lsi[brk].value - lsi[months[i - 1]].value
        print(f"break at {brk}: step {step:+.2f} points", end="")
        if brk in old_rates:
            same = area_month_index(_shares(pd.concat(old_rates[brk])), base).value - lsi[months[i - 1]].value
            print(
                f" = {same:+.2f} from households (same rates as {months[i - 1]}) {step - same:+.2f} from the new rates"
            )
            from_rates += step - same
        else:
            print()
    total = lsi[months[-1]].value - 100
    print(f"change over the series: {total:+.2f} points; {total - from_rates:+.2f} without the new rates' steps")


def _shares(m: pd.DataFrame) -> dict[str, Estimate]:
    """The index's exact components (no noise) for a set of derived records."""
    return {
        "cash_shortfall": Estimate(float(m["cash_shortfall"].mean()), 0.0),
        "households_in_crisis": Estimate(float((m["resilience"] == "in_crisis").mean()), 0.0),
        "fuel_poverty": Estimate(float(m["fuel_poverty"].mean()), 0.0),
        "food_poverty": Estimate(float(m["food_poverty"].mean()), 0.0),
        "water_poverty": Estimate(float(m["water_poverty"].mean()), 0.0),
        "mean_monthly_surplus": Estimate(float(m["monthly_surplus"].mean()), 0.0),
    }


if __name__ == "__main__":
    main()
