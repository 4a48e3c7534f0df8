"""Mail addresses by a province's naming rules, with its clash order.

Names are written family, middle…, given. Accents go, đ becomes d, case folds. Each scheme named in a
profile (`naming:`) is one function here; a profile lists the schemes in the order its regulation
tries them, and `operator` marks where the regulation leaves the choice to the operator (exit 3).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from govmail.errors import BadInput, OperatorChoice
from govmail.model.profile import Naming

# Leading words that say what kind of body a name is, not which one (transliterated).
COUNCIL = ("uy ban nhan dan", "ubnd")
LEVELS = ("thanh pho", "thi xa", "thi tran", "huyen", "quan", "phuong", "xa")
COMMUNE_LEVELS = ("xa", "phuong", "thi tran")
AGENCY_TYPES = ("so", "ban")
UNIT_TYPES = ("phong", "ban")
SKIPPED_WORDS = {"va"}   # "và" is not abbreviated (Bắc Giang Điều 5.1.a, every seed example)

_PERSON_CHARS = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")


def strip_accents(text: str) -> str:
    """'Tệp đính kèm' -> 'Tep dinh kem' (đ is a letter of its own, not d with a mark)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def nfc(text: str) -> str:
    """A name as one form of Unicode: 'ễ' typed as e + two combining marks (NFD, as some keyboards and files
    give it) becomes the one character."""
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Lower-case ASCII without accents: 'Nguyễn Đức' -> 'nguyen duc'."""
    return strip_accents(text).lower()


def _check_ascii(original: str, folded: str) -> None:
    bad = sorted({c for c, f in zip(original, folded) if not f.isascii()} |
                 {c for c in folded if not c.isascii()})
    if bad:
        raise BadInput(f"cannot transliterate {''.join(bad)!r} in {original!r}: only Vietnamese/Latin letters")


def person_words(name: str) -> list[str]:
    clean = " ".join(nfc(name).split())
    if not clean:
        raise BadInput("the name is empty")
    if any(c.isdigit() for c in clean):
        raise BadInput(f"name {name!r} contains digits: give the person's name as written, family name first")
    if not _PERSON_CHARS.match(clean):
        raise BadInput(f"name {name!r} contains characters other than letters, spaces, hyphens and apostrophes")
    folded = fold(clean)
    _check_ascii(clean, folded)
    return [w for w in re.split(r"[ '\-]+", folded) if w]


def body_parts(name: str) -> list[list[str]]:
    """An agency or unit name as comma-separated parts of words: 'UBND xã A, huyện B' -> 2 parts."""
    if not name or not name.strip():
        raise BadInput("the agency or unit name is empty")
    name = nfc(name)
    folded = fold(name)
    _check_ascii(name, folded)
    if re.search(r"[^a-z0-9 ,\-&.()]", folded):
        raise BadInput(f"name {name!r} contains characters a name does not use")
    parts = [re.findall(r"[a-z0-9]+", p) for p in folded.split(",")]
    return [p for p in parts if p]


def _strip_prefix(words: list[str], prefixes: Iterable[str]) -> tuple[str | None, list[str]]:
    joined = " ".join(words)
    for prefix in sorted(prefixes, key=len, reverse=True):
        if joined == prefix or joined.startswith(prefix + " "):
            return prefix, words[len(prefix.split()):]
    return None, words


def initials(words: list[str]) -> str:
    return "".join(w[0] for w in words if w not in SKIPPED_WORDS)


def whole(words: list[str]) -> str:
    return "".join(w for w in words if w not in SKIPPED_WORDS)


# ---- agencies -------------------------------------------------------------------------------------

def _council(parts: list[list[str]]) -> tuple[str, list[str], list[str] | None] | None:
    """For a people's committee: (level, place words, district words or None)."""
    council, rest = _strip_prefix(parts[0], COUNCIL)
    if council is None:
        return None
    level, place = _strip_prefix(rest, LEVELS)
    district = _strip_prefix(parts[1], LEVELS)[1] if len(parts) > 1 else None
    return level or "", place, district


def agency_initials(parts: list[list[str]]) -> str:
    """stttt (Sở Thông tin và Truyền thông), ubndkb (UBND huyện Kim Bảng),
    ubndtienson.dt (UBND xã Tiên Sơn, thị xã Duy Tiên)."""
    council = _council(parts)
    if council is None:
        return initials(parts[0])
    level, place, district = council
    if level in COMMUNE_LEVELS and district:
        return f"ubnd{whole(place)}.{initials(district)}"
    return f"ubnd{initials(place)}"


