"""A whole county on one machine: synthetic data, a PKI, a node process per district and a coordinator on loopback.

Used by `lsi demo` and the end-to-end tests; a real deployment runs the same commands on separate machines."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from coordinator.config import DIAL, OUTBOUND, CoordinatorConfig, NodeEntry, write_coordinator_config
from node.config import NodeConfig, write_node_config
from privacy.policy import Policy, save_policy
from reference.geography import District, districts
from security.pki import Role, init_ca, issue
from security.tls import TlsFiles, channel_credentials

COORDINATOR = "county-coordinator"
ANALYST = "analyst-alice"
COUNTY_IG_OFFICER = "ig-county"


def node_name(d: District) -> str:
    """Certificate name of a district's node, e.g. node-e07000105."""
    return f"node-{d.code.lower()}"


def ig_officer_name(d: District) -> str:
    """Certificate name of a district's IG officer, e.g. ig-tunbridge-wells."""
    return "ig-" + "-".join(d.name.lower().split())


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing is listening on right now, never the same one twice in this process."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


@dataclass
class LocalCounty:
    """Files and processes of a county running on loopback."""

    root: Path
    node_ports: dict[str, int] = field(default_factory=dict)
    coordinator_port: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def coordinator_address(self) -> str:
        return f"127.0.0.1:{self.coordinator_port}"

    def node_address(self, code: str) -> str:
        return f"127.0.0.1:{self.node_ports[code]}"

    def tls(self, identity: str) -> TlsFiles:
        return TlsFiles.for_identity(self.pki_dir, identity)

    def prepare_pki(self) -> None:
        """County CA and certificates: a node and an IG officer per district, the coordinator, an analyst and the
        county IG officer."""
        init_ca(self.pki_dir)
        issue(self.pki_dir, COORDINATOR, Role.COORDINATOR, hosts=("localhost", "127.0.0.1", COORDINATOR))
        issue(self.pki_dir, ANALYST, Role.ANALYST)
        issue(self.pki_dir, COUNTY_IG_OFFICER, Role.COUNTY_IG_OFFICER)
        for d in districts():
            issue(
                self.pki_dir, node_name(d), Role.NODE, hosts=("localhost", "127.0.0.1", node_name(d)), district=d.code
            )
            issue(self.pki_dir, ig_officer_name(d), Role.IG_OFFICER, district=d.code)

    def write_configs(self, policy: Callable[[District], Policy], outbound: Collection[str] = ()) -> None:
        """Policy and configuration files for every node and the coordinator, on fresh loopback ports; the
        districts in `outbound` dial the coordinator instead of being dialled (outbound-only mode)."""
        self.coordinator_port = free_port()
        for d in districts():
            self.node_ports[d.code] = free_port()
            folder = self.root / "nodes" / d.code
            folder.mkdir(parents=True, exist_ok=True)
            save_policy(policy(d), folder / "policy.toml")
            write_node_config(
                NodeConfig(
                    district_code=d.code,
                    listen=self.node_address(d.code),
                    data_dir=self.data_dir / d.code,
                    state_db=folder / "state.sqlite",
                    policy=folder / "policy.toml",
                    audit_key=folder / "audit-ed25519.pem",
                    tls=self._tls_files(node_name(d)),
                    coordinator=self.coordinator_address if d.code in outbound else None,
                    coordinator_name=COORDINATOR,
                ),
                folder / "node.toml",
            )
        nodes = tuple(
            NodeEntry(d.code, self.node_address(d.code), node_name(d), OUTBOUND if d.code in outbound else DIAL)
            for d in districts()
        )
        write_coordinator_config(
            CoordinatorConfig(
                listen=self.coordinator_address,
                state_db=self.root / "coordinator.sqlite",
                deadline_seconds=20.0,
                nodes=nodes,
                tls=self._tls_files(COORDINATOR),
            ),
            self.root / "coordinator.toml",
        )

    def _tls_files(self, identity: str) -> TlsFiles:
        """A server's [tls] files in the county PKI, with the CRL it reads."""
        return TlsFiles(
            ca=self.pki_dir / "ca.crt",
            cert=self.pki_dir / f"{identity}.crt",
            key=self.pki_dir / f"{identity}.key",
            crl=self.pki_dir / "crl.pem",
        )

    def _spawn(self, name: str, args: list[str]) -> None:
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        out = (logs / f"{name}.log").open("w")
        env = {**os.environ, "GRPC_VERBOSITY": "ERROR", "PYTHONUNBUFFERED": "1"}
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )

    def start_nodes(self, codes: list[str] | None = None) -> None:
        """Start node processes (all districts by default)."""
        for code in codes or [d.code for d in districts()]:
            self._spawn(code, ["node", "serve", "--config", str(self.root / "nodes" / code / "node.toml")])

    def start_coordinator(self) -> None:
        self._spawn("coordinator", ["coordinator", "serve", "--config", str(self.root / "coordinator.toml")])

    def wait_all_connected(self, timeout: float = 30.0) -> None:
        """Wait until the coordinator reaches every registered node (outbound ones dial in after it starts)."""
        from protos.lsi.v1 import coordinator_pb2, coordinator_pb2_grpc

        creds = channel_credentials(self.tls(ANALYST))
        deadline = time.monotonic() + timeout
        with grpc.secure_channel(
            self.coordinator_address, creds, options=[("grpc.ssl_target_name_override", COORDINATOR)]
        ) as ch:
            stub = coordinator_pb2_grpc.CoordinatorStub(ch)
            while time.monotonic() < deadline:
                try:
                    nodes = stub.Nodes(coordinator_pb2.NodesRequest(), timeout=10.0).nodes
                    if all(n.serving for n in nodes):
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"not every node was reachable from the coordinator after {timeout:g} s")

    def wait_serving(self, name: str, address: str, server_name: str, timeout: float = 300.0) -> None:
        """Wait until a server's health check says SERVING; fail with its log if its process died.

        The timeout is generous: twelve nodes loading a year of snapshots on a busy 2-core machine take minutes."""
        creds = channel_credentials(self.tls(COORDINATOR if name != "coordinator" else ANALYST))
        deadline = time.monotonic() + timeout
        with grpc.secure_channel(address, creds, options=[("grpc.ssl_target_name_override", server_name)]) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < deadline:
                proc = self.processes.get(name)
                if proc is not None and proc.poll() is not None:
                    log = (self.root / "logs" / f"{name}.log").read_text()[-2000:]
                    raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{log}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"{name} at {address} was not serving after {timeout:g} s")

    def stop(self, name: str | None = None, kill: bool = False) -> None:
        """Stop one process or all of them: SIGTERM for a graceful drain, SIGKILL when asked."""
        names = [name] if name else list(self.processes)
        for n in names:
            proc = self.processes[n]
            if proc.poll() is None:
                proc.kill() if kill else proc.terminate()
        for n in names:
            try:
                self.processes[n].wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.processes[n].kill()
                self.processes[n].wait()
            del self.processes[n]
