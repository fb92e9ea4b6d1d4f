"""A node's query pipeline: validate, replay or charge, aggregate exactly, release through OpenDP, store."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pandas as pd
from opendp.mod import OpenDPException

from common.limits import HISTORY_DAYS, MAX_HISTORY_ROWS
from node.campaigns import CAMPAIGN_COLUMNS, CampaignStore
from node.canonical import PlannedNoise, canonical_question
from node.executor import CellKey, ExactAggregate, Executor, PandasExecutor
from node.loader import Snapshot, district_snapshots, unmatched_files
from node.months import PreparedMonths, WorkingFormat, check_snapshot_size, prepare_months
from node.query import EXACT_LIMIT, QueryError, ValidatedQuery, campaign_of, validate
from node.schema import Column, queryable_columns
from node.versions import SnapshotVersions
from privacy.accountant import Charge, Plan, plan_mean, plan_release, rho_to_epsilon
from privacy.accuracy import half_width, noise_variance, sum_half_width
from privacy.draw import charge_of, make_draw, run
from privacy.integrity import check_ledger, open_signer
from privacy.ledger import BudgetSummary, Drawn, PolicyConflict, PrivacyStore, ReleaseRequest, StoredRelease
from privacy.policy import Policy, PolicyError, load_policy, parse_policy, save_policy
from privacy.receipt import sign_receipt
from privacy.sensitivity import Sensitivity, sensitivity
from protos.lsi.v1 import query_pb2
from protos.serde import DaySpend, spend_history_to_wire
from reference.geography import district, wards

log = logging.getLogger(__name__)
ALPHA = 0.05
# Noise is drawn in 64 bits (OpenDP saturates rather than wraps). With exact cells inside +-EXACT_LIMIT, noise
# of at most this scale reaches the int64 limit with probability below e^-64 (Laplace; Gaussian less), and a
# release that noisy would be worthless anyway.
MAX_NOISE_SCALE = EXACT_LIMIT / 64


@dataclass(frozen=True)
class Spread:
    """A plan's noise as the answer states it, computed before the ledger's lock (it depends only on the scale)."""

    plan: Plan
    half_width: int  # of the (1 - ALPHA) interval
    half_width_mean_part: int  # of the (1 - ALPHA/2) interval, for each part of a mean's union bound
    variance: float


def spread(plan: Plan, measure: str) -> Spread:
    """Interval half-widths and variance of a plan: OpenDP's accuracy, in bounded time (privacy.accuracy)."""
    part = half_width(plan.mechanism, plan.scale, ALPHA / 2) if measure == "mean" else 0
    return Spread(plan, half_width(plan.mechanism, plan.scale, ALPHA), part, noise_variance(plan.mechanism, plan.scale))


def summed_spread(one: Spread, terms: int, measure: str) -> Spread:
    """The spread of a total derived by summing `terms` independently noised cells of spread `one`."""
    if terms == 0:
        return one  # no groups: the district total is itself released, not derived
    plan = one.plan
    part = sum_half_width(plan.mechanism, plan.scale, terms, ALPHA / 2) if measure == "mean" else 0
    return Spread(plan, sum_half_width(plan.mechanism, plan.scale, terms, ALPHA), part, terms * one.variance)


@dataclass(frozen=True)
class Caller:
    """Who asked, as the certificate says: the coordinator forwards the analyst's name."""

    name: str
    role: str


@dataclass(frozen=True)
class Source:
    """What a query runs over: frames by month, their columns, and the data's identity for ledger and wire.

    `keys` identify the data inside the node (file digests; a campaign's revision) and go into the ledger's
    fingerprint; `versions` are opaque labels the node issued ("2025-10.v1"), the only identity a Release
    carries."""

    frames: Mapping[str, pd.DataFrame]
    columns: Mapping[str, Column]
    keys: Mapping[str, str]
    versions: Mapping[str, str]
    executor: Executor


