"""The peer on the index: SmartNoise SQL 1.0.10 answering the index refresh's ward queries for several months.

Runs in its own virtual environment (`make bench-peer`), so it imports nothing from this project: only the standard
library here, pandas and snsql inside `main`. bench.index_peer writes a CSV of one district's rows for its months
(two, or a year's series) and a JSON spec of the queries, runs this script, and builds the ward index from what it
prints:

    python bench/peer_index.py ROWS.csv SPEC.json EPSILON DELTA REPS MECHANISMS

SmartNoise is given the total (EPSILON, DELTA) for every query of all months and spends it as its own accounting
would: the same (epsilon, delta) on every query, each measured column charged (its odometer composes them), chosen
so that `get_privacy_cost` of all the queries together is the total. MECHANISMS is a comma-separated list of
"default" (SmartNoise's own mechanisms: Laplace) and "gaussian" (counts and sums Gaussian), each optionally with
"-nocensor" (its censoring of rare groups off); with several, the repetitions alternate between them. Prints one
JSON object (see `main`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

TABLE = "bench.households"
MONTH_COLUMN = "snapshot_month"  # SmartNoise's SQL grammar reserves MONTH
# The columns a query returns: n, the count (also SmartNoise's key count for censoring), and s, the sum.
COUNT, SUM = "n", "s"
# A choice ending so turns SmartNoise's censoring of rare groups off (metadata censor_dims: False).
NO_CENSOR = "-nocensor"


def select_sql(query: Mapping[str, Any]) -> str:
    """The SQL for one spec query: by ward, in its month, with its filters.

    A mean is asked as SUM and COUNT(*), two measured columns, where COUNT(*) is also the key count SmartNoise
    thresholds on; AVG(x) would be dearer (SmartNoise adds COUNT(x) beside its key count: three columns) and the
    mean is then post-processed from the two, as the node does. A count is one column; a sum is two (SmartNoise
    adds the key count to censor on)."""
    measure = query["measure"]
    if measure == "count":
        agg = f"COUNT(*) AS {COUNT}"
    elif measure == "sum":
        agg = f"SUM({query['column']}) AS {SUM}"
    elif measure == "mean":
        agg = f"SUM({query['column']}) AS {SUM}, COUNT(*) AS {COUNT}"
    else:
        raise ValueError(f"unknown measure {measure!r}")
    where = " AND ".join([f"{MONTH_COLUMN} = '{query['month']}'", *query["where"]])
    return f"SELECT ward_code, {agg} FROM {TABLE} WHERE {where} GROUP BY ward_code"


def metadata(
    columns: Mapping[str, Mapping[str, Any]], queries: Sequence[Mapping[str, Any]], rows: int, censor: bool = True
) -> dict:
    """SmartNoise metadata: one row is one household's month (row privacy), each summed column with its bounds;
    SmartNoise's default censoring of rare groups unless `censor` is False."""
    table: dict[str, Any] = {"row_privacy": True, "rows": rows}
    if not censor:
        table["censor_dims"] = False
    for name, spec in columns.items():
        table[name] = {"type": spec["type"]}
    for q in queries:
        if q["measure"] in ("sum", "mean"):
            bounds = {"lower": q["lower"], "upper": q["upper"]}
            known = {k: table[q["column"]].get(k) for k in bounds}
            if known not in ({"lower": None, "upper": None}, bounds):
                raise ValueError(f"{q['column']}: two queries give it different bounds")
            table[q["column"]].update(bounds)
    schema, name = TABLE.split(".")
    return {"Bench": {schema: {name: table}}}


