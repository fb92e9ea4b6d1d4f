"""Parse `--where` expressions ("on_cts = true", "claimant_age >= 66", "tenure in council,private_lha")."""

from __future__ import annotations

import re
from collections.abc import Mapping

from node.schema import Column, did_you_mean
from protos.lsi.v1 import query_pb2
from protos.serde import OPERATOR_SYMBOLS, FilterValue, filter_to_wire

_EXPR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|<=|>=|=|<|>|\s+in\s+)\s*(.+?)\s*$")


class FilterSyntaxError(ValueError):
    """A --where expression that cannot be read."""


def parse_filter(text: str, columns: Mapping[str, Column]) -> query_pb2.Filter:
    """Turn one `--where` expression into a Filter, typing the value by the column's kind in the schema."""
    match = _EXPR.match(text)
    if not match:
        raise FilterSyntaxError(
            f"--where {text!r}: write COLUMN OP VALUE, e.g. 'on_cts = true' or 'claimant_age >= 66'"
        )
    name, op_text, value = match.group(1), match.group(2).strip(), match.group(3)
    op = OPERATOR_SYMBOLS[op_text]
    column = columns.get(name)
    if column is None:
        # The node names unknown columns too; failing here saves a round trip.
        raise FilterSyntaxError(f"--where {text!r}: unknown column {name!r}{did_you_mean(name, columns)}")
    return filter_to_wire(name, op, _typed(text, column, op, value))


def _typed(text: str, column: Column, op: str, value: str) -> FilterValue:
    """The value as the column's kind in the schema reads it (IN: a tuple of categories)."""
    if op == "in":
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if column.kind == "bool":
        if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise FilterSyntaxError(f"--where {text!r}: {column.name} is true or false")
        return value.lower() in ("true", "yes", "1")
    if column.kind in ("int", "float"):
        try:
            return float(value)
        except ValueError as exc:
            raise FilterSyntaxError(f"--where {text!r}: {column.name} is numeric, {value!r} is not a number") from exc
    return value.strip("'\"")