class NodeEngine:
    """Everything a node does with its data, independent of gRPC."""

    def __init__(
        self,
        district_code: str,
        snapshots: Mapping[str, Snapshot] | PreparedMonths,
        store: PrivacyStore,
        *,
        engine: str = "pandas",
        months_in_memory: int | None = None,
    ) -> None:
        check_engine(engine)
        self.district = district(district_code)
        prepared = (
            snapshots
            if isinstance(snapshots, PreparedMonths)
            else prepare_months(
                snapshots,
                working_dir=working_dir(store.path, district_code, engine, months_in_memory),
                capacity=months_in_memory,
                fmt=working_format(engine),
            )
        )
        # Each month is held once, derived and compact (or read from its working copy when asked); the raw frame
        # is not kept, only its digest and findings.
        self.frames: Mapping[str, pd.DataFrame] = prepared.frames
        self.snapshots = prepared.snapshots
        self.digests = {m: s.digest for m, s in self.snapshots.items()}
        self.snapshot_versions = SnapshotVersions(store.path)
        self.versions = {m: self.snapshot_versions.version(m, d) for m, d in self.digests.items()}
        self.columns: dict[str, Column] = queryable_columns()
        self.wards = [w.code for w in wards(district_code)]
        self.store = store
        # Read at every campaign query, so outcomes recorded while the node serves count without a restart.
        self.campaigns = CampaignStore(store.path, district_code)
        self.policy_path: Path | None = None  # kept in step with the ledger's policy when set
        # Files the naming rule skipped at start-up, each with a hint: for this district's IG officer only.
        self.skipped_files: tuple[str, ...] = ()
        self.executor: Executor = PandasExecutor(self.frames)
        if engine == "duckdb":
            from node.duckdb_executor import DuckDBExecutor

            # DuckDB reads the Parquet working copies out of core; self.frames reads them only when asked.
            self.executor = DuckDBExecutor(prepared.paths, pennies=prepared.pennies)

    def receipt(self, known_seq: int = 0) -> query_pb2.Receipt:
        """A signed statement of this node's ledger head, cumulative spend and its entry at `known_seq`."""
        return sign_receipt(self.district.code, self.store.head(known_seq), self.store.signer)

    @classmethod
    def open(
        cls,
        district_code: str,
        data_dir: Path,
        state_db: Path,
        policy_path: Path,
        audit_key: Path,
        *,
        strict: bool = True,
        engine: str = "pandas",
        months_in_memory: int | None = None,
    ) -> NodeEngine:
        """Load and validate every snapshot, open the durable store; fail before serving if anything is wrong."""
        check_engine(engine)
        policy = load_policy(policy_path)
        if policy.district_code != district_code:
            raise ValueError(
                f"{policy_path}: policy is for district {policy.district_code}, this node serves {district_code}"
            )
        # Each file is loaded, derived and (for a national-size node) written out in turn, before the store opens.
        prepared = prepare_months(
            district_snapshots(data_dir, district_code, strict=strict),
            working_dir=working_dir(state_db, district_code, engine, months_in_memory),
            capacity=months_in_memory,
            fmt=working_format(engine),
        )
        store = open_store(state_db, policy_path, policy, audit_key)
        node = cls(district_code, prepared, store, engine=engine)
        node.policy_path = policy_path
        node.skipped_files = tuple(unmatched_files(data_dir))
        return node

    @property
    def policy(self) -> Policy:
        """The policy in force, read from the store so a change made by another process binds this one."""
        return self.store.policy

    @property
    def quarantined_by_month(self) -> dict[str, int]:
        """Rows set aside at load per month (exact counts about households: this district's IG officer only)."""
        return {m: s.quarantined_rows for m, s in self.snapshots.items()}

    @property
    def months(self) -> list[str]:
        """The snapshot months this node holds, oldest first."""
        return list(self.snapshots)

    def answer(self, query: query_pb2.Query, caller: Caller) -> query_pb2.Release:
        """Answer one query: from the release store if already released, else charge then release."""
        source = self._source(query.dataset)
        vq = validate(query, columns=source.columns, months=list(source.keys))
        # Exact aggregation takes milliseconds; doing it before the store decides whether this is a replay keeps
        # one path, and lets the store audit replays as well as releases.
        exact = source.executor.aggregate(vq, source.columns, self.wards)
        try:
            plans = self._plan(vq, exact)
        except QueryError:
            raise
        except (ValueError, ArithmeticError, OpenDPException) as exc:
            # Planning sees only the query's loss, bounds and cell layout, never data, so its reason may leave.
            raise QueryError("privacy", f"no release can be planned for this loss: {exc}") from exc
        check_noise(plans)
        spreads = [spread(p, vq.measure) for p in plans]
        data_key = ",".join(source.keys[m] for m in vq.months)
        version = ",".join(source.versions[m] for m in vq.months)
        question = canonical_question(vq, source.columns, [PlannedNoise(str(p.mechanism), p.scale) for p in plans])
        request = ReleaseRequest(
            query_id=vq.query_id,
            fingerprint=hashlib.sha256(f"{question}|{data_key}".encode()).hexdigest(),
            snapshot_digest=data_key,
            analyst=query.analyst or caller.name,
            role=caller.role,
            purpose=vq.purpose,
            canonical_query=vq.canonical(),
            draws=tuple(
                make_draw(p.mechanism, p.scale, p.sensitivity, values)
                for p, values in zip(plans, _vectors(vq, exact), strict=True)
            ),
            months=tuple(vq.months),
        )
        stored = self.store.charge_and_release(request, lambda drawn: self._render(vq, exact, spreads, drawn, version))
        return self._reply(stored)

    def _source(self, dataset: str) -> Source:
        """The household snapshots, or one campaign's targeted households (one row each) as they stand now."""
        # The household snapshots need no read of the campaigns table (one transaction fewer on every answer).
        name = campaign_of(dataset, self.campaigns.names()) if dataset else None
        if name is None:
            return Source(self.frames, self.columns, self.digests, self.versions, self.executor)
        state = self.campaigns.state(name)
        month = state.campaign.month
        check_snapshot_size(month, len(state.frame))  # targets come from one snapshot; checked all the same
        source = state.campaign.source_digest
        # The targets' snapshot version; the revision stays inside (it is how often staff recorded outcomes).
        version = self.snapshot_versions.version(month, source) if source else month
        frames = {month: state.frame}
        return Source(frames, CAMPAIGN_COLUMNS, {month: state.replay_key}, {month: version}, PandasExecutor(frames))

    def set_policy(self, policy_toml: str, changed_by: str) -> query_pb2.BudgetStatus:
        """Replace the node's policy (the change is audited by the store)."""
        policy = parse_policy(policy_toml)
        if policy.district_code != self.district.code:
            raise PolicyError(
                f"district_code: policy is for {policy.district_code}, this node serves {self.district.code}"
            )
        self.store.set_policy(policy, changed_by=changed_by)
        if self.policy_path is not None:
            # The ledger is the source of truth; the file follows it so the next start agrees with it.
            save_policy(policy, self.policy_path)
        return self.budget()

    def budget(self, *, detail: bool = True) -> query_pb2.BudgetStatus:
        """The node's budget as the ledger has it now; `detail` adds spending by analyst and by purpose, and
        the daily history of both (the last HISTORY_DAYS days, at most MAX_HISTORY_ROWS rows)."""
        summary = self.store.spent(detail=detail)  # read with the policy in force, in one transaction
        status = budget_message(summary, self.district.code, self.district.name, summary.per_query_rho, detail=detail)
        if detail:
            since = (datetime.now(UTC).date() - timedelta(days=HISTORY_DAYS)).isoformat()
            rows = [DaySpend(*row) for row in self.store.history(since, MAX_HISTORY_ROWS)]
            status.history.extend(spend_history_to_wire(rows))
        return status

    def totals(self) -> query_pb2.BudgetStatus:
        """The budget totals every answer carries: rho only (see BudgetStatus.rho_only), no breakdown."""
        summary = self.store.spent(detail=False)  # read with the policy in force, in one transaction
        return budget_message(
            summary, self.district.code, self.district.name, summary.per_query_rho, detail=False, epsilon=False
        )

    def _plan(self, vq: ValidatedQuery, exact: ExactAggregate) -> list[Plan]:
        mechanism = vq.loss.mechanism
        k, cells = len(vq.months), exact.cells_per_contribution

        # Each month has its own cells (the executor keys every cell by month), which the L2 bound relies on.
        def sens(measure: Literal["count", "sum"], lower: int = 0, upper: int = 0) -> Sensitivity:
            return sensitivity(
                measure, lower, upper, contributions=k, cells_per_contribution=cells, months_in_separate_cells=True
            )

        count_sens = sens("count")
        if vq.measure == "mean":
            if vq.loss.accuracy is not None:
                raise QueryError("privacy.target_accuracy", "not available for MEAN; ask for epsilon or rho")
            sum_sens = sens("sum", vq.lower, vq.upper)
            return list(
                plan_mean(
                    mechanism, sum_sens, count_sens, epsilon=vq.loss.epsilon, rho=vq.loss.rho, delta=self.policy.delta
                )
            )
        chosen = count_sens if vq.measure == "count" else sens("sum", vq.lower, vq.upper)
        return [
            plan_release(
                mechanism,
                chosen,
                epsilon=vq.loss.epsilon,
                rho=vq.loss.rho,
                accuracy=vq.loss.accuracy,
                alpha=ALPHA,
                delta=self.policy.delta,
            )
        ]

    def _render(
        self, vq: ValidatedQuery, exact: ExactAggregate, spreads: list[Spread], drawn: Drawn, version: str = ""
    ) -> bytes:
        """Runs inside the ledger's transaction, after the charge: formats the noisy vectors, nothing slow."""
        min_cell = drawn.policy.min_published_cell
        terms = group_cells_per_month(exact)
        full = [with_totals(exact, noisy) for noisy in drawn.noisy]
        if vq.measure == "mean":
            sum_spread, count_spread = spreads
            sum_total, count_total = (
                summed_spread(sum_spread, terms, "mean"),
                summed_spread(count_spread, terms, "mean"),
            )
            sums, counts = full
            cells = [
                _mean_cell(key, s, c, sum_total, count_total, vq, self.district.code, min_cell)
                if _derived(key, terms)
                else _mean_cell(key, s, c, sum_spread, count_spread, vq, self.district.code, min_cell)
                for key, s, c in zip(exact.keys, sums, counts, strict=True)
            ]
        else:
            (one,) = spreads
            total = summed_spread(one, terms, vq.measure)
            (noisy,) = full
            threshold = min_cell if vq.measure == "count" else None
            cells = [
                _cell(key, v, total if _derived(key, terms) else one, self.district.code, threshold)
                for key, v in zip(exact.keys, noisy, strict=True)
            ]
        for cell, key in zip(cells, exact.keys, strict=True):
            # Summed from the released group cells at the node: already consistent, its variance the sum of theirs.
            cell.post_processed = _derived(key, terms)
        message = query_pb2.Release(
            query_id=vq.query_id,
            district_code=self.district.code,
            district_name=self.district.name,
            cells=cells,
            charge=charge_message(drawn.charge),
            released_at=datetime.now(UTC).isoformat(timespec="seconds"),
            snapshot_version=version,
        )
        return message.SerializeToString()

    def _draw_unledgered(self, vq: ValidatedQuery, exact: ExactAggregate, plans: list[Plan]) -> bytes:
        """The release path without the ledger, for benchmarks and tests of noise only: never sent anywhere."""
        draws = [
            make_draw(p.mechanism, p.scale, p.sensitivity, v) for p, v in zip(plans, _vectors(vq, exact), strict=True)
        ]
        drawn = Drawn(run(draws), charge_of(draws, self.policy.delta), self.policy)
        return self._render(vq, exact, [spread(p, vq.measure) for p in plans], drawn)

    def _reply(self, stored: StoredRelease) -> query_pb2.Release:
        message = query_pb2.Release.FromString(stored.payload)
        if stored.replayed:
            message.replayed = True
            message.charge.CopyFrom(
                query_pb2.Charge(rho=0.0, epsilon=0.0, delta=message.charge.delta, mechanism=message.charge.mechanism)
            )
        # Totals only: the breakdown names every analyst and purpose, grows with the ledger, and is for IG
        # officers (the Budget call), not for every analyst's every answer.
        message.budget.CopyFrom(self.totals())
        return message