def even_loss(
    pattern: Sequence[bool],
    epsilon: float,
    delta: float,
    spent: Callable[[float, float, Sequence[bool]], tuple[float, float]],
) -> tuple[float, float]:
    """The per-query (epsilon, delta) whose composition over every measured column is the total.

    `pattern` has one entry per measured column of every query, True where the column is charged delta too;
    `spent(eps, delta, pattern)` is SmartNoise's odometer. Delta first (its total does not depend on epsilon),
    then epsilon (its advanced-composition branch depends on delta), each by bisection to just under the total."""

    def largest(fits: Callable[[float], bool], high: float) -> float:
        low = 0.0
        for _ in range(200):
            mid = (low + high) / 2
            low, high = (mid, high) if fits(mid) else (low, mid)
        return low

    d = largest(lambda x: spent(epsilon, x, pattern)[1] <= delta, delta)
    e = largest(lambda x: spent(x, d, pattern)[0] <= epsilon, epsilon)
    return e, d


def _odometer_spent(eps: float, delta: float, pattern: Sequence[bool]) -> tuple[float, float]:
    from snsql import Privacy
    from snsql.sql.odometer import OdometerHeterogeneous

    odo = OdometerHeterogeneous(Privacy(epsilon=eps, delta=delta))
    for charged in pattern:
        odo.spend(Privacy(epsilon=eps, delta=delta if charged else 0.0))
    e, d = odo.spent
    return float(e), float(d)


def _mechanisms(choice: str) -> Any:
    from snsql.sql.privacy import Mechanism, Mechanisms, Stat

    mechanisms = Mechanisms()
    name = choice.removesuffix(NO_CENSOR)
    if name == "gaussian":
        # With censoring, a key count is a "threshold" statistic: Gaussian too, so every count is.
        for stat in (Stat.count, Stat.sum_int, Stat.sum_large_int, Stat.sum_float, Stat.threshold):
            mechanisms.map[stat] = Mechanism.gaussian
    elif name != "default":
        raise ValueError(f"unknown mechanism choice {choice!r}: expected default or gaussian, optionally {NO_CENSOR}")
    return mechanisms


def _memoise_scales() -> None:
    """Compute each noise scale once per (epsilon, delta, bounds): SmartNoise searches it anew for every column of
    every query it runs (a Gaussian's search takes ~0.2 s), and the scale depends on nothing else, so the noise is
    unchanged; only this benchmark's run time is spared (it times nothing)."""
    from snsql.sql._mechanisms import Gaussian, Laplace

    for cls in (Gaussian, Laplace):
        search = cls._compute_noise_scale
        found: dict[tuple, float] = {}

        def cached(self: Any, search: Callable[[Any], None] = search, found: dict[tuple, float] = found) -> None:
            key = (self.epsilon, self.delta, self.lower, self.upper, self.max_contrib, self.bit_depth)
            if key not in found:
                search(self)
                found[key] = self.scale
            self.scale = found[key]

        cls._compute_noise_scale = cached


def _noise(reader: Any, sql: str, censor: bool) -> dict[str, Any]:
    """Each returned column's mechanism and scale, and the censoring threshold (SmartNoise's own objects)."""
    subquery, _ = reader._rewrite(sql)
    out: dict[str, Any] = {"tau": None}
    for symbol, mech in zip(subquery._select_symbols, reader._get_mechanisms(subquery), strict=True):
        if mech is None:
            continue
        column = COUNT if symbol.is_count else SUM
        if column in out:
            raise ValueError(f"two measured {column} columns in {sql}")
        out[column] = {"kind": type(mech).__name__.lower(), "scale": float(mech.scale)}
        if symbol.is_key_count and censor:
            out["tau"] = float(mech.threshold)
    return out


