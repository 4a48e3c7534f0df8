"""The periodic report of the profile: counts by agency and mailbox kind, quota use, locked and revoked
mailboxes, issued passwords not changed (in time), provisioning times against the deadline.

Quota use is Dovecot's, not the directory's: pass the output of `doveadm -f tab quota get -A` taken on
the mail host (govmail does not log in to hosts).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import jinja2

from govmail.accounts.directory import Account
from govmail.accounts.sweep import issued_password_overdue
from govmail.build.render import TEMPLATES_DIR
from govmail.model import workdays
from govmail.model.settings import Settings
from govmail.model.units import parse_duration

NO_AGENCY = "(agency mailboxes)"


@dataclass
class Row:
    agency: str
    kind: str
    mailboxes: int = 0
    active: int = 0
    locked: int = 0
    revoked: int = 0
    issued_password_kept: int = 0
    issued_password_overdue: int = 0
    quota_allocated_bytes: int = 0
    quota_used_bytes: int = 0
    provisioned: int = 0
    provisioned_on_time: int = 0
    provisioned_late: int = 0
    provisioning_working_days_max: int = 0


def period_start(s: Settings, moment: dt.datetime) -> dt.datetime:
    """One reporting period back: the shortest in the profile's schedule, else a year."""
    periods = [r.every for r in s.profile.reports.schedule.value or []]
    every = min(periods, key=lambda d: d.after(moment) - moment) if periods else parse_duration("1 year")
    return moment - (every.after(moment) - moment)


def read_usage(path: Path) -> dict[str, int]:
    """User -> bytes stored, from `doveadm -f tab quota get -A` (STORAGE values are in KiB)."""
    usage = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if (row.get("Type") or row.get("type")) == "STORAGE":
                usage[(row.get("Username") or row.get("username")).lower()] = int(row.get("Value") or
                                                                                   row.get("value")) * 1024
    return usage


def _provisioning(s: Settings, a: Account, row: Row) -> None:
    received, made = a.received_at.date(), a.created.date()
    row.provisioned += 1
    row.provisioning_working_days_max = max(row.provisioning_working_days_max,
                                            workdays.working_days_between(received, made))
    due = s.provisioning_due(received)
    if due is not None:
        if made <= due:
            row.provisioned_on_time += 1
        else:
            row.provisioned_late += 1


def build(s: Settings, mailboxes: list[Account], moment: dt.datetime, since: dt.datetime,
          usage: dict[str, int] | None = None) -> list[Row]:
    agencies = {a.dn.lower(): a.name for a in mailboxes if a.kind == "agency"}
    rows: dict[tuple[str, str], Row] = {}
    for a in mailboxes:
        if a.status == "system":        # the operators' own mailbox (postmaster@, abuse@) is not reported
            continue
        agency = agencies.get((a.agency_dn or "").lower(), NO_AGENCY if a.kind == "agency" else "(none)")
        row = rows.setdefault((agency, a.kind), Row(agency, a.kind))
        row.mailboxes += 1
        setattr(row, a.status, getattr(row, a.status) + 1)
        row.issued_password_kept += a.must_change and a.status != "revoked"
        row.issued_password_overdue += issued_password_overdue(s, a, moment) and a.status != "revoked"
        row.quota_allocated_bytes += a.quota_bytes if a.status != "revoked" else 0
        row.quota_used_bytes += (usage or {}).get(a.mail.lower(), 0)
        if a.received_at and since <= a.created <= moment:
            _provisioning(s, a, row)
    return sorted(rows.values(), key=lambda r: (r.agency == NO_AGENCY, r.agency, r.kind))


def totals(rows: list[Row]) -> Row:
    total = Row("total", "all")
    for row in rows:
        for f in fields(Row)[2:]:
            value = getattr(row, f.name)
            current = getattr(total, f.name)
            setattr(total, f.name, max(current, value) if f.name.endswith("_max") else current + value)
    return total


def write_csv(rows: list[Row], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(Row)])
        writer.writeheader()
        for row in [*rows, totals(rows)]:
            writer.writerow(asdict(row))


STATUSES = ("active", "locked", "revoked")
LABEL_WIDTH, BAR_WIDTH, ROW_HEIGHT = 300, 600, 24     # the chart's pixels: agency names, the longest bar, a row


@dataclass(frozen=True)
class Bar:
    """One agency's row in the chart: a segment (status, x, width, count) per status, then the total."""
    agency: str
    text_y: int
    rect_y: int
    segments: tuple[tuple[str, float, float, int], ...]
    total: int
    total_x: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    legend_x: int
    legend_y: int
    bars: tuple[Bar, ...]


def chart(by_agency: dict[str, dict[str, int]]) -> Chart:
    """Stacked bars of mailboxes by status per agency, scaled so that the biggest agency's bar is BAR_WIDTH."""
    biggest = max([1, *(sum(counts.values()) for counts in by_agency.values())])
    bars = []
    for index, (agency, counts) in enumerate(by_agency.items()):
        x, segments = LABEL_WIDTH, []
        for status in STATUSES:
            width = round(BAR_WIDTH * counts[status] / biggest, 1)
            segments.append((status, x, width, counts[status]))
            x += width
        top = ROW_HEIGHT * index
        bars.append(Bar(agency, top + 15, top + 3, tuple(segments), sum(counts.values()), x + 4))
    rows = ROW_HEIGHT * len(bars)
    return Chart(LABEL_WIDTH + BAR_WIDTH + 20, rows + 30, LABEL_WIDTH, rows + 12, tuple(bars))


def write_html(s: Settings, rows: list[Row], since: dt.datetime, moment: dt.datetime, path: Path) -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    by_agency: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    for row in rows:
        for status in STATUSES:
            by_agency[row.agency][status] += getattr(row, status)
    html = env.get_template("report/report.html.j2").render(
        s=s, rows=rows, total=totals(rows), since=since, moment=moment, chart=chart(dict(by_agency)),
        schedule=s.profile.reports.schedule)
    path.write_text(html, encoding="utf-8")
