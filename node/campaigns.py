"""Campaigns local to a district: target lists drawn from its own records, outcomes recorded by its own team.

A campaign's target list (household ids) lives only in the node's state database and in the CSV handed to the
district's team. The county sees a campaign only through DP releases over `campaign_frame`, which has one row
per targeted household and no identifiers. The tables share the ledger's SQLite file (WAL), so a district
officer can record outcomes while the node serves, and the node reads them afresh at every query.
"""

from __future__ import annotations

import csv
import math
import os
import re
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from node.schema import Column, did_you_mean
from privacy.audit import AuditSigner, append_entry, ensure_schema, utc_now
from privacy.migrations import Migration, migrate
from privacy.statedb import state_at
from reference.geography import ward_codes, wards

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
# Catches keying errors (a weekly figure typed as 52,000) without refusing any real annual gain.
MAX_GAIN_ANNUAL = 50_000.0
MAX_LISTED = 10
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS campaigns (
        name TEXT PRIMARY KEY,
        target TEXT NOT NULL,
        month TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        source_digest TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS campaign_targets (
        campaign TEXT NOT NULL REFERENCES campaigns (name),
        household_id TEXT NOT NULL,
        rank INTEGER NOT NULL,
        ward_code TEXT NOT NULL,
        expected_gain REAL,
        PRIMARY KEY (campaign, household_id)
    )""",
    # Append-only: the latest row per household is its state, earlier rows are the history.
    """CREATE TABLE IF NOT EXISTS campaign_outcomes (
        id INTEGER PRIMARY KEY,
        campaign TEXT NOT NULL,
        household_id TEXT NOT NULL,
        contacted INTEGER NOT NULL CHECK (contacted IN (0, 1)),
        claimed INTEGER NOT NULL CHECK (claimed IN (0, 1)),
        gained_annual REAL NOT NULL CHECK (gained_annual >= 0),
        recorded_at TEXT NOT NULL,
        recorded_by TEXT NOT NULL,
        FOREIGN KEY (campaign, household_id) REFERENCES campaign_targets (campaign, household_id)
    )""",
    "CREATE INDEX IF NOT EXISTS campaign_outcomes_latest ON campaign_outcomes (campaign, household_id, id)",
)
# Numbered; append only. Version 1 is the schema as it stood before versions were recorded (idempotent).
MIGRATIONS = (Migration(1, "campaigns, their targets and append-only outcomes", _SCHEMA),)


class CampaignError(ValueError):
    """A campaign request the node will not carry out; the message says what to change."""


@dataclass(frozen=True)
class RowProblem:
    """One problem in an outcomes file: 1-based data row number (the header is line 1), field and reason."""

    row_number: int
    field: str
    reason: str


class OutcomeFileError(CampaignError):
    """An outcomes CSV with problems; nothing from it was recorded."""

    def __init__(self, path: Path, problems: Sequence[RowProblem]) -> None:
        lines = [
            f"{path.name} row {p.row_number}, field {p.field}: {p.reason} (line {p.row_number + 1})"
            for p in problems[:MAX_LISTED]
        ]
        if len(problems) > MAX_LISTED:
            lines.append(f"... and {len(problems) - MAX_LISTED} more problem(s)")
        lines.append("Nothing from this file was recorded; correct it and import it again.")
        super().__init__("\n".join(lines))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Target:
    """A named way of choosing households from the derived snapshot, and of ordering them for the team."""

    name: str
    description: str
    flag: str  # derived true/false column marking the households to target
    sort_by: str  # largest first
    gain_column: str | None  # a per-household expected gain in £ a year, where the rules give one
    detail_columns: tuple[str, ...]  # schema columns that help the team make contact and check the case


_COMMON_DETAILS = ("claimant_age", "partner_age", "tenure")
TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "pc_unclaimed",
            "Pension-age households apparently entitled to Pension Credit but not claiming",
            "pc_unclaimed",
            "pc_unclaimed_annual",
            "pc_unclaimed_annual",
            (*_COMMON_DETAILS, "savings_band", "state_pension_weekly", "private_pension_weekly"),
        ),
        Target(
            "fsm_unclaimed",
            "UC households with school-age children not recorded as getting free school meals",
            "fsm_unclaimed",
            "fsm_unclaimed_children",
            None,
            (*_COMMON_DETAILS, "n_school_age_children", "earnings_weekly"),
        ),
        # No gain estimate: Council Tax Support schemes differ by district and are not modelled here.
        Target(
            "uc_without_cts",
            "Households on Universal Credit with no Council Tax Support award",
            "uc_without_cts",
            "ct_liability_annual",
            None,
            (*_COMMON_DETAILS, "council_tax_band", "ct_liability_annual"),
        ),
    )
}

# What a query over `campaign:NAME` may filter, group and measure: one row per targeted household.
CAMPAIGN_COLUMNS: dict[str, Column] = {
    c.name: c
    for c in (
        Column("ward_code", "category", "ONS code of the targeted household's ward (2025 boundaries)."),
        Column("contacted", "bool", "The district's team reached the household in this campaign."),
        Column("claimed", "bool", "The household has claimed the support the campaign is about."),
        Column(
            "gained_annual",
            "float",
            "Support gained by claiming; 0 until recorded.",
            minimum=0.0,
            maximum=MAX_GAIN_ANNUAL,
            unit="£ a year",
        ),
        Column(
            "expected_gain",
            "float",
            "Gain estimated when the household was targeted; empty where the target has no estimate.",
            nullable=True,
            unit="£ a year",
        ),
    )
}

OUTCOME_FIELDS = ("contacted", "claimed", "gained_annual")
_LIST_FIELDS = ("rank", "household_id", "ward_code", "ward_name", "postcode_sector", "expected_annual_gain")


@dataclass(frozen=True)
class Campaign:
    """A campaign as recorded at the node."""

    name: str
    target: str
    month: str
    created_at: str
    created_by: str
    households: int
    source_digest: str  # the snapshot file the targets were drawn from


@dataclass(frozen=True)
class Outcome:
    """A household's outcome state: the latest record wins."""

    contacted: bool = False
    claimed: bool = False
    gained_annual: float = 0.0


@dataclass(frozen=True)
class OutcomeUpdate:
    """A change to one household's outcome; None leaves that field as last recorded."""

    household_id: str
    contacted: bool | None = None
    claimed: bool | None = None
    gained_annual: float | None = None


@dataclass(frozen=True)
class CampaignState:
    """What a query over a campaign reads: the frame, and the revision of the outcomes it was made from.

    `revision` counts the outcome records staff have entered (each a new row, whether or not it changed a
    value), so it moves with staff actions and never with household values. Every change of state is a new
    record, so one revision is one state: replaying by revision never serves a stale answer."""

    campaign: Campaign
    frame: pd.DataFrame
    revision: int

    @property
    def replay_key(self) -> str:
        """The state's identity for the ledger: the campaign as created, and its revision."""
        return f"campaign {self.campaign.name} created {self.campaign.created_at} revision {self.revision}"


@dataclass(frozen=True)
class Progress:
    """Exact local tallies for the district's own team; never sent to the county."""

    campaign: Campaign
    contacted: int
    claimed: int
    gained_annual: float


# ---- pure functions -----------------------------------------------------------------------------------------


def validate_name(name: str) -> str:
    """A campaign name as the county uses it across districts, e.g. pension-credit-2025."""
    if not NAME.match(name or ""):
        raise CampaignError(
            f"campaign name {name!r}: use 1 to 64 lowercase letters, digits and hyphens, starting and ending "
            "with a letter or digit (the same name in every district, e.g. pension-credit-2025)"
        )
    return name


def target_spec(name: str) -> Target:
    """The named target; raises CampaignError listing the targets there are."""
    if name not in TARGETS:
        raise CampaignError(f"unknown target {name!r}; targets: {', '.join(TARGETS)}")
    return TARGETS[name]


def select_targets(derived: pd.DataFrame, target: Target, limit: int | None = None) -> pd.DataFrame:
    """Households the target picks out, largest first (ties by household id, so the list is reproducible)."""
    if limit is not None and limit < 1:
        raise CampaignError(f"--limit {limit}: give a positive number of households")
    chosen = derived[derived[target.flag].astype(bool)]
    ordered = chosen.assign(_key=-chosen[target.sort_by].astype("float64")).sort_values(
        ["_key", "household_id"], kind="mergesort"
    )
    return ordered.drop(columns="_key").head(limit).reset_index(drop=True)


def expected_gains(selected: pd.DataFrame, target: Target) -> pd.Series:
    """Expected annual gain per selected household in £ (NaN where the target has no estimate)."""
    if target.gain_column is None:
        return pd.Series(np.nan, index=selected.index, dtype="float64")
    return selected[target.gain_column].astype("float64").round(2)


def target_list(selected: pd.DataFrame, target: Target, district_code: str) -> pd.DataFrame:
    """The list the district's team works from; blank outcome columns to fill in and import back."""
    names = {w.code: w.name for w in wards(district_code)}
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(selected) + 1),
            "household_id": selected["household_id"].astype(str),
            "ward_code": selected["ward_code"].astype(str),
            "ward_name": selected["ward_code"].astype(str).map(names),
            "postcode_sector": selected["postcode_sector"].astype(str),
            "expected_annual_gain": expected_gains(selected, target),
        }
    )
    for col in target.detail_columns:
        out[col] = selected[col].to_numpy()
    for col in OUTCOME_FIELDS:
        out[col] = ""
    return out


