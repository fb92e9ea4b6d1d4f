"""Specifications for a county that never waits on one district: deadlines, separate pools, admission, load."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from cli.local_county import COORDINATOR, COUNTY_IG_OFFICER, node_name
from coordinator.admission import RETRY_AFTER_KEY, Admission, Refused
from coordinator.config import AnalystLimits, NodeEntry
from coordinator.fanout import DialledLink, NodePool
from coordinator.link import LinkError
from node.config import load_node_config
from node.outbound import OutboundLink
from node.server import build_server as build_node
from privacy.audit import verify_chain
from protos.lsi.v1 import coordinator_pb2, node_pb2_grpc, query_pb2
from reference.geography import districts
from security.pki import Role, issue
from security.serving import start_server
from tests.county import MODES, RunningCounty, running_county

CODES = ["E07000105", "E07000106", "E07000107", "E07000108"]
HUNG = CODES[-1]
ANALYSTS = ["analyst-alice", "analyst-bob", "analyst-carol"]


class HungNode(node_pb2_grpc.NodeServicer):
    """A node that accepts every call and never answers (until released at the end of the test)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def _hang(self, request: object, context: grpc.ServicerContext) -> None:
        self.release.wait(120)
        context.abort(grpc.StatusCode.UNAVAILABLE, "released")

    Describe = Query = Budget = _hang


def district(code: str):  # noqa: ANN201
    return next(d for d in districts() if d.code == code)


def hang(county: RunningCounty, code: str, release: threading.Event) -> object:
    """Replace a district's node with one that never answers, reached the same way (dialled or outbound)."""
    tls = county.local.tls(node_name(district(code)))
    if code in county.links:
        link = county.pool.links[code]  # type: ignore[attr-defined]
        healthy = link.session
        county.links.pop(code).stop()
        stuck = OutboundLink(HungNode(release), county.local.coordinator_address, COORDINATOR, tls).start()
        # The coordinator may not have noticed the healthy stream end yet: wait for the stuck node's own stream.
        while link.session is None or link.session is healthy or link.vet() is not None:
            release.wait(0.02)
        return stuck
    county.stop_node(code)
    server, _, _ = start_server(
        lambda s: node_pb2_grpc.add_NodeServicer_to_server(HungNode(release), s),
        listen=county.local.node_address(code),
        tls=tls,
        service_name="lsi.v1.Node",
    )
    return server


@pytest.fixture(params=MODES)
def hung_county(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningCounty]:
    """Four districts (half dialling out), the last of which hangs: dialled, or outbound, by the parameter."""
    mode = "outbound" if request.param == "outbound" else "dial"
    release = threading.Event()
    with running_county(tmp_path, codes=CODES, months=1, mode=mode) as county:
        for name in ANALYSTS[1:]:
            issue(county.local.pki_dir, name, Role.ANALYST)
        stuck = hang(county, HUNG, release)
        try:
            yield county
        finally:
            release.set()
            stuck.stop(None) if isinstance(stuck, grpc.Server) else stuck.stop()  # type: ignore[attr-defined]


def count(i: int) -> query_pb2.Query:
    return query_pb2.Query(
        query_id=str(uuid.uuid4()),
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        months=["2025-10"],
        privacy=query_pb2.PrivacyRequest(epsilon=1.0 + i * 1e-6),
        purpose="load",
        group_by=["tenure"],
    )


# Generous, so healthy districts answer in time even on a loaded machine; the hung one never does.
DEADLINE = 8.0


def submit(
    county: RunningCounty, analyst: str, query: query_pb2.Query, deadline: float = DEADLINE, timeout: float = 60
) -> coordinator_pb2.FederatedResult:
    return county.coordinator_stub(analyst).Submit(
        coordinator_pb2.FederatedQuery(query=query, deadline_seconds=deadline), timeout=timeout
    )


def test_concurrent_queries_from_several_analysts_lose_only_the_hung_district(hung_county: RunningCounty) -> None:
    county = hung_county
    before = {c: e.budget().spent_rho for c, e in county.engines.items() if c != HUNG}
    jobs = [(ANALYSTS[i % len(ANALYSTS)], count(i)) for i in range(18)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda job: submit(county, *job), jobs))
    charged = dict.fromkeys(before, 0.0)
    for result in results:
        for outcome in result.districts:
            if outcome.district_code == HUNG:
                assert not outcome.answered and outcome.error_code == "DEADLINE_EXCEEDED"
            else:
                assert outcome.answered, (outcome.district_code, outcome.error)
                charged[outcome.district_code] += outcome.charge.rho
    for code, engine in county.engines.items():
        if code == HUNG:
            continue
        assert engine.budget().spent_rho == pytest.approx(before[code] + charged[code], rel=1e-12)
        assert verify_chain(engine.store.path, engine.store.signer.public_key).ok


