"""Bulk requests from a CSV file: every row checked first, then written; nothing written if a row is bad
(unless the operator asks to skip bad rows).

The request form's columns are COLUMNS (UTF-8, header row first, any order; only kind and name are required).

Running the same file again finishes what a run that died left undone and adds nothing twice: every row
is recorded on its entry under its request number, or, for a row without one, under a number made from the
row itself (`csv-` and a digest of its values, counting identical rows), and a row whose number the
directory already holds is reported as done, not added again.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import unicodedata
from collections import Counter
import os
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import ldap3

from govmail.accounts.lifecycle import AddRequest, AlreadyDone, Issued, Lifecycle, Planned
from govmail.errors import BadInput, GovmailError

COLUMNS = {
    "request": "the request's number (recorded; a number already carried out is refused)",
    "kind": "person, agency or unit",
    "name": "full name as written, family name first; or the agency / unit name",
    "agency": "for a person or unit: the agency's address or full name (it may be added earlier in the file)",
    "birth_date": "YYYY-MM-DD (naming rules that use it; kept out of issued passwords)",
    "received": "YYYY-MM-DD, when the request arrived (reports measure the provisioning deadline from it)",
    "address": "the operator's choice where the regulation leaves it to them",
    "abbrev": "the operator's abbreviation for an agency or unit",
    "agency_abbrev": "the parent agency's address part in a unit's address",
}
REQUIRED = ["kind", "name"]


def columns_help() -> str:
    """The columns as `--help` shows them (click keeps the lines of a paragraph that starts with \\b)."""
    return "\b\nCSV columns (UTF-8, header row first, any order; kind and name are required):\n" + "\n".join(
        f"  {name:<14}{text}" for name, text in COLUMNS.items())


@dataclass
class BadRow:
    line: int
    message: str


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            unknown = [h for h in header if h not in COLUMNS]
            missing = [c for c in REQUIRED if c not in header]
            if unknown or missing:
                raise BadInput(f"{path}: header: " + "; ".join(
                    ([f"unknown column(s) {', '.join(unknown)}"] if unknown else []) +
                    ([f"missing column(s) {', '.join(missing)}"] if missing else [])) +
                    f" (columns: {', '.join(COLUMNS)})")
            reader.fieldnames = header
            return [(reader.line_num, row) for row in reader if any((v or "").strip() for v in row.values())]
    except UnicodeDecodeError as err:
        raise BadInput(f"{path}: not UTF-8 (byte {err.start}): save the file as UTF-8 CSV") from None
    except csv.Error as err:
        raise BadInput(f"{path}: not a readable CSV file: {err}") from None


def _date(row: dict, column: str) -> dt.date | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{column} '{text}' is not a date (YYYY-MM-DD)") from None


def row_requests(rows: list[tuple[int, dict]]) -> list[str | None]:
    """Each row's request number: its own, or one made from its values (the n-th of identical rows gets
    its own), the same in every run of the same rows whatever their order."""
    seen: Counter[str] = Counter()
    numbers = []
    for _, row in rows:
        given = (row.get("request") or "").strip()
        if given:
            numbers.append(given)
            continue
        values = "\0".join(unicodedata.normalize("NFC", " ".join((row.get(c) or "").split())) for c in COLUMNS)
        digest = hashlib.sha256(values.encode()).hexdigest()[:16]
        seen[digest] += 1
        numbers.append(f"csv-{digest}" + (f"-{seen[digest]}" if seen[digest] > 1 else ""))
    return numbers


def to_request(row: dict) -> AddRequest:
    if None in row:
        raise BadInput(f"more fields than the header has columns: {row[None]}")
    value = {k: (v or "").strip() or None for k, v in row.items()}
    if not value.get("kind"):
        raise BadInput("kind is empty (person, agency or unit)")
    if not value.get("name"):
        raise BadInput("name is empty")
    return AddRequest(kind=value["kind"], name=value["name"], agency=value.get("agency"),
                      birth_date=_date(row, "birth_date"), abbrev=value.get("abbrev"),
                      agency_abbrev=value.get("agency_abbrev"), address=value.get("address"),
                      request=value.get("request"), received=_date(row, "received"))


def plan(lc: Lifecycle, rows: list[tuple[int, dict]]) -> tuple[list[tuple[int, Planned]], list[BadRow],
                                                             list[tuple[int, str]]]:
    """Work out every row against the directory and the rows before it; write nothing. Returns the rows to
    add, the bad rows, and the rows an earlier run added already (line, address)."""
    planned, bad, done = [], [], []
    for (line, row), number in zip(rows, row_requests(rows)):
        try:
            request = replace(to_request(row), request=number)
            planned.append((line, lc.plan_add(request)))
        except AlreadyDone as err:
            if err.holder.name != " ".join(unicodedata.normalize("NFC", request.name).split()):
                bad.append(BadRow(line, f"{err} (for {err.holder.name}, not {request.name})"))
            else:
                done.append((line, err.holder.mail))
        except GovmailError as err:
            bad.append(BadRow(line, str(err)))
    return planned, bad, done


def write_all(conn: ldap3.Connection, planned: list[tuple[int, Planned]], done: Callable[[int, Issued], None],
              window: int = 64) -> list[BadRow]:
    """Add every planned entry over a pipelined connection, `window` requests in flight: the client
    encodes the next requests while slapd writes the previous ones. Returns the rows slapd refused."""
    pending: deque[tuple[int, Planned, int]] = deque()
    refused: list[BadRow] = []

    def settle() -> None:
        line, plan, message_id = pending.popleft()
        _, result = conn.get_response(message_id, timeout=60)
        if result["result"] == 0:
            done(line, Issued(plan.address, plan.password, plan.dn, plan.attributes["cn"]))
        else:
            refused.append(BadRow(line, f"{plan.address}: the directory refused ({result['description']}: "
                                        f"{result['message']})"))

    for line, plan in planned:
        pending.append((line, plan, conn.add(plan.dn, attributes=plan.attributes)))
        if len(pending) >= window:
            settle()
    while pending:
        settle()
    return refused


@contextmanager
def credentials_file(path: Path) -> Iterator[Callable[[int, Issued], None]]:
    """Issued passwords go to a new file only its owner can read, one row as each account is made."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BadInput(f"{path} exists: credentials are written once, to a new file") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "address", "name", "password"])

        def write(line: int, issued: Issued) -> None:
            writer.writerow([line, issued.address, issued.name, issued.password])
            fh.flush()
        yield write