def write_target_list(frame: pd.DataFrame, path: Path) -> None:
    """Write a target list as CSV readable only by its owner: it names households."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        frame.to_csv(f, index=False)


def parse_flag(text: str) -> bool | None:
    """true/false/yes/no/1/0 (any case); empty means 'unchanged'. Raises ValueError otherwise."""
    low = text.strip().lower()
    if not low:
        return None
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{text.strip()!r} is not true/false (use true, false, yes, no, 1 or 0)")


def parse_gain(text: str | float | None) -> float | None:
    """An annual amount in pounds ('1234.50', '£1,234.50'); empty means 'unchanged'. Raises ValueError."""
    if text is None:
        return None
    raw = str(text).strip()
    if not raw:
        return None
    try:
        value = float(re.sub(r"^£|,", "", raw))
    except ValueError:
        raise ValueError(f"{raw!r} is not an amount in pounds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{raw!r} must be £0 or more")
    if value > MAX_GAIN_ANNUAL:
        raise ValueError(f"£{value:,.2f} a year is above £{MAX_GAIN_ANNUAL:,.0f}; check it is an annual figure")
    return value


def parse_outcomes_csv(path: Path) -> tuple[list[tuple[int, OutcomeUpdate]], list[RowProblem]]:
    """(row number, update) for every data row with an outcome, and a problem for every bad row and field."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            rows = list(reader)
    except FileNotFoundError:
        raise CampaignError(f"{path}: file not found") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CampaignError(f"{path.name}: cannot be read as CSV ({exc})") from None
    _check_header(path, header)
    if not rows:
        raise CampaignError(f"{path.name}: the file has a header but no data rows")
    problems: list[RowProblem] = []
    updates: list[tuple[int, OutcomeUpdate]] = []
    for n, raw in enumerate(rows, start=1):
        row = {(k or "").strip(): (v or "") for k, v in raw.items()}
        found = len(problems)
        hid = row["household_id"].strip()
        if not hid:
            problems.append(RowProblem(n, "household_id", "value is empty but required"))
        parsed: dict[str, object] = {}
        for field in OUTCOME_FIELDS:
            try:
                parsed[field] = (parse_gain if field == "gained_annual" else parse_flag)(row.get(field, ""))
            except ValueError as exc:
                problems.append(RowProblem(n, field, str(exc)))
        # A row with every outcome cell empty (an untouched line of the target list) records nothing.
        if len(problems) == found and any(v is not None for v in parsed.values()):
            updates.append((n, OutcomeUpdate(hid, **parsed)))  # type: ignore[arg-type]
    return updates, problems