def test_status_answers_while_queries_wait_on_the_hung_district(hung_county: RunningCounty) -> None:
    county = hung_county
    with ThreadPoolExecutor(max_workers=16) as pool:
        waiting = [pool.submit(submit, county, ANALYSTS[i % 3], count(i), 12.0) for i in range(12)]
        # The status call's own deadline is far shorter than the queries' 12 s: it must not queue behind them.
        nodes = county.coordinator_stub(COUNTY_IG_OFFICER).Nodes(coordinator_pb2.NodesRequest(), timeout=8).nodes
        assert {n.district_code: n.serving for n in nodes} == {c: c != HUNG for c in CODES}
        for f in waiting:
            assert not f.result().complete


def test_the_analysts_own_deadline_is_passed_on_to_the_districts(hung_county: RunningCounty) -> None:
    # The coordinator's default per-node deadline is 20 s; the analyst's call allows 3 s: the answer comes in
    # time, naming the hung district, instead of the call failing at the analyst's end.
    result = submit(hung_county, ANALYSTS[0], count(99), deadline=0.0, timeout=3.0)
    missing = [d for d in result.districts if not d.answered]
    assert [d.district_code for d in missing] == [HUNG]


def test_a_returning_dialled_node_is_answered_again_at_once(tmp_path: Path) -> None:
    with running_county(tmp_path, codes=CODES[:2], months=1) as county:
        code = CODES[1]
        county.stop_node(code)
        assert not submit(county, ANALYSTS[0], count(1)).complete
        config = load_node_config(county.local.root / "nodes" / code / "node.toml")
        county.node_servers[code], _, _ = build_node(county.engines[code], config)
        assert submit(county, ANALYSTS[0], count(2), deadline=5.0).complete


def test_an_analyst_over_the_rate_is_refused_with_a_retry_after_and_others_are_not(tmp_path: Path) -> None:
    settings = {"analyst_rate_per_second": 0.01, "analyst_burst": 2}
    with running_county(tmp_path, codes=CODES[:1], months=1, coordinator_settings=settings) as county:
        issue(county.local.pki_dir, ANALYSTS[1], Role.ANALYST)
        for i in range(2):
            submit(county, ANALYSTS[0], count(i))
        with pytest.raises(grpc.RpcError) as err:
            submit(county, ANALYSTS[0], count(3))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "retry after" in err.value.details()
        assert float(dict(err.value.trailing_metadata())[RETRY_AFTER_KEY]) > 0
        assert submit(county, ANALYSTS[1], count(4)).complete


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_refills_with_time() -> None:
    clock = Clock()
    admission = Admission(AnalystLimits(rate_per_second=2.0, burst=1, concurrent=5), clock=clock)
    with admission.admit("a"):
        pass
    with pytest.raises(Refused) as refused, admission.admit("a"):
        pass
    assert refused.value.retry_after == pytest.approx(0.5)
    clock.now += 0.5
    with admission.admit("a"):
        pass


def test_queries_in_flight_are_capped_per_analyst() -> None:
    admission = Admission(AnalystLimits(rate_per_second=100.0, burst=100, concurrent=2))
    with admission.admit("a"), admission.admit("a"):
        with pytest.raises(Refused, match="already has 2"), admission.admit("a"):
            pass
        with admission.admit("b"):
            pass
    with admission.admit("a"):
        pass


class HungHandshake(DialledLink):
    """A dialled node whose certificate check hangs (a frozen process still accepts TCP connections)."""

    def __init__(self, entry: NodeEntry, release: threading.Event) -> None:
        self.entry, self.release, self.checks = entry, release, 0

    def vetted(self) -> bool:
        return False

    def vet(self) -> LinkError | None:
        self.checks += 1
        self.release.wait(10)
        return LinkError("UNAVAILABLE", "released")

    def close(self) -> None:
        pass


class Answers(DialledLink):
    """A healthy dialled node whose last check has lapsed: checked (at once) on every query, then answers."""

    def __init__(self, entry: NodeEntry) -> None:
        self.entry = entry

    def vetted(self) -> bool:
        return False

    def vet(self) -> LinkError | None:
        return None

    def start(self, method: str, request: object, timeout: float, metadata: object) -> Future:
        out: Future = Future()
        out.set_result(request)
        return out

    def close(self) -> None:
        pass


def test_a_district_whose_handshakes_hang_does_not_starve_the_other_districts_checks() -> None:
    entries = [NodeEntry(code, f"127.0.0.1:{9 + i}", f"node-{code}") for i, code in enumerate(CODES * 3)]
    codes = [f"{e.district_code}-{i}" for i, e in enumerate(entries)]
    entries = [NodeEntry(c, e.address, e.certificate_name) for c, e in zip(codes, entries, strict=True)]
    pool = NodePool(entries, tls=None)
    release = threading.Event()
    hung = HungHandshake(entries[0], release)
    pool.links = {codes[0]: hung, **{c: Answers(e) for c, e in zip(codes[1:], entries[1:], strict=True)}}
    try:
        # Far more concurrent county queries than the checking pool has threads (4 per node).
        with ThreadPoolExecutor(max_workers=200) as queries:
            replies = list(queries.map(lambda _: pool.call(codes, "Query", query_pb2.Query(), 3.0), range(200)))
    finally:
        release.set()
        pool.close()
    for reply in replies:
        assert [r.entry.district_code for r in reply if r.message is None] == [codes[0]]
    assert hung.checks <= 2  # one check under way at a time, shared by every query waiting on it
