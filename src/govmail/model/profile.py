"""Province profiles: the regulation's values as written, each with the article it comes from.

A profile is data reviewed by people; this module only checks its shape and units. What the services
need (bytes, seconds, deadlines) is derived in govmail.model.settings.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib.resources
import re
import warnings
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, ValidationError, model_validator

from govmail.errors import BadInput
from govmail.model.units import Duration, Size, parse_duration, parse_size

# Shipped inside the package, like the templates (a checkout links profiles/ here).
PROFILES_DIR = Path(str(importlib.resources.files("govmail") / "profiles"))

T = TypeVar("T")


def _parse(parser):
    def validate(value: Any):
        if isinstance(value, (Size, Duration)):
            return value
        return parser(value)
    return validate


SizeValue = Annotated[Size, PlainValidator(_parse(parse_size)), PlainSerializer(lambda s: s.text)]
DurationValue = Annotated[Duration, PlainValidator(_parse(parse_duration)), PlainSerializer(str)]

CharClass = Literal["upper", "lower", "digit", "special"]
Protocol = Literal["webmail", "imap", "pop3", "submission"]
PersonalData = Literal["name", "birth_date", "phone"]
Activity = Literal["login", "send_receive", "access"]
Forwarding = Literal["government_only", "province_only"]
PersonScheme = Literal["initials_given", "full", "given_initials", "operator"]
ClashScheme = Literal["family_initial_middle_given", "full", "full_dot_agency2", "full_birth_date",
                      "numbered", "operator"]
AgencyScheme = Literal["initials", "so_initials", "so_whole", "operator"]
UnitScheme = Literal["whole_dot_agency", "initials_dot_agency", "initials_without_type",
                     "whole_dash_agency", "operator"]
MailboxKind = Literal["agency", "unit", "personal"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cited(Strict, Generic[T]):
    """A regulation value with its source; `value: null` when the text sets nothing."""

    value: T | None
    source: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _value_has_source(self):
        if self.value is not None and not self.source:
            raise ValueError("a value needs `source:` (decision and article)")
        return self


class Decision(Strict):
    number: str
    signed: dt.date
    in_force: dt.date | None
    replaces: str | None
    superseded_by: str | None
    seed: str
    text_notes: str


class Mail(Strict):
    domain: Cited[str]
    webmail_host: Cited[str]
    webmail_aliases: Cited[list[str]]
    client_protocols: Cited[list[Protocol]]
    text_encoding: Cited[str]
    sso: Cited[bool]


class Mailbox(Strict):
    label: str
    quota: Cited[SizeValue]


class Attachments(Strict):
    max_size: Cited[SizeValue]
    blocked_extensions: Cited[list[str]]
    encrypted_archives: Cited[Literal["restricted"]]


class PerClass(Strict, Generic[T]):
    users: Cited[T]
    administrators: Cited[T]


class Password(Strict):
    min_length: PerClass[int]
    classes: Cited[list[CharClass]]
    specials: Cited[str]
    forbid_personal_data: Cited[list[PersonalData]]
    max_age: PerClass[DurationValue]
    change_at_first_login: Cited[bool]
    first_change_deadline: Cited[DurationValue]
    lock_if_unchanged_for: Cited[DurationValue]
    issued_min_length: Cited[int]
    issued_unique: Cited[bool]
    change_after_restore: Cited[bool]
    lockout_failures: Cited[int]


class Inactivity(Strict):
    activity: Cited[Activity]
    lock_after: Cited[DurationValue]
    notify_agency: Cited[bool]
    revoke_after: Cited[DurationValue]
    revoke_counted_from: Cited[Literal["last_activity", "lock_notice"]]
    locked_still_receives: Cited[bool]
    other_lock_reasons: Cited[list[Literal["compromised", "forbidden_use"]]]


class ForwardingRule(Strict):
    automatic: Cited[Forwarding]


class Spam(Strict):
    report_mailbox: Cited[str]


class Operations(Strict):
    provisioning_deadline: Cited[DurationValue]
    restore_deadline: Cited[DurationValue]
    maintenance_notice: Cited[DurationValue]
    incident_report: Cited[DurationValue]
    availability: Cited[str]
    admin_privacy: Cited[bool]
    support: Cited[str]            # who helps users, as the regulation names it (webmail's login page)


class Report(Strict):
    every: DurationValue
    due: Annotated[str, PlainValidator(lambda v: _month_day(v))]
    to: str


def _month_day(value: Any) -> str:
    try:
        dt.datetime.strptime(f"2024-{value}", "%Y-%m-%d")
    except (TypeError, ValueError):
        raise ValueError(f"due date '{value}' must be MM-DD") from None
    return value


class Reports(Strict):
    schedule: Cited[list[Report]]
    default_password_list: Cited[bool]


class Naming(Strict):
    display_name: Cited[Literal["full_name", "full_name_and_agency"]]
    person: Cited[PersonScheme]
    person_clashes: Cited[list[ClashScheme]]
    person_same_agency_clashes: Cited[list[ClashScheme]]
    agency: Cited[list[AgencyScheme]]
    unit: Cited[list[UnitScheme]]


class Profile(Strict):
    province: str
    name: str
    decision: Decision
    mail: Mail
    mailboxes: dict[MailboxKind, Mailbox]
    attachments: Attachments
    password: Password
    inactivity: Inactivity
    forwarding: ForwardingRule
    spam: Spam
    operations: Operations
    reports: Reports
    naming: Naming

    @property
    def superseded(self) -> bool:
        return self.decision.superseded_by is not None


def known_provinces(directory: Path = PROFILES_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yml"))


PROVINCE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def profile_path(province: str, directory: Path = PROFILES_DIR) -> Path:
    if not PROVINCE_NAME.match(province):
        raise BadInput(f"'{province}' is not a province name: lower-case letters, digits and hyphens "
                       f"(known: {', '.join(known_provinces(directory))})")
    path = directory / f"{province}.yml"
    if not path.is_file():
        known = known_provinces(directory)
        close = difflib.get_close_matches(province, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise BadInput(f"unknown province '{province}' (known: {', '.join(known)}){hint}")
    return path


def describe_errors(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if not str(p).startswith(("function-", "json-or-python")))
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{where}: {key or '(top)'}: {msg}")
    return "\n".join(lines)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML: {exc}") from None


def load_profile(province: str, directory: Path = PROFILES_DIR) -> Profile:
    path = profile_path(province, directory)
    try:
        profile = Profile.model_validate(read_yaml(path))
    except ValidationError as err:
        raise BadInput(describe_errors(err, str(path))) from None
    if profile.province != path.stem:
        raise BadInput(f"{path}: province: '{profile.province}' does not match the file name '{path.stem}'")
    if profile.superseded:
        warnings.warn(f"profile '{province}' ({profile.decision.number}) is superseded: "
                      f"use '{profile.decision.superseded_by}'", SupersededProfile, stacklevel=2)
    return profile


class SupersededProfile(UserWarning):
    pass