def _check_header(path: Path, header: Sequence[str]) -> None:
    # The target list's own columns may come back with the outcomes filled in; anything else is a typo.
    allowed = {"household_id", *OUTCOME_FIELDS, *_LIST_FIELDS}
    allowed |= {c for t in TARGETS.values() for c in t.detail_columns}
    parts = []
    if "household_id" not in header:
        parts.append("missing column household_id")
    if not set(OUTCOME_FIELDS) & set(header):
        parts.append(f"no outcome column: give at least one of {', '.join(OUTCOME_FIELDS)}")
    for h in header:
        if h not in allowed:
            parts.append(f"unknown column {h!r}{did_you_mean(h, OUTCOME_FIELDS)}")
    if parts:
        raise CampaignError(
            f"{path.name}: "
            + "; ".join(parts)
            + ". Columns: household_id, "
            + ", ".join(OUTCOME_FIELDS)
            + " (an empty cell leaves that field as it was)"
        )


def apply_update(previous: Outcome, update: OutcomeUpdate) -> Outcome:
    """The outcome after an update: fields the update leaves as None keep their previous value."""
    return Outcome(
        contacted=previous.contacted if update.contacted is None else update.contacted,
        claimed=previous.claimed if update.claimed is None else update.claimed,
        gained_annual=previous.gained_annual if update.gained_annual is None else update.gained_annual,
    )


