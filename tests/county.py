"""A county of in-process servers on loopback ports, with real mutual TLS, for end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc

from cli.local_county import ANALYST, COORDINATOR, LocalCounty, ig_officer_name, node_name
from common.config import read_toml, write_toml
from coordinator.config import load_coordinator_config, write_coordinator_config
from coordinator.server import build_server as build_coordinator
from node.config import load_node_config
from node.engine import NodeEngine
from node.outbound import OutboundLink
from node.server import build_server as build_node
from node.server import connect_outbound
from node.synth import write_county
from privacy.policy import Policy
from protos.lsi.v1 import coordinator_pb2_grpc, node_pb2_grpc
from reference.geography import District, districts
from security.tls import TlsFiles, channel_credentials


def policy_with(
    total_rho: float = 1000.0, per_query_rho: float = 50.0, min_cell: int = 0
) -> Callable[[District], Policy]:
    """A policy factory for test counties."""

    def make(d: District) -> Policy:
        return Policy(
            district_code=d.code,
            period_start="2025-04-01",
            period_end="2099-03-31",
            total_rho=total_rho,
            per_query_rho=per_query_rho,
            delta=1e-7,
            min_published_cell=min_cell,
            analyst_caps={},
            month_lifetime_rho=total_rho,
        )

    return make


@dataclass
class RunningCounty:
    local: LocalCounty
    engines: dict[str, NodeEngine] = field(default_factory=dict)
    node_servers: dict[str, grpc.Server] = field(default_factory=dict)
    coordinator: grpc.Server | None = None
    pool: object = None
    links: dict[str, OutboundLink] = field(default_factory=dict)

    def channel(self, identity: str, address: str, server_name: str, tls: TlsFiles | None = None) -> grpc.Channel:
        creds = channel_credentials(tls or self.local.tls(identity))
        return grpc.secure_channel(address, creds, options=[("grpc.ssl_target_name_override", server_name)])

    def coordinator_stub(self, identity: str = ANALYST) -> coordinator_pb2_grpc.CoordinatorStub:
        return coordinator_pb2_grpc.CoordinatorStub(self.channel(identity, self.local.coordinator_address, COORDINATOR))

    def node_stub(self, code: str, identity: str | None = None) -> node_pb2_grpc.NodeStub:
        """A stub for a district's node, as that district's own IG officer unless another identity is given."""
        d = next(d for d in districts() if d.code == code)
        identity = identity or ig_officer_name(d)
        return node_pb2_grpc.NodeStub(self.channel(identity, self.local.node_address(code), node_name(d)))

    def stop_node(self, code: str) -> None:
        link = self.links.pop(code, None)
        if link is not None:
            link.stop()
        self.node_servers.pop(code).stop(grace=None).wait()


# The two ways a node is reached: the coordinator dials it, or it dials the coordinator (outbound-only).
MODES = ("dial", "outbound")


def outbound_codes(mode: str, codes: list[str]) -> list[str]:
    """Which districts dial out for a test mode: none, every other one ("mixed"), or all ("outbound")."""
    if mode == "outbound":
        return list(codes)
    if mode == "mixed":
        return list(codes)[1::2]
    return []


@contextmanager
def running_county(
    root: Path,
    *,
    codes: list[str] | None = None,
    scale: float = 0.05,
    months: int = 3,
    policy: Callable[[District], Policy] | None = None,
    mode: str = "dial",
    coordinator_settings: Mapping[str, object] | None = None,
    before_start: Callable[[Path], None] | None = None,
    strict: bool = True,
) -> Iterator[RunningCounty]:
    """Synthetic data, PKI and configs under `root`; nodes (all or `codes`) and a coordinator in this process.

    mode "dial": the coordinator dials every node; "outbound": every node dials the coordinator; "mixed": some
    of each."""
    local = LocalCounty(root)
    write_county(local.data_dir, seed=11, scale=scale, months=months, end_month="2025-10")
    if before_start is not None:
        before_start(local.data_dir)  # e.g. take a district's latest snapshot away: a district a month behind
    local.prepare_pki()
    everyone = codes or [d.code for d in districts()]
    local.write_configs(policy or policy_with(), outbound=outbound_codes(mode, everyone))
    county = RunningCounty(local)
    wanted = codes or [d.code for d in districts()]
    if codes:
        _register_only(local, codes)
    if coordinator_settings:
        path = root / "coordinator.toml"
        raw = read_toml(path)
        raw["coordinator"].update(coordinator_settings)
        write_toml(path, raw)
    try:
        for code in wanted:
            cfg = load_node_config(root / "nodes" / code / "node.toml")
            engine = NodeEngine.open(code, cfg.data_dir, cfg.state_db, cfg.policy, cfg.audit_key, strict=strict)
            server, _, _ = build_node(engine, cfg)
            county.engines[code], county.node_servers[code] = engine, server
        server, _, _, pool = build_coordinator(load_coordinator_config(root / "coordinator.toml"))
        county.coordinator, county.pool = server, pool
        for code in wanted:
            link = connect_outbound(county.engines[code], load_node_config(root / "nodes" / code / "node.toml"))
            if link is not None:
                county.links[code] = link
        _wait_attached(pool, list(county.links))
        yield county
    finally:
        for link in county.links.values():
            link.stop()
        if county.coordinator is not None:
            county.coordinator.stop(grace=None).wait()
            county.pool.close()  # type: ignore[attr-defined]
        for server in county.node_servers.values():
            server.stop(grace=None).wait()


def _register_only(local: LocalCounty, codes: list[str]) -> None:
    """Rewrite the coordinator's registry to hold only some districts."""
    path = local.root / "coordinator.toml"
    config = load_coordinator_config(path)
    write_coordinator_config(replace(config, nodes=tuple(n for n in config.nodes if n.district_code in codes)), path)


def _wait_attached(pool: object, codes: list[str]) -> None:
    """Until the coordinator holds a stream for every outbound node (the node may see its first call later)."""
    import time

    end = time.monotonic() + 30
    while time.monotonic() < end:
        if all(pool.links[c].vet() is None for c in codes):  # type: ignore[attr-defined]
            return
        time.sleep(0.02)
    raise TimeoutError(f"outbound nodes {codes} never attached at the coordinator")