def _so(parts: list[list[str]], shorten: Callable[[list[str]], str]) -> str:
    kind, rest = _strip_prefix(parts[0], ("so",))
    return "so" + shorten(rest) if kind else agency_initials(parts)


AGENCY_SCHEMES: dict[str, Callable[[list[list[str]]], str]] = {
    "initials": agency_initials,
    "so_initials": lambda parts: _so(parts, initials),      # Cần Thơ: sonv, sokhdt
    "so_whole": lambda parts: _so(parts, whole),            # Cần Thơ on a clash: songoaivu
}


def unit_agency_part(parts: list[list[str]], agency_scheme: str) -> str:
    """How a unit address names its agency: a district's initials (ptp.bl), else the agency's address."""
    council = _council(parts)
    if council and council[0] not in COMMUNE_LEVELS:
        return initials(council[1])
    return AGENCY_SCHEMES[agency_scheme](parts)


def agency2(agency: str) -> str:
    """Hà Nam Điều 5.2.b: first letters of the agency's first two words, type words left out.
    For a commune the seed's example (UBND xã Thanh Hà, huyện Thanh Liêm -> tl) takes the district."""
    parts = body_parts(agency)
    words = parts[-1]
    for prefixes in (COUNCIL, AGENCY_TYPES, LEVELS):
        words = _strip_prefix(words, prefixes)[1]
    words = [w for w in words if w not in SKIPPED_WORDS]
    if len(words) < 2:
        raise BadInput(f"agency {agency!r} has fewer than two words after its type: give --agency in full")
    return initials(words[:2])


# ---- persons --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    family: list[str]
    middles: list[str]
    given: str

    @classmethod
    def parse(cls, name: str) -> "Person":
        words = person_words(name)
        if len(words) == 1:
            return cls([], [], words[0])
        return cls(words[:1], words[1:-1], words[-1])

    @property
    def full(self) -> str:
        return "".join(self.family + self.middles) + self.given


PERSON_SCHEMES: dict[str, Callable[[Person], str]] = {
    "initials_given": lambda p: initials(p.family + p.middles) + p.given,   # nvminh
    "full": lambda p: p.full,                                                 # nguyenthithanhha
    "given_initials": lambda p: p.given + initials(p.family + p.middles),   # dungnv
}


@dataclass(frozen=True)
class Request:
    """What the operator knows about the mailbox being named."""

    kind: str
    name: str
    agency: str | None = None
    abbrev: str | None = None          # the operator's own abbreviation for an agency or unit
    agency_abbrev: str | None = None   # the parent agency's address part, if the operator fixes it
    birth_date: dt.date | None = None


@dataclass(frozen=True)
class Suggestion:
    local_part: str
    domain: str
    rule: str                 # scheme that produced it
    source: str               # article
    tried: list[str]

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain}"


def _person_clash(step: str, person: Person, plain: str, req: Request) -> Iterator[str]:
    if step == "family_initial_middle_given":
        yield initials(person.family) + "".join(person.middles) + person.given   # nvanminh
    elif step == "full":
        yield person.full
    elif step == "full_dot_agency2":
        if not req.agency:
            raise BadInput("this province's clash rule adds the agency: give --agency \"<agency name>\"")
        yield f"{person.full}.{agency2(req.agency)}"
    elif step == "full_birth_date" and req.birth_date:
        yield person.full + req.birth_date.strftime("%d%m%Y")
    elif step == "numbered":
        yield from (f"{plain}{n}" for n in itertools.count(1))


def _first_free(candidates: Iterable[str], taken: "Taken", tried: list[str]) -> str | None:
    for candidate in candidates:
        if candidate in tried:
            continue
        tried.append(candidate)
        if candidate not in taken:
            return candidate
    return None


def _operator(message: str, tried: list[str]) -> OperatorChoice:
    listing = ", ".join(tried) if tried else "none"
    return OperatorChoice(f"{message}; tried: {listing}. Choose an address and pass it explicitly.", tried)