def outcome_problem(outcome: Outcome) -> str | None:
    """Why an outcome state is inconsistent, or None."""
    if outcome.gained_annual > 0 and not outcome.claimed:
        return (
            f"a gain of £{outcome.gained_annual:,.2f} a year is recorded but claimed is false; "
            "set claimed to true, or the gain to 0"
        )
    return None


# ---- the store ----------------------------------------------------------------------------------------------


class CampaignStore:
    """A district's campaigns in the node's state database; safe to use while the node serves."""

    def __init__(self, path: Path, district_code: str, signer: AuditSigner | None = None) -> None:
        self.path = Path(path)
        self.district_code = district_code
        # With a signer, creating a campaign and recording outcomes go into the node's signed audit log:
        # a target list names households, so IG officers see who made one and when.
        self.signer = signer
        self.wards = ward_codes(district_code)
        self.db = state_at(self.path)  # the process's one connection to the node's state database
        with self._transaction() as conn:
            migrate(conn, "campaigns", MIGRATIONS, str(self.path))
            ensure_schema(conn)

    def _transaction(self, write: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        return self.db.transaction(write=write)

    # -- campaigns ----------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Names of the campaigns this district has."""
        with self._transaction(write=False) as conn:
            return [r[0] for r in conn.execute("SELECT name FROM campaigns ORDER BY name")]

    def campaigns(self) -> list[Campaign]:
        """Every campaign, oldest first."""
        with self._transaction(write=False) as conn:
            rows = conn.execute("SELECT name FROM campaigns ORDER BY created_at")
            return [c for r in rows if (c := _campaign(conn, r[0])) is not None]

    def get(self, name: str) -> Campaign:
        """One campaign; CampaignError naming the campaigns there are if it does not exist."""
        with self._transaction(write=False) as conn:
            return self._require(conn, name)

    def _require(self, conn: sqlite3.Connection, name: str) -> Campaign:
        campaign = _campaign(conn, name)
        if campaign is None:
            held = [r[0] for r in conn.execute("SELECT name FROM campaigns ORDER BY name")]
            listed = f"this district's campaigns: {', '.join(held)}" if held else "this district has none yet"
            raise CampaignError(f"no campaign {name!r}; {listed}")
        return campaign

    def create_campaign(
        self,
        name: str,
        target: str,
        month: str,
        derived: pd.DataFrame,
        *,
        created_by: str,
        limit: int | None = None,
        source_digest: str = "",
    ) -> tuple[Campaign, pd.DataFrame]:
        """Choose the target households from a month's derived frame and record the campaign.

        Returns the campaign and its target list (to write for the team with `write_target_list`)."""
        validate_name(name)
        spec = target_spec(target)
        if not created_by.strip():
            raise CampaignError("created_by must name the officer creating the campaign")
        selected = select_targets(derived, spec, limit)
        if selected.empty:
            raise CampaignError(f"target {target}: no household in the {month} snapshot qualifies; nothing was created")
        gains = expected_gains(selected, spec)
        rows = [
            (name, hid, rank, ward, None if np.isnan(gain) else float(gain))
            for rank, (hid, ward, gain) in enumerate(
                zip(selected["household_id"].astype(str), selected["ward_code"].astype(str), gains, strict=True),
                start=1,
            )
        ]
        with self._transaction() as conn:
            existing = _campaign(conn, name)
            if existing is not None:
                raise CampaignError(
                    f"campaign {name!r} already exists (created {existing.created_at[:10]} by "
                    f"{existing.created_by}, {existing.households} households); choose another name"
                )
            conn.execute(
                "INSERT INTO campaigns (name, target, month, created_at, created_by, source_digest) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, target, month, utc_now(), created_by.strip(), source_digest),
            )
            conn.executemany(
                "INSERT INTO campaign_targets (campaign, household_id, rank, ward_code, expected_gain) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self._audit(
                conn,
                created_by.strip(),
                "campaign_create",
                name,
                f"target {target}, {month} snapshot, {len(rows)} households listed",
            )
            campaign = _campaign(conn, name)
        assert campaign is not None
        return campaign, target_list(selected, spec, self.district_code)

    # -- outcomes -----------------------------------------------------------------------------------------

    def record_outcome(
        self,
        name: str,
        household_id: str,
        *,
        recorded_by: str,
        contacted: bool | None = None,
        claimed: bool | None = None,
        gained_annual: float | None = None,
        known_households: Collection[str] | None = None,
    ) -> Outcome:
        """Record one household's outcome (unset fields keep their last value); returns the new state."""
        update = OutcomeUpdate(household_id.strip(), contacted, claimed, gained_annual)
        if gained_annual is not None:
            try:
                parse_gain(gained_annual)
            except ValueError as exc:
                raise CampaignError(f"--gained: {exc}") from None
        try:
            states = self._record(name, [(0, update)], recorded_by, known_households)
        except _Problems as exc:
            p = exc.problems[0]
            raise CampaignError(f"{p.field}: {p.reason}") from None
        return states[update.household_id]

    def import_outcomes_csv(
        self,
        name: str,
        path: Path,
        *,
        recorded_by: str,
        known_households: Collection[str] | None = None,
    ) -> int:
        """Record every outcome in a CSV, or none of them; returns the number of rows recorded."""
        updates, problems = parse_outcomes_csv(path)
        try:
            # Rows that parsed are checked against the campaign even when others did not, so one pass over
            # the file shows every problem.
            self._record(name, updates, recorded_by, known_households, problems)
        except _Problems as exc:
            raise OutcomeFileError(Path(path), exc.problems) from None
        return len(updates)

    def _record(
        self,
        name: str,
        updates: Sequence[tuple[int, OutcomeUpdate]],
        recorded_by: str,
        known: Collection[str] | None,
        found: Sequence[RowProblem] = (),
    ) -> dict[str, Outcome]:
        if not recorded_by.strip():
            raise CampaignError("recorded_by must name the officer recording the outcome")
        now = utc_now()
        with self._transaction() as conn:
            campaign = self._require(conn, name)
            targeted = {
                r[0] for r in conn.execute("SELECT household_id FROM campaign_targets WHERE campaign = ?", (name,))
            }
            states = {hid: outcome for hid, outcome in _latest(conn, name)}
            problems = list(found)
            rows = []
            for n, u in updates:
                if not u.household_id:
                    problems.append(RowProblem(n, "household_id", "value is empty but required"))
                    continue
                if u.household_id not in targeted:
                    if known is not None and u.household_id not in known:
                        why = f"household {u.household_id!r} is not in this district's {campaign.month} records"
                    else:
                        why = f"household {u.household_id!r} is not one of campaign {name!r}'s targets"
                    problems.append(RowProblem(n, "household_id", why))
                    continue
                state = apply_update(states.get(u.household_id, Outcome()), u)
                problem = outcome_problem(state)
                if problem is not None:
                    problems.append(RowProblem(n, "gained_annual", problem))
                    continue
                states[u.household_id] = state
                rows.append(
                    (
                        name,
                        u.household_id,
                        int(state.contacted),
                        int(state.claimed),
                        state.gained_annual,
                        now,
                        recorded_by.strip(),
                    )
                )
            if problems:
                # Raised inside the transaction: nothing is written.
                raise _Problems(sorted(problems, key=lambda p: p.row_number))
            conn.executemany(
                "INSERT INTO campaign_outcomes (campaign, household_id, contacted, claimed, gained_annual, "
                "recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._audit(conn, recorded_by.strip(), "campaign_outcomes", name, f"{len(rows)} outcomes recorded")
        return states

    def _audit(self, conn: sqlite3.Connection, actor: str, action: str, name: str, detail: str) -> None:
        if self.signer is not None:
            append_entry(
                conn, self.signer, actor=actor, role="district-staff", action=action, purpose=name, detail=detail
            )

    # -- what queries read --------------------------------------------------------------------------------

    def state(self, name: str) -> CampaignState:
        """One row per targeted household (no identifiers) and the revision of its outcomes."""
        with self._transaction(write=False) as conn:
            campaign = self._require(conn, name)
            rows = conn.execute(
                "SELECT t.household_id, t.ward_code, t.expected_gain, o.contacted, o.claimed, o.gained_annual "
                "FROM campaign_targets t LEFT JOIN campaign_outcomes o ON o.id = ("
                "  SELECT MAX(id) FROM campaign_outcomes "
                "  WHERE campaign = t.campaign AND household_id = t.household_id) "
                "WHERE t.campaign = ? ORDER BY t.rank",
                (name,),
            ).fetchall()
            # Read in the same transaction as the rows, so the revision is exactly the state's.
            (revision,) = conn.execute("SELECT COUNT(*) FROM campaign_outcomes WHERE campaign = ?", (name,)).fetchone()
        frame = pd.DataFrame(
            {
                "ward_code": pd.Categorical([r[1] for r in rows], categories=self.wards),
                "contacted": np.array([bool(r[3]) for r in rows], dtype=bool),
                "claimed": np.array([bool(r[4]) for r in rows], dtype=bool),
                "gained_annual": np.array([r[5] or 0.0 for r in rows], dtype="float64"),
                "expected_gain": np.array([np.nan if r[2] is None else r[2] for r in rows], dtype="float64"),
            }
        )
        return CampaignState(campaign, frame, int(revision))

    def campaign_frame(self, name: str) -> tuple[str, pd.DataFrame]:
        """(month, frame) with one row per targeted household: ward_code, contacted, claimed, gains."""
        s = self.state(name)
        return s.campaign.month, s.frame

    def progress(self) -> list[Progress]:
        """Exact tallies of every campaign, for the district's own team."""
        out = []
        for campaign in self.campaigns():
            frame = self.state(campaign.name).frame
            out.append(
                Progress(
                    campaign,
                    int(frame["contacted"].sum()),
                    int(frame["claimed"].sum()),
                    float(frame["gained_annual"].sum()),
                )
            )
        return out


class _Problems(Exception):
    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def _campaign(conn: sqlite3.Connection, name: str) -> Campaign | None:
    row = conn.execute(
        "SELECT c.name, c.target, c.month, c.created_at, c.created_by, c.source_digest, "
        "(SELECT COUNT(*) FROM campaign_targets t WHERE t.campaign = c.name) FROM campaigns c WHERE c.name = ?",
        (name,),
    ).fetchone()
    if row is None:
        return None
    return Campaign(
        name=row[0],
        target=row[1],
        month=row[2],
        created_at=row[3],
        created_by=row[4],
        households=row[6],
        source_digest=row[5],
    )


def _latest(conn: sqlite3.Connection, name: str) -> Iterator[tuple[str, Outcome]]:
    rows = conn.execute(
        "SELECT o.household_id, o.contacted, o.claimed, o.gained_annual FROM campaign_outcomes o "
        "WHERE o.campaign = ? AND o.id = (SELECT MAX(id) FROM campaign_outcomes "
        "  WHERE campaign = o.campaign AND household_id = o.household_id)",
        (name,),
    )
    for hid, contacted, claimed, gained in rows:
        yield hid, Outcome(bool(contacted), bool(claimed), float(gained))