def check_engine(engine: str) -> None:
    """Refuse an aggregation engine the node does not have."""
    if engine not in ("pandas", "duckdb"):
        raise ValueError(f"unknown aggregation engine {engine!r}: expected 'pandas' or 'duckdb'")


def working_dir(state_db: Path, district_code: str, engine: str, months_in_memory: int | None) -> Path | None:
    """Where a node's working copies go (beside its ledger), or None when it holds every month."""
    if engine == "pandas" and months_in_memory is None:
        return None
    return Path(state_db).parent / f"{district_code}-parquet"


def working_format(engine: str) -> WorkingFormat:
    """Parquet for DuckDB to scan; else Arrow IPC, which reads back in the frame's compact types."""
    return "parquet" if engine == "duckdb" else "arrow"


def open_store(state_db: Path, policy_path: Path, policy: Policy, audit_key: Path) -> PrivacyStore:
    """The node's ledger, after checking it against its audit chain and its policy against the file's."""
    signer = open_signer(audit_key, state_db)
    if state_db.exists():
        check_ledger(state_db, signer)
    try:
        return PrivacyStore(state_db, policy, signer)
    except PolicyConflict as exc:
        raise ValueError(policy_conflict_message(exc, policy_path)) from None


def policy_conflict_message(exc: PolicyConflict, policy_path: Path) -> str:
    """Which of the policy file and the ledger is newer, and how to reconcile them."""
    modified = datetime.fromtimestamp(policy_path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    newer = "the policy file" if modified > exc.changed_at else "the ledger"
    return (
        f"{policy_path} (modified {modified}) differs from the policy in force in the ledger (set {exc.changed_at} "
        f"by {exc.changed_by}); {newer} is newer. Differences (ledger -> file): {'; '.join(exc.changes)}. "
        "The ledger is the one source of truth. To keep the ledger's policy, run `lsi node policy-sync --config "
        "NODE.toml --keep ledger`; to put the file's policy in force (audited, never below what is spent), an IG "
        "officer runs `lsi node policy-sync --config NODE.toml --keep file --pki DIR --identity NAME`."
    )


def check_noise(plans: list[Plan]) -> None:
    """Refuse a loss so small that its noise could leave 64-bit arithmetic; the reason names no data."""
    for plan in plans:
        if plan.scale > MAX_NOISE_SCALE:
            raise QueryError(
                "privacy",
                f"the loss asked for is so small that its noise (scale {plan.scale:.3g}) "
                f"is above the node's limit of {MAX_NOISE_SCALE:.3g}; ask for a larger loss",
            )


def _vectors(vq: ValidatedQuery, exact: ExactAggregate) -> list[list[int]]:
    """The exact vectors a query noises, in plan order: (sums, counts) for a mean, else the one measured.

    With groups, only the group cells are noised: each district total is derived from them afterwards, so a
    household moves one noised cell a month (the sensitivity's cells_per_contribution = 1)."""
    terms = group_cells_per_month(exact)
    released = [i for i, key in enumerate(exact.keys) if not _derived(key, terms)]
    if vq.measure == "mean":
        assert exact.sums is not None
        return [[exact.sums[i] for i in released], [exact.counts[i] for i in released]]
    values = exact.counts if vq.measure == "count" else exact.sums
    assert values is not None
    return [[values[i] for i in released]]


def group_cells_per_month(exact: ExactAggregate) -> int:
    """How many group cells each month has (0 for a query without groups)."""
    months = {key.month for key in exact.keys}
    return sum(key.level == "group" for key in exact.keys) // max(len(months), 1)


def _derived(key: CellKey, terms: int) -> bool:
    return key.level == "district" and terms > 0


def with_totals(exact: ExactAggregate, noisy: Sequence[int]) -> list[int]:
    """Noisy released cells laid out like `exact`, each month's district total the sum of its noisy groups."""
    terms = group_cells_per_month(exact)
    if terms == 0:
        return list(noisy)
    out: list[int] = []
    values = iter(noisy)
    for key in exact.keys:
        out.append(sum(out[-terms:]) if key.level == "district" else next(values))
    return out


def _keys(key: CellKey) -> list[query_pb2.GroupKey]:
    return [query_pb2.GroupKey(column="month", value=key.month)] + [
        query_pb2.GroupKey(column=c, value=v) for c, v in key.groups
    ]


def _level(key: CellKey) -> query_pb2.Cell.Level:
    return query_pb2.Cell.GROUP if key.level == "group" else query_pb2.Cell.DISTRICT


def _cell(key: CellKey, value: int, sp: Spread, district_code: str, min_cell: int | None) -> query_pb2.Cell:
    # A policy minimum of 0 means no suppression: negative noisy counts are honest estimates, not disclosures.
    if min_cell and value < min_cell:
        return query_pb2.Cell(
            level=_level(key), district_code=district_code, keys=_keys(key), noise_scale=sp.plan.scale, suppressed=True
        )
    return query_pb2.Cell(
        level=_level(key),
        district_code=district_code,
        keys=_keys(key),
        value=float(value),
        ci_low=float(value - sp.half_width),
        ci_high=float(value + sp.half_width),
        noise_scale=sp.plan.scale,
        variance=sp.variance,
    )


def _mean_cell(
    key: CellKey,
    noisy_sum: int,
    noisy_count: int,
    sum_sp: Spread,
    count_sp: Spread,
    vq: ValidatedQuery,
    district_code: str,
    min_cell: int,
) -> query_pb2.Cell:
    sum_var, count_var = sum_sp.variance, count_sp.variance
    parts = query_pb2.MeanParts(sum=noisy_sum, sum_variance=sum_var, count=noisy_count, count_variance=count_var)
    if noisy_count < max(min_cell, 1):
        return query_pb2.Cell(
            level=_level(key),
            district_code=district_code,
            keys=_keys(key),
            noise_scale=sum_sp.plan.scale,
            suppressed=True,
        )
    low, high = mean_interval(
        noisy_sum, noisy_count, sum_sp.half_width_mean_part, count_sp.half_width_mean_part, vq.lower, vq.upper
    )
    mean = min(max(noisy_sum / noisy_count, vq.lower), vq.upper)
    variance = (sum_var + mean**2 * count_var) / noisy_count**2
    return query_pb2.Cell(
        level=_level(key),
        district_code=district_code,
        keys=_keys(key),
        value=mean,
        ci_low=low,
        ci_high=high,
        noise_scale=sum_sp.plan.scale,
        variance=variance,
        mean_parts=parts,
    )


def mean_interval(
    noisy_sum: float, noisy_count: float, sum_half_width: int, count_half_width: int, lower: float, upper: float
) -> tuple[float, float]:
    """A 95% interval for sum/count from each part's 97.5% half-width, then the extremes (a union bound)."""
    s_lo, s_hi = noisy_sum - sum_half_width, noisy_sum + sum_half_width
    c_lo, c_hi = noisy_count - count_half_width, noisy_count + count_half_width
    if c_lo <= 0:
        return float(lower), float(upper)
    corners = [s / c for s in (s_lo, s_hi) for c in (c_lo, c_hi)]
    return max(min(corners), lower), min(max(corners), upper)


def charge_message(charge: Charge) -> query_pb2.Charge:
    """The ledger's charge as the wire message."""
    return query_pb2.Charge(rho=charge.rho, epsilon=charge.epsilon, delta=charge.delta, mechanism=str(charge.mechanism))


def budget_message(
    summary: BudgetSummary, code: str, name: str, per_query_rho: float, *, detail: bool = True, epsilon: bool = True
) -> query_pb2.BudgetStatus:
    """The ledger's summary as the wire message, with the per-analyst and per-purpose breakdown if `detail` and
    the epsilon figures if `epsilon` (else marked rho_only for the reader to convert)."""

    def spends(rho: Mapping[str, float], queries: Mapping[str, int]) -> list[query_pb2.Spend]:
        return [
            query_pb2.Spend(
                key=k, rho=v, epsilon=rho_to_epsilon(v, summary.delta) if v > 0 else 0.0, queries=queries.get(k, 0)
            )
            for k, v in rho.items()
        ]

    status = query_pb2.BudgetStatus(
        district_code=code,
        district_name=name,
        period_start=summary.period_start,
        period_end=summary.period_end,
        total_rho=summary.total_rho,
        spent_rho=summary.spent_rho,
        remaining_rho=summary.remaining_rho,
        per_query_rho=per_query_rho,
        delta=summary.delta,
        by_analyst=spends(summary.by_analyst, summary.queries_by_analyst) if detail else [],
        by_purpose=spends(summary.by_purpose, summary.queries_by_purpose) if detail else [],
        releases=summary.releases,
        replays=summary.replays,
        refusals=summary.refusals,
        rho_only=not epsilon,
    )
    if epsilon:
        status.total_epsilon = summary.total_epsilon
        status.spent_epsilon = summary.spent_epsilon
        status.remaining_epsilon = summary.remaining_epsilon
    return status