def main(argv: Sequence[str]) -> None:
    """Print {"loss": by mechanism, "exact": by month and query, "noise": by mechanism, month and query, "reps":
    [{"mechanism", "cells": {month: {query: {ward: {"n": .., "s": ..}}}}}]} as JSON."""
    import pandas as pd
    from snsql import Privacy
    from snsql.sql.private_reader import PrivateReader
    from snsql.sql.reader.base import SqlReader

    args = argparse.ArgumentParser()
    args.add_argument("csv")
    args.add_argument("spec")
    args.add_argument("epsilon", type=float)
    args.add_argument("delta", type=float)
    args.add_argument("reps", type=int)
    args.add_argument("mechanisms")
    ns = args.parse_args(argv)
    _memoise_scales()
    spec = json.loads(Path(ns.spec).read_text())
    strings = [n for n, c in spec["columns"].items() if c["type"] == "string"]
    frame = pd.read_csv(ns.csv, dtype=dict.fromkeys(strings, str))
    sqls = [select_sql(q) for q in spec["queries"]]
    choices = ns.mechanisms.split(",")
    # One SQL reader over the rows for every private reader: each `snsql.from_df` copies the frame into SQLite
    # anew (~2.5 s for a year's rows), and the exact answers do not depend on the privacy metadata or loss.
    meta_any = metadata(spec["columns"], spec["queries"], len(frame))
    database = SqlReader.from_connection(frame, engine="pandas", metadata=meta_any)

    readers: dict[str, Any] = {}
    loss: dict[str, dict[str, Any]] = {}
    noise: dict[str, dict[str, dict[str, Any]]] = {}
    for choice in choices:
        censor = not choice.endswith(NO_CENSOR)
        meta = metadata(spec["columns"], spec["queries"], len(frame), censor=censor)
        # The pattern of charged columns does not depend on the loss: read it at a probe value.
        probe_privacy = Privacy(epsilon=1.0, delta=1e-9, mechanisms=_mechanisms(choice))
        probe = PrivateReader(database, meta, privacy=probe_privacy)
        pattern = [c[1] > 0 for sql in sqls for c in probe._get_mechanism_costs(sql) if c]
        eps, delta = even_loss(pattern, ns.epsilon, ns.delta, _odometer_spent)
        privacy = Privacy(epsilon=eps, delta=delta, mechanisms=_mechanisms(choice))
        reader = PrivateReader(database, meta, privacy=privacy)
        total = reader.get_privacy_cost(sqls)  # SmartNoise's own figure for the whole set: must be the total
        if total[0] > ns.epsilon * (1 + 1e-9) or total[1] > ns.delta * (1 + 1e-9):
            raise RuntimeError(f"split overspends: {total} > {(ns.epsilon, ns.delta)}")
        readers[choice] = reader
        loss[choice] = {
            "epsilon_per_query": eps,
            "delta_per_query": delta,
            "columns": len(pattern),
            "columns_charged_delta": sum(pattern),
            "spent": [float(total[0]), float(total[1])],
        }
        noise[choice] = {q["month"]: {} for q in spec["queries"]}
        for q, sql in zip(spec["queries"], sqls, strict=True):
            noise[choice][q["month"]][q["name"]] = _noise(reader, sql, censor)

    exact: dict[str, dict[str, Any]] = {q["month"]: {} for q in spec["queries"]}
    some = readers[choices[0]]
    for q, sql in zip(spec["queries"], sqls, strict=True):
        rows = some.reader.execute(sql)  # the exact answer, to check the filters against the node's
        exact[q["month"]][q["name"]] = _cells(rows)

    reps = []
    for i in range(ns.reps):
        choice = choices[i % len(choices)]
        cells: dict[str, dict[str, Any]] = {q["month"]: {} for q in spec["queries"]}
        for q, sql in zip(spec["queries"], sqls, strict=True):
            cells[q["month"]][q["name"]] = _cells(readers[choice].execute(sql))
        reps.append({"mechanism": choice, "cells": cells})
    json.dump({"loss": loss, "noise": noise, "exact": exact, "reps": reps}, sys.stdout)
    sys.stdout.write("\n")


def _cells(rows: Sequence[Sequence[Any]]) -> dict[str, dict[str, float]]:
    """{ward: {column: value}} from SmartNoise's rows (a header row, then one row per ward it released)."""
    header = [str(h).lower() for h in rows[0]]
    out = {}
    for row in rows[1:]:
        record = dict(zip(header, row, strict=True))
        ward = str(record.pop("ward_code"))
        out[ward] = {k: float(v) for k, v in record.items()}
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
