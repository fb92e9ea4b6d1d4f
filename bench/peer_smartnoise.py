"""The peer: SmartNoise SQL 1.0.10 answering the same by-ward count at the same total loss.

Runs in its own virtual environment (`make bench-peer`: SmartNoise SQL pins an older OpenDP and pandas 2), so it
imports nothing from this project. Reads a CSV of ward codes, answers `reps` releases, prints JSON: the median
seconds per answer and the ward cells' RMSE. bench.issue13 calls it between its own runs."""

from __future__ import annotations

import json
import math
import statistics
import sys
import time


def main(csv_path: str, epsilon: float, reps: int) -> None:
    import pandas as pd
    import snsql
    from snsql import Privacy

    frame = pd.read_csv(csv_path, dtype={"ward_code": str})
    exact = frame.groupby("ward_code").size().to_dict()
    meta = {
        "Bench": {
            "bench": {
                "households": {
                    "row_privacy": True,
                    "rows": len(frame),
                    "ward_code": {"type": "string"},
                }
            }
        }
    }
    # One household, one row: the same unit of privacy as the node's. All of epsilon to the one count.
    reader = snsql.from_df(frame, privacy=Privacy(epsilon=epsilon, delta=1e-7), metadata=meta)
    sql = "SELECT ward_code, COUNT(*) AS n FROM bench.households GROUP BY ward_code"
    times, errors = [], []
    for _ in range(reps):
        start = time.perf_counter()
        rows = reader.execute(sql)
        times.append(time.perf_counter() - start)
        got = {r[0]: r[1] for r in rows[1:]}
        errors += [(got.get(w, 0) - n) ** 2 for w, n in exact.items()]
    print(json.dumps({"seconds": statistics.median(times), "ward_rmse": math.sqrt(statistics.fmean(errors))}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
