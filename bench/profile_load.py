"""Where a county query's CPU goes under load: bench.load's county with every process under yappi.

`python -m bench.profile_load` (needs `pip install yappi`; not a project dependency). Each node and the
coordinator runs under yappi's CPU clock (every thread); the process's own CPU is read from /proc before and
after one burst, so time spent outside Python (gRPC's core, TLS, SQLite's fsync wait is not CPU) shows as the
difference. Prints each process's top functions and writes bench/results/profile_load.md."""

from __future__ import annotations

import os
import pstats
import sys
import tempfile
from io import StringIO
from pathlib import Path

from bench.common import write_results
from bench.load import ANALYSTS, HEALTHY, burst, cpu_seconds, start_and_warm
from cli.local_county import LocalCounty
from node.synth import write_county
from reference.geography import districts
from security.pki import Role, issue
from tests.county import policy_with

CHILD = "child"


def child(out: str, args: list[str]) -> None:
    """Run `lsi args` under yappi; the stats are saved when the server exits (it leaves by os._exit)."""
    import runpy

    import yappi

    yappi.set_clock_type("cpu")
    yappi.start(builtins=True)
    real_exit = os._exit

    def exit_saving(code: int) -> None:
        yappi.stop()
        yappi.get_func_stats().save(out, type="pstat")
        real_exit(code)

    os._exit = exit_saving  # type: ignore[assignment]
    sys.argv = ["lsi", *args]
    runpy.run_module("cli.main", run_name="__main__")  # as `python -m cli.main` runs it (nothing imports the CLI root)


class ProfiledCounty(LocalCounty):
    """A LocalCounty whose processes run under the profiler, each writing <name>.pstat."""

    def stop(self, name: str | None = None, kill: bool = False) -> None:
        """SIGTERM every process and give it time to save its profile."""
        for proc in self.processes.values():
            proc.terminate()
        for proc in self.processes.values():
            proc.wait(timeout=300)
        self.processes.clear()

    def _spawn(self, name: str, args: list[str]) -> None:
        self.processes[name] = _popen(self.root, name, [CHILD, str(self.root / f"{name}.pstat"), *args])


def _popen(root: Path, name: str, args: list[str]):  # noqa: ANN202
    import subprocess

    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    env = {**os.environ, "GRPC_VERBOSITY": "ERROR", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "bench.profile_load", *args],
        stdout=(logs / f"{name}.log").open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )


def top(path: Path, n: int = 30) -> str:
    """A process's top functions by own time and by inclusive time."""
    out = StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(n)
    stats.sort_stats("cumulative").print_stats(n)
    return out.getvalue()


def main(n: int = 200, scale: float = 0.05, deadline: float = 45.0) -> None:
    codes = [d.code for d in districts()]
    tmp = tempfile.mkdtemp(prefix="lsi-profile-")  # kept: the logs and .pstat files are the point
    if True:
        county = ProfiledCounty(Path(tmp))
        write_county(county.data_dir, seed=7, scale=scale, months=1, end_month="2025-10")
        county.prepare_pki()
        for name in ANALYSTS[1:]:
            issue(county.pki_dir, name, Role.ANALYST)
        county.write_configs(policy_with(total_rho=1000.0, per_query_rho=50.0), outbound=codes[1::2])
        try:
            start_and_warm(county, deadline)
            before = {name: cpu_seconds(p.pid) for name, p in county.processes.items()}
            figures = burst(county, n, deadline, None, first=HEALTHY)
            cpu = {name: cpu_seconds(p.pid) - before[name] for name, p in county.processes.items()}
        finally:
            county.stop()
        nodes = sum(v for k, v in cpu.items() if k != "coordinator")
        print(tmp, figures, cpu)  # noqa: T201
        lines = [
            f"# Profile of {n} concurrent county queries (`python -m bench.profile_load`, yappi CPU clock)",
            "",
            f"wall {figures['wall']:.2f} s, p50 {figures['p50']:.2f} s, p99 {figures['p99']:.2f} s, "
            f"{figures['throughput']:.1f} queries/s, errors {int(figures['errors'])}",
            f"CPU during the burst: coordinator {cpu['coordinator']:.2f} s ({cpu['coordinator'] / n * 1e3:.1f} ms "
            f"per county query); 12 nodes {nodes:.2f} s ({nodes / n / 12 * 1e3:.1f} ms per node answer)",
            "",
        ]
        for name in ("coordinator", codes[0], codes[1]):
            lines += [f"## {name}", "", "```", top(Path(tmp) / f"{name}.pstat"), "```", ""]
    text = "\n".join(lines)
    write_results("profile_load.md", text)
    print(text)  # noqa: T201


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == CHILD:
        child(sys.argv[2], sys.argv[3:])
    else:
        main()
