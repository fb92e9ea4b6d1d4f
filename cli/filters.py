"""Parse `--where` expressions ("on_cts = true", "claimant_age >= 66", "tenure in council,private_lha")."""

from __future__ import annotations

import re
from collections.abc import Mapping

from node.schema import Column, did_you_mean
from protos.lsi.v1 import query_pb2

_OPS = {
    "=": query_pb2.Filter.EQ,
    "==": query_pb2.Filter.EQ,
    "!=": query_pb2.Filter.NE,
    "<": query_pb2.Filter.LT,
    "<=": query_pb2.Filter.LE,
    ">": query_pb2.Filter.GT,
    ">=": query_pb2.Filter.GE,
    "in": query_pb2.Filter.IN,
}
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
    op = _OPS[op_text]
    column = columns.get(name)
    if column is None:
        # The node names unknown columns too; failing here saves a round trip.
        raise FilterSyntaxError(f"--where {text!r}: unknown column {name!r}{did_you_mean(name, columns)}")
    f = query_pb2.Filter(column=name, op=op)
    if op == query_pb2.Filter.IN:
        f.values.extend(v.strip() for v in value.split(",") if v.strip())
    elif column.kind == "bool":
        if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise FilterSyntaxError(f"--where {text!r}: {name} is true or false")
        f.flag = value.lower() in ("true", "yes", "1")
    elif column.kind in ("int", "float"):
        try:
            f.number = float(value)
        except ValueError as exc:
            raise FilterSyntaxError(f"--where {text!r}: {name} is numeric, {value!r} is not a number") from exc
    else:
        f.text = value.strip("'\"")
    return f