def _suggest_person(naming: Naming, req: Request, taken: set[str], same_agency: set[str]) -> tuple[str, str, str, list]:
    tried: list[str] = []
    scheme = naming.person.value
    if scheme == "operator":
        raise _operator(f"the personal address format is not available ({naming.person.source})", tried)
    person = Person.parse(req.name)
    plain = PERSON_SCHEMES[scheme](person)
    everyone = Taken(taken, same_agency)
    if _first_free([plain], everyone, tried):
        return plain, scheme, naming.person.source, tried
    clashes = naming.person_clashes
    if plain in same_agency and naming.person_same_agency_clashes.value:
        clashes = naming.person_same_agency_clashes
    for step in clashes.value:
        if step == "operator":
            break
        found = _first_free(_person_clash(step, person, plain, req), everyone, tried)
        if found:
            return found, step, clashes.source, tried
    raise _operator(f"{clashes.source} leaves this clash to the operator", tried)


def _body_candidate(step: str, req: Request, naming: Naming) -> str | None:
    if req.kind == "agency":
        return AGENCY_SCHEMES[step](body_parts(req.name))
    agency_scheme = next((s for s in naming.agency.value if s != "operator"), "initials")
    unit = body_parts(req.name)
    if step == "initials_without_type":
        return initials(_strip_prefix(unit[0], UNIT_TYPES)[1])
    if req.agency_abbrev:
        agency_part = fold(req.agency_abbrev)
    elif req.agency:
        agency_part = unit_agency_part(body_parts(req.agency), agency_scheme)
    else:
        raise BadInput("a unit address names its agency: give --agency \"<agency name>\" or --agency-abbrev")
    if step == "whole_dot_agency":
        return f"{whole(unit[0])}.{agency_part}"
    if step == "initials_dot_agency":
        return f"{initials(unit[0])}.{agency_part}"
    return f"{whole(_strip_prefix(unit[0], UNIT_TYPES)[1])}-{agency_part}"   # whole_dash_agency


def _suggest_body(naming: Naming, req: Request, taken: "Taken") -> tuple[str, str, str, list]:
    cited = naming.agency if req.kind == "agency" else naming.unit
    tried: list[str] = []
    if req.abbrev:
        own = fold(req.abbrev)
        if _first_free([own], taken, tried):
            return own, "operator", "operator's abbreviation", tried
    for step in cited.value:
        if step == "operator":
            break
        found = _first_free([_body_candidate(step, req, naming)], taken, tried)
        if found:
            return found, step, cited.source, tried
    raise _operator(f"{cited.source} leaves this to the operator (a longer or different abbreviation)", tried)


LOCAL_PART = re.compile(r"^[a-z0-9]+(?:[.\-][a-z0-9]+)*$")
LOCAL_PART_MAX = 64       # octets (RFC 5321 §4.5.3.1.1)


def check_local_part(local: str) -> str:
    if not LOCAL_PART.match(local):
        raise BadInput(f"'{local}' is not a usable address: letters, digits, dots and hyphens only")
    if len(local) > LOCAL_PART_MAX:
        raise BadInput(f"'{local}' is {len(local)} characters long: an address's local part holds at most "
                       f"{LOCAL_PART_MAX} (RFC 5321); give a shorter abbreviation or choose the address")
    return local


def local_part(address: str) -> str:
    return address.strip().lower().split("@", 1)[0]


def suggest(naming: Naming, domain: str, req: Request, taken: Iterable[str] = (),
            taken_same_agency: Iterable[str] = ()) -> Suggestion:
    """`taken`: addresses in use elsewhere; `taken_same_agency`: in use in the person's own agency."""
    return suggest_local(naming, domain, req, {local_part(a) for a in taken},
                         {local_part(a) for a in taken_same_agency})


class Taken:
    """Membership in any of several sets of local parts, without copying them (a directory holds many)."""

    def __init__(self, *pools: set[str]):
        self.pools = pools

    def __contains__(self, local: str) -> bool:
        return any(local in pool for pool in self.pools)


def suggest_local(naming: Naming, domain: str, req: Request, taken_set: set[str], same_set: set[str]) -> Suggestion:
    """As `suggest`, with sets of lower-case local parts already made."""
    if req.kind == "person":
        local, rule, source, tried = _suggest_person(naming, req, taken_set, same_set)
    elif req.kind in ("agency", "unit"):
        local, rule, source, tried = _suggest_body(naming, req, Taken(taken_set, same_set))
    else:
        raise BadInput(f"unknown mailbox kind '{req.kind}' (person, agency or unit)")
    return Suggestion(check_local_part(local), domain, rule, source, tried)
