"""Size limits on everything a caller sends, checked at the coordinator and again at each node.

Every string and repeated field has a ceiling, so no request can make a server spend unbounded time or memory,
and no reply or error message can grow past what gRPC carries (metadata is limited to 8 KB)."""

from __future__ import annotations

from collections.abc import Iterable

from protos.lsi.v1 import query_pb2

MAX_QUERY_ID = 128
MAX_PURPOSE = 2_000
MAX_NAME = 200  # a column, indicator, dataset, analyst, month or filter text
MAX_FILTERS = 32
MAX_IN_VALUES = 256
MAX_GROUP_BY = 8  # the node allows fewer (node.query.MAX_GROUP_COLUMNS); this bounds the work before that check
MAX_MONTHS_LISTED = 60
MAX_DISTRICTS = 64
MAX_POLICY_TOML = 64_000
MAX_ERROR = 1_000  # characters of an error message sent to a caller
MAX_DEADLINE_SECONDS = 300.0
MAX_BREAKDOWN = 200  # spending rows by analyst or by purpose in one budget reply
MAX_BREAKDOWN_KEY = 200
MAX_RESULTS_LISTED = 50  # stored results in one Results reply
MAX_HISTORY_ROWS = 2_000  # (day, analyst, purpose) rows of spending history in one budget reply
HISTORY_DAYS = 400  # days of spending history a budget reply covers


class LimitExceeded(ValueError):
    """A request over a size limit; `field` names the field, the message names the limit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def bounded(text: str, limit: int = MAX_ERROR) -> str:
    """Text cut to at most `limit` characters, saying how much was cut, so it never echoes a huge value."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters not shown)"


def _text(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise LimitExceeded(field, f"is {len(value):,} characters long; the limit is {limit:,}")


def _count(field: str, values: Iterable[object], limit: int) -> None:
    n = len(list(values))
    if n > limit:
        raise LimitExceeded(field, f"has {n:,} entries; the limit is {limit:,}")


def check_query_sizes(query: query_pb2.Query) -> None:
    """Raise LimitExceeded naming the first field of a query that is over its size limit."""
    _text("query_id", query.query_id, MAX_QUERY_ID)
    _text("purpose", query.purpose, MAX_PURPOSE)
    for name in ("indicator", "analyst", "dataset"):
        _text(name, getattr(query, name), MAX_NAME)
    _text("measure.column", query.measure.column, MAX_NAME)
    _count("filters", query.filters, MAX_FILTERS)
    for i, f in enumerate(query.filters):
        _text(f"filters[{i}].column", f.column, MAX_NAME)
        _text(f"filters[{i}].text", f.text, MAX_NAME)
        _count(f"filters[{i}].values", f.values, MAX_IN_VALUES)
        for j, v in enumerate(f.values):
            _text(f"filters[{i}].values[{j}]", v, MAX_NAME)
    _count("group_by", query.group_by, MAX_GROUP_BY)
    for i, g in enumerate(query.group_by):
        _text(f"group_by[{i}]", g, MAX_NAME)
    _count("months", query.months, MAX_MONTHS_LISTED)
    for i, m in enumerate(query.months):
        _text(f"months[{i}]", m, MAX_NAME)


def unique_districts(codes: Iterable[str]) -> list[str]:
    """District codes in the order first asked, each once; LimitExceeded if too many or one is over-long."""
    out: list[str] = []
    seen: set[str] = set()
    for i, code in enumerate(codes):
        if i >= MAX_DISTRICTS * 4:
            raise LimitExceeded(
                "districts",
                f"lists more than {MAX_DISTRICTS * 4:,} entries; name each district once (at most {MAX_DISTRICTS})",
            )
        _text(f"districts[{i}]", code, MAX_NAME)
        if code not in seen:
            seen.add(code)
            out.append(code)
    if len(out) > MAX_DISTRICTS:
        raise LimitExceeded("districts", f"names {len(out):,} districts; the limit is {MAX_DISTRICTS}")
    return out


def bounded_budget(status: query_pb2.BudgetStatus) -> query_pb2.BudgetStatus:
    """A budget reply whose breakdown stays bounded however large the ledger grows: the biggest spenders kept,
    keys cut to MAX_BREAKDOWN_KEY characters."""
    out = query_pb2.BudgetStatus()
    out.CopyFrom(status)
    for rows in (out.by_analyst, out.by_purpose):
        kept = sorted(rows, key=lambda s: -s.rho)[:MAX_BREAKDOWN]
        trimmed = [
            query_pb2.Spend(key=bounded(s.key, MAX_BREAKDOWN_KEY), rho=s.rho, epsilon=s.epsilon, queries=s.queries)
            for s in kept
        ]
        del rows[:]
        rows.extend(trimmed)
    history = [
        query_pb2.DailySpend(
            day=h.day,
            analyst=bounded(h.analyst, MAX_BREAKDOWN_KEY),
            purpose=bounded(h.purpose, MAX_BREAKDOWN_KEY),
            rho=h.rho,
            queries=h.queries,
        )
        for h in out.history[-MAX_HISTORY_ROWS:]
    ]
    del out.history[:]
    out.history.extend(history)
    return out
