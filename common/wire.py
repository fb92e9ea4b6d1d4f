"""Words of the wire contract that both a node and the analysts' library must spell the same way.

A first, small step towards a vocabulary module beside protos/: only what the library needs from the node.
"""

from __future__ import annotations

from protos.lsi.v1 import query_pb2

# A filter operator's wire value and the short name the node and the indicator catalogue use.
OPERATORS = {
    query_pb2.Filter.EQ: "eq",
    query_pb2.Filter.NE: "ne",
    query_pb2.Filter.LT: "lt",
    query_pb2.Filter.LE: "le",
    query_pb2.Filter.GT: "gt",
    query_pb2.Filter.GE: "ge",
    query_pb2.Filter.IN: "in",
}
# A query's dataset names a campaign as CAMPAIGN_PREFIX + its name; empty means the household snapshots.
CAMPAIGN_PREFIX = "campaign:"
